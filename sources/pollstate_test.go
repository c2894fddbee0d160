package sources_test

import (
	"maps"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// firstRun is when the first run of the Observe tests starts; run i starts
// i intervals after.
var firstRun = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// runAt returns when run i of the Observe tests starts.
func runAt(i int) time.Time { return firstRun.Add(time.Duration(i) * 30 * time.Second) }

// webPoller returns the http poller of the Observe tests.
func webPoller(failAfter, recoverAfter int) sources.Poller {
	return sources.Poller{
		ID: 7, Name: "web", Kind: sources.PollerHTTP, URL: "https://web.internal/healthz",
		Labels: alerts.Labels{"team": "web"}, Annotations: map[string]string{"summary": "web is down"},
		FailAfter: failAfter, RecoverAfter: recoverAfter,
	}
}

// promPoller returns the prometheus poller of the Observe tests.
func promPoller(failAfter, recoverAfter int) sources.Poller {
	return sources.Poller{
		ID: 8, Name: "node-down", Kind: sources.PollerPrometheus, URL: "http://prometheus:9090", Query: "up == 0",
		Labels: alerts.Labels{"severity": "page"}, FailAfter: failAfter, RecoverAfter: recoverAfter,
	}
}

// outcome is one run's outcome, for the Observe tests: 'F'ailure,
// 'S'uccess or 'E'rror.
func outcome(c byte) sources.CheckResult {
	switch c {
	case 'F':
		return sources.CheckResult{Outcome: sources.OutcomeFailure, Error: "status 503, want 200-299", StatusCode: 503}
	case 'S':
		return sources.CheckResult{Outcome: sources.OutcomeSuccess, StatusCode: 200}
	}
	return sources.CheckResult{Outcome: sources.OutcomeError, Error: "canceled"}
}

// observer runs Observe over a sequence of runs, keeping the state.
type observer struct {
	poller sources.Poller
	state  sources.PollerState
	runs   int
}

// observe feeds run result r, at the next run's time, and returns its
// events.
func (o *observer) observe(r sources.CheckResult) []alerts.Event {
	r.At = runAt(o.runs)
	o.runs++
	var events []alerts.Event
	o.state, events = o.poller.Observe(o.state, r)
	return events
}

// statuses writes the statuses of events, "firing resolved".
func statuses(events []alerts.Event) string {
	s := ""
	for i, ev := range events {
		if i > 0 {
			s += " "
		}
		s += string(ev.Status)
	}
	return s
}

// sequence runs the outcomes ("FFS...") through o, and returns the
// statuses of each run's events.
func (o *observer) sequence(outcomes string) []string {
	var got []string
	for i := range len(outcomes) {
		got = append(got, statuses(o.observe(outcome(outcomes[i]))))
	}
	return got
}

// checkStatuses compares the statuses of each run's events.
func checkStatuses(t *testing.T, outcomes string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("runs %s: %d runs, want %d", outcomes, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("runs %s: run %d (%c) sent %q, want %q", outcomes, i, outcomes[i], got[i], want[i])
		}
	}
}

