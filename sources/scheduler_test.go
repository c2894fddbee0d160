package sources_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// pipeline is a scheduler wired to what it feeds in production: a real
// store, config queue and alert queue, and a real checker.
type pipeline struct {
	db      *storage.DB
	sched   *sources.Scheduler
	metrics *prometheus.Registry
	// stopTerm ends the scheduler's term, and waits for it.
	stopTerm func()
}

// startPipeline starts a scheduler allowing maxConcurrent checks on a fresh
// SQLite store, and stops it when the test ends.
func startPipeline(t *testing.T, maxConcurrent int) *pipeline {
	t.Helper()
	p := newPipeline(t, maxConcurrent, nil)
	p.startTerm(t)
	return p
}

// newPipeline makes a pipeline whose scheduler hands its events to
// wrap(the alert queue), or to the queue itself when wrap is nil. Its
// scheduler runs nothing until startTerm.
func newPipeline(t *testing.T, maxConcurrent int, wrap func(sources.AlertSubmitter) sources.AlertSubmitter) *pipeline {
	t.Helper()
	target := testdb.SQLite(t)
	db, err := storage.Open(t.Context(), storage.Options{Driver: target.Driver, DSN: target.DSN, MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	rules := alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: db})
	if err := rules.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	queue := alerts.NewAlertQueue(alerts.AlertQueueOptions{Store: db, Routing: rules})
	var submitter sources.AlertSubmitter = queue
	if wrap != nil {
		submitter = wrap(queue)
	}
	checker := sources.NewChecker(sources.CheckerOptions{})
	p := &pipeline{db: db, metrics: prometheus.NewRegistry(), stopTerm: func() {}}
	p.sched = sources.NewScheduler(sources.SchedulerOptions{
		Store: db, Alerts: submitter, Checker: checker, MaxConcurrent: maxConcurrent,
		Node: "test-node", Reload: time.Hour, Metrics: p.metrics,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	workers.Go(func() { queue.Run(ctx) })
	workers.Go(func() { rules.Run(ctx) })
	t.Cleanup(func() {
		// The scheduler stops first, as in the app: its runs hand events
		// to the alert queue.
		p.stopTerm()
		cancel()
		workers.Wait()
		checker.CloseIdleConnections()
		db.Close()
	})
	return p
}

// startTerm runs the scheduler, as a node does when it takes the lead,
// until stopTerm or the test's end.
func (p *pipeline) startTerm(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var term sync.WaitGroup
	term.Go(func() {
		if err := p.sched.Run(ctx); err != nil {
			t.Errorf("Scheduler.Run: %v", err)
		}
	})
	p.stopTerm = func() {
		cancel()
		term.Wait()
	}
}

// add creates a poller and tells the scheduler, as the API does.
func (p *pipeline) add(t *testing.T, poller sources.Poller) sources.Poller {
	t.Helper()
	created, err := p.db.CreatePoller(t.Context(), storage.CLIActor(), poller)
	if err != nil {
		t.Fatalf("CreatePoller: %v", err)
	}
	p.sched.ConfigApplied(alerts.ConfigChange{Object: "poller", ID: created.ID, Action: storage.ActionCreate, Version: created.Version}, nil)
	return created
}

// alertsOf returns the alerts the named poller opened, newest first.
func (p *pipeline) alertsOf(t *testing.T, name string) []alerts.Alert {
	t.Helper()
	list, _, err := p.db.Alerts(t.Context(), storage.AlertFilter{Source: sources.PollerSourcePrefix + name}, storage.Page{Limit: 100})
	if err != nil {
		t.Fatalf("Alerts: %v", err)
	}
	return list
}

// state returns the stored state of a poller.
func (p *pipeline) state(t *testing.T, id int64) sources.PollerState {
	t.Helper()
	states, err := p.db.PollerStates(t.Context(), []int64{id})
	if err != nil {
		t.Fatalf("PollerStates: %v", err)
	}
	if len(states) == 0 {
		return sources.PollerState{}
	}
	return states[0]
}

// waitFor polls cond every 50ms until it holds, failing the test after
// limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// switchable is an HTTP target whose health the test switches.
type switchable struct {
	*httptest.Server
	down atomic.Bool
	hits atomic.Int64
}

// newSwitchable starts a target that is up.
func newSwitchable(t *testing.T) *switchable {
	s := &switchable{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// httpPoller returns an http poller of url that runs every second.
func httpPoller(name, url string, failAfter, recoverAfter int) sources.Poller {
	return sources.Poller{
		Name: name, Kind: sources.PollerHTTP, Schedule: "* * * * * *", URL: url,
		Labels: alerts.Labels{"severity": "critical"}, FailAfter: failAfter, RecoverAfter: recoverAfter, Enabled: true,
	}
}

func TestSchedulerFiresOnceAndResolves(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	target := newSwitchable(t)
	target.down.Store(true)
	poller := p.add(t, httpPoller("api", target.URL, 2, 2))

	waitFor(t, 10*time.Second, "the alert to fire", func() bool { return len(p.alertsOf(t, "api")) > 0 })
	// Further failed runs send the alert again: it stays one alert.
	waitFor(t, 10*time.Second, "two more failed runs", func() bool { return p.state(t, poller.ID).Failures >= 4 })
	list := p.alertsOf(t, "api")
	if len(list) != 1 || list[0].State != alerts.StateFiring {
		t.Fatalf("alerts after 4 failed runs = %+v, want one firing", list)
	}
	want := alerts.Labels{"alertname": "api", "poller": "api", "severity": "critical"}
	if list[0].Fingerprint != want.Fingerprint() {
		t.Errorf("alert labels = %v, want %v", list[0].Labels, want)
	}

	target.down.Store(false)
	waitFor(t, 10*time.Second, "the alert to resolve", func() bool {
		list := p.alertsOf(t, "api")
		return len(list) == 1 && list[0].State == alerts.StateResolved
	})
	// The state is written once the resolve is committed.
	waitFor(t, 5*time.Second, "the state to say so", func() bool { return p.state(t, poller.ID).FiringSeries() == 0 })
	st := p.state(t, poller.ID)
	if st.Successes < 2 || st.Outcome != sources.OutcomeSuccess || st.Node != "test-node" || st.NextRunAt.IsZero() {
		t.Errorf("state after recovery = %+v", st)
	}
}

func TestSchedulerResolvesTheAlertsOfADeletedPoller(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	target := newSwitchable(t)
	target.down.Store(true)
	poller := p.add(t, httpPoller("gone", target.URL, 1, 1))
	waitFor(t, 10*time.Second, "the alert to fire", func() bool { return len(p.alertsOf(t, "gone")) > 0 })

	if err := p.db.DeletePoller(t.Context(), storage.CLIActor(), poller.ID, 0); err != nil {
		t.Fatal(err)
	}
	p.sched.ConfigApplied(alerts.ConfigChange{Object: "poller", ID: poller.ID, Action: storage.ActionDelete}, nil)
	waitFor(t, 10*time.Second, "the alert to resolve", func() bool {
		list := p.alertsOf(t, "gone")
		return len(list) == 1 && list[0].State == alerts.StateResolved
	})
	waitFor(t, 5*time.Second, "the state to go", func() bool { return p.state(t, poller.ID).PollerID == 0 })
	hits := target.hits.Load()
	time.Sleep(1500 * time.Millisecond)
	if target.hits.Load() != hits {
		t.Error("the deleted poller still runs")
	}
}

func TestSchedulerReschedulesAnEditedPoller(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	target := newSwitchable(t)
	poller := httpPoller("edited", target.URL, 1, 1)
	poller.Schedule = "@every 1h"
	poller = p.add(t, poller)
	waitFor(t, 5*time.Second, "the first next run", func() bool { return !p.state(t, poller.ID).NextRunAt.IsZero() })
	if next := p.state(t, poller.ID).NextRunAt; time.Until(next) < 50*time.Minute {
		t.Fatalf("next run of an hourly poller = %v", next)
	}

	poller.Schedule = "* * * * * *"
	updated, err := p.db.UpdatePoller(t.Context(), storage.CLIActor(), poller)
	if err != nil {
		t.Fatal(err)
	}
	p.sched.ConfigApplied(alerts.ConfigChange{Object: "poller", ID: updated.ID, Action: storage.ActionUpdate, Version: updated.Version}, nil)
	waitFor(t, 5*time.Second, "a run on the new schedule", func() bool { return target.hits.Load() > 0 })
	if next := p.state(t, poller.ID).NextRunAt; time.Until(next) > 5*time.Second {
		t.Errorf("next run after the edit = %v, want within seconds", next)
	}
}

// A slow target holds at most one of the slots; the other pollers keep
// their schedule, and the slow one's overlapping runs are skipped.
func TestSchedulerSlowTargetDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 2)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fast := newSwitchable(t)

	slowPoller := httpPoller("slow", slow.URL, 1, 1)
	slowPoller.Timeout = sources.Duration(20 * time.Second)
	p.add(t, slowPoller)
	p.add(t, httpPoller("fast", fast.URL, 1, 1))

	start := time.Now()
	waitFor(t, 10*time.Second, "4 runs of the fast poller", func() bool { return fast.hits.Load() >= 4 })
	if elapsed := time.Since(start); elapsed > 7*time.Second {
		t.Errorf("4 runs of an every-second poller took %s beside a slow one", elapsed)
	}
	waitFor(t, 5*time.Second, "a skipped run of the slow poller", func() bool {
		return skipped(t, p.metrics, "slow") > 0
	})
}

// skipped returns how many runs of a poller were skipped.
func skipped(t *testing.T, reg *prometheus.Registry, poller string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tocsin_poller_runs_skipped_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == poller {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A flapping check, failing and passing in turn, never reaches fail_after
// failures in a row: it fires nothing.
func TestSchedulerFlappingCheckFiresNothing(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	var runs atomic.Int64
	flapping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if runs.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(flapping.Close)
	poller := p.add(t, httpPoller("flapping", flapping.URL, 2, 1))
	waitFor(t, 15*time.Second, "6 runs", func() bool { return runs.Load() >= 6 })
	if list := p.alertsOf(t, "flapping"); len(list) != 0 {
		t.Errorf("a flapping check opened %d alerts, want none", len(list))
	}
	if st := p.state(t, poller.ID); st.FiringSeries() != 0 {
		t.Errorf("state of a flapping check = %+v, want nothing firing", st)
	}
}

// A tcp poller fires when its port closes and resolves when it opens again.
func TestSchedulerTCP(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p.add(t, sources.Poller{
		Name: "db", Kind: sources.PollerTCP, Schedule: "* * * * * *", Address: addr,
		FailAfter: 1, RecoverAfter: 1, Enabled: true,
	})
	waitFor(t, 10*time.Second, "the closed port's alert", func() bool { return len(p.alertsOf(t, "db")) == 1 })

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	waitFor(t, 10*time.Second, "the alert to resolve", func() bool {
		list := p.alertsOf(t, "db")
		return len(list) == 1 && list[0].State == alerts.StateResolved
	})
}

// promTarget is a Prometheus query API whose answer the test sets: the
// label sets of the series the query returns.
type promTarget struct {
	*httptest.Server
	mu     sync.Mutex
	series []string
	// queries counts the queries answered.
	queries atomic.Int64
}

// newPromTarget starts a Prometheus API that returns no series.
func newPromTarget(t *testing.T) *promTarget {
	pt := &promTarget{}
	pt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.FormValue("query") != `up{job="api"} == 0` {
			http.NotFound(w, r)
			return
		}
		pt.mu.Lock()
		result := strings.Join(pt.series, ",")
		pt.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`+result+`]}}`)
		pt.queries.Add(1)
	}))
	t.Cleanup(pt.Close)
	return pt
}

// set makes the query return one series per instance.
func (pt *promTarget) set(instances ...string) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.series = pt.series[:0]
	for _, inst := range instances {
		pt.series = append(pt.series,
			`{"metric":{"__name__":"up","job":"api","instance":"`+inst+`"},"value":[1764000000,"0"]}`)
	}
}

// Each series a prometheus poller's query returns is an alert of its own:
// it fires when the series has been there fail_after runs, and resolves
// when it has been gone recover_after runs, whatever the other series do.
func TestSchedulerPrometheusSeries(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, 4)
	prom := newPromTarget(t)
	p.add(t, sources.Poller{
		Name: "api-down", Kind: sources.PollerPrometheus, Schedule: "* * * * * *", URL: prom.URL,
		Query: `up{job="api"} == 0`, Labels: alerts.Labels{"severity": "page"}, FailAfter: 1, RecoverAfter: 2, Enabled: true,
	})
	byInstance := func() map[string]alerts.State {
		states := make(map[string]alerts.State)
		for _, a := range p.alertsOf(t, "api-down") {
			states[a.Labels["instance"]] = a.State
			if a.Labels["alertname"] != "api-down" || a.Labels["severity"] != "page" || a.Labels["poller"] != "api-down" || a.Labels["__name__"] != "" {
				t.Errorf("alert labels %v", a.Labels)
			}
		}
		return states
	}

	prom.set("a:9100", "b:9100")
	waitFor(t, 10*time.Second, "both series' alerts", func() bool {
		s := byInstance()
		return s["a:9100"] == alerts.StateFiring && s["b:9100"] == alerts.StateFiring
	})
	prom.set("b:9100")
	waitFor(t, 10*time.Second, "a's alert to resolve", func() bool { return byInstance()["a:9100"] == alerts.StateResolved })
	if s := byInstance(); len(s) != 2 || s["b:9100"] != alerts.StateFiring {
		t.Fatalf("after a went away: %v, want b still firing", s)
	}
	prom.set()
	waitFor(t, 10*time.Second, "b's alert to resolve", func() bool { return byInstance()["b:9100"] == alerts.StateResolved })
	if s := byInstance(); len(s) != 2 {
		t.Errorf("alerts = %v, want one per series", s)
	}
}

// slowAnswer commits events through the alert queue and then, while
// hanging is set, does not answer until the run's context ends: a commit
// whose answer is lost.
type slowAnswer struct {
	queue     sources.AlertSubmitter
	hanging   atomic.Bool
	committed atomic.Int64
}

// Submit commits the events, then waits for ctx while hanging is set.
func (s *slowAnswer) Submit(ctx context.Context, events []alerts.Event) error {
	if err := s.queue.Submit(context.WithoutCancel(ctx), events); err != nil {
		return err
	}
	s.committed.Add(1)
	if !s.hanging.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// A node that loses the lead after a firing it handed over is committed,
// but before it hears so, leaves a state that says the alert fires: the
// next leader resolves it when the target recovers.
func TestSchedulerFiringCommittedAsTheTermEnds(t *testing.T) {
	t.Parallel()
	slow := &slowAnswer{}
	slow.hanging.Store(true)
	p := newPipeline(t, 4, func(q sources.AlertSubmitter) sources.AlertSubmitter {
		slow.queue = q
		return slow
	})
	target := newSwitchable(t)
	target.down.Store(true)
	poller := p.add(t, httpPoller("cut", target.URL, 1, 1))
	p.startTerm(t)
	waitFor(t, 10*time.Second, "the firing to be committed", func() bool { return slow.committed.Load() > 0 })
	p.stopTerm()
	if st := p.state(t, poller.ID); st.FiringSeries() != 1 {
		t.Fatalf("state after the term = %+v, want the alert firing", st)
	}

	slow.hanging.Store(false)
	target.down.Store(false)
	p.startTerm(t)
	waitFor(t, 10*time.Second, "the alert to resolve", func() bool {
		list := p.alertsOf(t, "cut")
		return len(list) == 1 && list[0].State == alerts.StateResolved
	})
}