func TestObserveFailAfterRecoverAfter(t *testing.T) {
	p := webPoller(3, 2)
	o := &observer{poller: p}
	var fired []alerts.Event
	var resolved alerts.Event
	for i, c := range []byte("FFFFSSS") {
		events := o.observe(outcome(c))
		switch {
		case i < 2 && len(events) > 0:
			t.Fatalf("run %d fired %+v before fail_after", i, events)
		case i == 2 || i == 3:
			// The alert fires at fail_after failures in a row, and is
			// sent again at every failure after.
			if len(events) != 1 || events[0].Status != alerts.StatusFiring {
				t.Fatalf("run %d sent %+v, want one firing event", i, events)
			}
			fired = append(fired, events[0])
		case i == 4 && len(events) > 0:
			t.Fatalf("run %d resolved %+v before recover_after", i, events)
		case i == 5:
			if len(events) != 1 || events[0].Status != alerts.StatusResolved {
				t.Fatalf("run %d sent %+v, want one resolved event", i, events)
			}
			resolved = events[0]
		case i == 6 && len(events) > 0:
			t.Fatalf("run %d sent %+v after the resolve", i, events)
		}
	}

	wantLabels := alerts.Labels{"alertname": "web", "team": "web", "poller": "web"}
	for i, ev := range append(fired, resolved) {
		if !maps.Equal(ev.Labels, wantLabels) || ev.Fingerprint != wantLabels.Fingerprint() {
			t.Errorf("event %d: labels %v fingerprint %s, want %v %s", i, ev.Labels, ev.Fingerprint, wantLabels, wantLabels.Fingerprint())
		}
		if !ev.StartsAt.Equal(runAt(0)) {
			t.Errorf("event %d: startsAt %v, want the first failure's %v", i, ev.StartsAt, runAt(0))
		}
		if ev.Source != "poller:web" || ev.GeneratorURL != p.URL {
			t.Errorf("event %d: source %q, generatorURL %q", i, ev.Source, ev.GeneratorURL)
		}
	}
	wantAnnotations := map[string]string{"summary": "web is down", "error": "status 503, want 200-299"}
	if !maps.Equal(fired[0].Annotations, wantAnnotations) {
		t.Errorf("firing annotations %v, want %v", fired[0].Annotations, wantAnnotations)
	}
	if _, set := p.Annotations["error"]; set {
		t.Error("the poller's annotations were changed")
	}
	if !resolved.EndsAt.Equal(runAt(5)) {
		t.Errorf("resolved at %v, want %v", resolved.EndsAt, runAt(5))
	}

	st := o.state
	if st.PollerID != 7 || st.Name != "web" || !st.LastRunAt.Equal(runAt(6)) || st.Outcome != sources.OutcomeSuccess {
		t.Errorf("state %+v", st)
	}
	if st.Successes != 3 || st.Failures != 0 || st.FiringSeries() != 0 || len(st.Series) != 1 {
		t.Errorf("state successes %d failures %d firing %d series %d, want 3 0 0 1", st.Successes, st.Failures, st.FiringSeries(), len(st.Series))
	}
}

func TestObserveStreaks(t *testing.T) {
	tests := []struct {
		name                    string
		failAfter, recoverAfter int
		outcomes                string
		want                    []string
	}{
		{
			name: "flapping fires nothing", failAfter: 2, recoverAfter: 1,
			outcomes: "FSFSFSFS", want: []string{"", "", "", "", "", "", "", ""},
		},
		{
			name: "fail_after 1", failAfter: 1, recoverAfter: 1,
			outcomes: "SFSF", want: []string{"", "firing", "resolved", "firing"},
		},
		{
			name: "a pass breaks the failures", failAfter: 3, recoverAfter: 1,
			outcomes: "FFSFFF", want: []string{"", "", "", "", "", "firing"},
		},
		{
			name: "a failure breaks the passes", failAfter: 1, recoverAfter: 3,
			outcomes: "FSSFSSS", want: []string{"firing", "", "", "firing", "", "", "resolved"},
		},
		{
			name: "errors count neither way", failAfter: 2, recoverAfter: 2,
			outcomes: "FEFESEES", want: []string{"", "", "firing", "", "", "", "", "resolved"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &observer{poller: webPoller(tt.failAfter, tt.recoverAfter)}
			checkStatuses(t, tt.outcomes, o.sequence(tt.outcomes), tt.want)
		})
	}
}

func TestObserveRunCounts(t *testing.T) {
	o := &observer{poller: webPoller(2, 2)}
	o.sequence("FFE")
	st := o.state
	// The poller's own counts take an error as a run that did not pass;
	// its alert's streak does not count it.
	if st.Failures != 3 || st.Successes != 0 || st.Outcome != sources.OutcomeError || st.LastError != "canceled" {
		t.Errorf("state failures %d successes %d outcome %s error %q, want 3 0 error canceled", st.Failures, st.Successes, st.Outcome, st.LastError)
	}
	if len(st.Series) != 1 || st.Series[0].Failures != 2 || !st.Series[0].Firing || !st.Series[0].Since.Equal(runAt(0)) {
		t.Errorf("series %+v, want 2 failures, firing since %v", st.Series, runAt(0))
	}
}

// promRun is a prometheus run that returned series with the given
// instances.
func promRun(instances ...string) sources.CheckResult {
	r := sources.CheckResult{Outcome: sources.OutcomeSuccess}
	for _, instance := range instances {
		r.Outcome = sources.OutcomeFailure
		r.Series = append(r.Series, alerts.Labels{"__name__": "up", "job": "node", "instance": instance})
	}
	return r
}

// instanceEvents writes the events of a run, "firing a resolved b".
func instanceEvents(events []alerts.Event) string {
	s := ""
	for i, ev := range events {
		if i > 0 {
			s += " "
		}
		s += string(ev.Status) + " " + ev.Labels["instance"]
	}
	return s
}

func TestObservePrometheusSeries(t *testing.T) {
	p := promPoller(2, 2)
	o := &observer{poller: p}
	runs := []struct {
		result sources.CheckResult
		want   string
	}{
		{promRun("a"), ""},
		{promRun("a"), "firing a"},
		{promRun("a", "b"), "firing a"},
		{promRun("b"), "firing b"},
		// An error says nothing of the series.
		{sources.CheckResult{Outcome: sources.OutcomeError, Error: "connection refused"}, ""},
		// a passed at run 3 already.
		{promRun(), "resolved a"},
		{promRun("c"), "resolved b"},
		{promRun(), ""},
	}
	for i, run := range runs {
		events := o.observe(run.result)
		if got := instanceEvents(events); got != run.want {
			t.Errorf("run %d sent %q, want %q", i, got, run.want)
		}
		for _, ev := range events {
			want := alerts.Labels{"alertname": "node-down", "job": "node", "instance": ev.Labels["instance"], "severity": "page", "poller": "node-down"}
			if !maps.Equal(ev.Labels, want) || ev.Fingerprint != want.Fingerprint() {
				t.Errorf("run %d: labels %v, want %v", i, ev.Labels, want)
			}
			if ev.GeneratorURL != "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1" {
				t.Errorf("run %d: generatorURL %q", i, ev.GeneratorURL)
			}
		}
		if i == 2 {
			if n := len(o.state.Series); n != 2 {
				t.Errorf("after run 2: %d series in the state, want 2", n)
			}
		}
	}
	// Series that resolved, and c that came and went, are forgotten.
	if len(o.state.Series) != 0 {
		t.Errorf("series left in the state: %+v", o.state.Series)
	}
}

func TestObserveEditedLabels(t *testing.T) {
	o := &observer{poller: webPoller(2, 2)}
	checkStatuses(t, "FF", o.sequence("FF"), []string{"", "firing"})
	old := o.state.Series[0]

	o.poller.Labels = alerts.Labels{"team": "platform"}
	// The old alert resolves at once; the new one counts from nothing.
	events := o.observe(outcome('F'))
	if len(events) != 1 || events[0].Status != alerts.StatusResolved || events[0].Fingerprint != old.Fingerprint || !maps.Equal(events[0].Labels, old.Labels) {
		t.Fatalf("after the edit: %+v, want the old alert resolved", events)
	}
	if len(o.state.Series) != 1 || o.state.Series[0].Labels["team"] != "platform" || o.state.Series[0].Failures != 1 || o.state.Series[0].Firing {
		t.Errorf("state after the edit: %+v", o.state.Series)
	}
	checkStatuses(t, "F", o.sequence("F"), []string{"firing"})

	// An edit before a pass resolves at once too.
	o.poller.Labels = alerts.Labels{"team": "sre"}
	checkStatuses(t, "S", o.sequence("S"), []string{"resolved"})
}

func TestObserveEditedLabelsPrometheus(t *testing.T) {
	o := &observer{poller: promPoller(1, 2)}
	if got := instanceEvents(o.observe(promRun("a"))); got != "firing a" {
		t.Fatalf("first run sent %q", got)
	}
	old := o.state.Series[0].Fingerprint
	o.poller.Labels = alerts.Labels{"severity": "ticket"}
	// The series under its new labels is a new alert; the old one is a
	// series gone, which resolves after recover_after runs.
	for i, want := range []string{"firing", "firing resolved"} {
		events := o.observe(promRun("a"))
		if got := statuses(events); got != want {
			t.Fatalf("run %d after the edit sent %q, want %q", i, got, want)
		}
		if events[0].Labels["severity"] != "ticket" {
			t.Errorf("run %d after the edit fired %v", i, events[0].Labels)
		}
		if i == 1 && events[1].Fingerprint != old {
			t.Errorf("resolved %v, want the old alert", events[1].Labels)
		}
	}
}

func TestRetire(t *testing.T) {
	o := &observer{poller: promPoller(1, 1)}
	o.observe(promRun("a", "b"))
	events := o.state.Retire(runAt(9))
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	for _, ev := range events {
		if ev.Status != alerts.StatusResolved || !ev.EndsAt.Equal(runAt(9)) || !ev.StartsAt.Equal(runAt(0)) || ev.Source != "poller:node-down" {
			t.Errorf("retire event %+v", ev)
		}
	}
	if events := (sources.PollerState{}).Retire(runAt(9)); events != nil {
		t.Errorf("retiring an empty state: %+v", events)
	}
}
