package sources

import (
	"cmp"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// Outcome is how one run of a poller's check went.
type Outcome string

// The outcomes of a check.
const (
	// OutcomeSuccess: the check passed; a prometheus query returned no
	// series.
	OutcomeSuccess Outcome = "success"
	// OutcomeFailure: the check failed; a prometheus query returned series,
	// each an alert.
	OutcomeFailure Outcome = "failure"
	// OutcomeError: a prometheus query could not be run or its answer not
	// read, or a check of any kind was canceled before it was done, or
	// could not be run (see Checker.Check). Nothing is learned of the
	// series: their counts stay as they were.
	OutcomeError Outcome = "error"
)

// CheckResult is what one run of a poller's check saw.
type CheckResult struct {
	At      time.Time `json:"at"`
	Outcome Outcome   `json:"outcome"`
	// Latency is how long the check took: to the response's headers for
	// http, to connect for tcp, the whole query for prometheus.
	Latency Duration `json:"latency"`
	// Error says why the check failed or errored; empty on success and for
	// a prometheus query that returned series.
	Error string `json:"error,omitempty"`
	// StatusCode is an http check's response status, when it got one.
	StatusCode int `json:"status_code,omitempty"`
	// Series are the label sets a prometheus query returned, as returned.
	Series []alerts.Labels `json:"series,omitempty"`
}

// PollerState is what tocsin remembers of a poller between runs: the last
// run, and the streak of each alert it may fire. It lives in the store, so
// that another node can take over the poller where this one left it.
type PollerState struct {
	PollerID int64
	// Name is the poller's name at the last run: the state outlives a
	// deleted poller until its alerts are resolved.
	Name string
	// LastRunAt is when the last run started; zero before the first.
	LastRunAt time.Time
	// NextRunAt is when the next run is due; zero when it is not scheduled.
	NextRunAt time.Time
	// Outcome, Latency and LastError are the last run's.
	Outcome   Outcome
	Latency   time.Duration
	LastError string
	// Failures and Successes count the runs in a row, up to the last, that
	// were not a success and that were.
	Failures  int
	Successes int
	// Series are the alerts the poller is counting or firing, by
	// fingerprint: one for an http or tcp poller, one per series for a
	// prometheus poller.
	Series []SeriesState
	// Node is the node that made the last run.
	Node string
}

// SeriesState is the streak of one alert of a poller.
type SeriesState struct {
	Fingerprint alerts.Fingerprint `json:"fingerprint"`
	Labels      alerts.Labels      `json:"labels"`
	// Failures and Successes count the runs in a row that saw the alert
	// failing and passing; one of them is 0.
	Failures  int `json:"failures"`
	Successes int `json:"successes"`
	// Since is when the current streak of failures began.
	Since time.Time `json:"since"`
	// Firing is whether the alert has been fired and not yet resolved.
	Firing bool `json:"firing"`
}

// FiringSeries counts the state's alerts that are firing.
func (s PollerState) FiringSeries() int {
	n := 0
	for _, ss := range s.Series {
		if ss.Firing {
			n++
		}
	}
	return n
}

// Observe returns the state after run r of the poller's check, and the
// events the run fires or resolves. An alert fires once it has failed
// FailAfter runs in a row, and is sent again, firing, at each further
// failed run (so that a lost event is made good and the alert's last seen
// time moves); it resolves once it has passed RecoverAfter runs in a row.
//
// An http or tcp poller has one alert, labelled AlertLabels(nil). A
// prometheus poller has one per series; a series the query no longer
// returns counts as passing. An OutcomeError run changes no streak. An alert
// of the state that an http or tcp poller can no longer make (its labels
// were edited) is resolved at once when firing, and dropped; a prometheus
// poller cannot tell it from a series that is gone, and resolves it after
// RecoverAfter runs.
func (p Poller) Observe(prev PollerState, r CheckResult) (next PollerState, events []alerts.Event) {
	next = PollerState{
		PollerID: p.ID, Name: p.Name, LastRunAt: r.At, NextRunAt: prev.NextRunAt, Outcome: r.Outcome,
		Latency: time.Duration(r.Latency), LastError: r.Error, Node: prev.Node,
	}
	if r.Outcome == OutcomeSuccess {
		next.Successes = prev.Successes + 1
	} else {
		next.Failures = prev.Failures + 1
	}
	if r.Outcome == OutcomeError {
		next.Series = slices.Clone(prev.Series)
		return next, nil
	}

	// failing holds the alerts this run saw failing; passing, the ones it
	// saw passing.
	failing := make(map[alerts.Fingerprint]alerts.Labels)
	passing := make(map[alerts.Fingerprint]alerts.Labels)
	switch p.Kind {
	case PollerPrometheus:
		for _, series := range r.Series {
			ls := p.AlertLabels(series)
			failing[ls.Fingerprint()] = ls
		}
	default:
		ls := p.AlertLabels(nil)
		if r.Outcome == OutcomeFailure {
			failing[ls.Fingerprint()] = ls
		} else {
			passing[ls.Fingerprint()] = ls
		}
	}

	seen := make(map[alerts.Fingerprint]bool, len(prev.Series))
	for _, s := range prev.Series {
		seen[s.Fingerprint] = true
		if ls, ok := failing[s.Fingerprint]; ok {
			s.Labels = ls
			next.Series, events = p.fail(next.Series, events, s, r)
			continue
		}
		if _, ok := passing[s.Fingerprint]; !ok && p.Kind != PollerPrometheus {
			// Labels edited: this alert can no longer be made.
			if s.Firing {
				events = append(events, p.resolved(s, r.At))
			}
			continue
		}
		next.Series, events = p.pass(next.Series, events, s, r)
	}
	for _, fp := range slices.Sorted(maps.Keys(failing)) {
		if !seen[fp] {
			next.Series, events = p.fail(next.Series, events, SeriesState{Fingerprint: fp, Labels: failing[fp], Since: r.At}, r)
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(passing)) {
		if !seen[fp] {
			next.Series, events = p.pass(next.Series, events, SeriesState{Fingerprint: fp, Labels: passing[fp]}, r)
		}
	}
	slices.SortFunc(next.Series, func(a, b SeriesState) int { return cmp.Compare(a.Fingerprint, b.Fingerprint) })
	return next, events
}

// fail counts a failed run of alert s, firing it at FailAfter failures in a
// row and again at every failure after, and appends it to series.
func (p Poller) fail(series []SeriesState, events []alerts.Event, s SeriesState, r CheckResult) ([]SeriesState, []alerts.Event) {
	if s.Failures == 0 {
		s.Since = r.At
	}
	s.Failures++
	s.Successes = 0
	if s.Failures >= p.FailAfter {
		s.Firing = true
		events = append(events, p.firing(s, r))
	}
	return append(series, s), events
}

// pass counts a passed run of alert s, resolving it at RecoverAfter passes in
// a row. An alert that is not firing and passes is forgotten, as is one
// that resolves, unless it is an http or tcp poller's one alert, whose
// streak the state keeps.
func (p Poller) pass(series []SeriesState, events []alerts.Event, s SeriesState, r CheckResult) ([]SeriesState, []alerts.Event) {
	s.Failures = 0
	s.Successes++
	if s.Firing && s.Successes >= p.RecoverAfter {
		s.Firing = false
		events = append(events, p.resolved(s, r.At))
	}
	if !s.Firing && p.Kind == PollerPrometheus {
		return series, events
	}
	return append(series, s), events
}

// firing returns the event that fires alert s.
func (p Poller) firing(s SeriesState, r CheckResult) alerts.Event {
	annotations := maps.Clone(p.Annotations)
	if r.Error != "" {
		if annotations == nil {
			annotations = make(map[string]string, 1)
		}
		if _, set := annotations["error"]; !set {
			annotations["error"] = r.Error
		}
	}
	return alerts.Event{
		Fingerprint: s.Fingerprint, Labels: s.Labels, Annotations: annotations,
		Status: alerts.StatusFiring, StartsAt: s.Since, GeneratorURL: p.generatorURL(), Source: p.Source(),
	}
}

// resolved returns the event that resolves alert s at at.
func (p Poller) resolved(s SeriesState, at time.Time) alerts.Event {
	return alerts.Event{
		Fingerprint: s.Fingerprint, Labels: s.Labels, Annotations: maps.Clone(p.Annotations),
		Status: alerts.StatusResolved, StartsAt: s.Since, EndsAt: at, GeneratorURL: p.generatorURL(), Source: p.Source(),
	}
}

// Retire returns the events that resolve, at at, every alert of the state
// that is firing: for a poller that was deleted or disabled.
func (s PollerState) Retire(at time.Time) []alerts.Event {
	var events []alerts.Event
	for _, ss := range s.Series {
		if ss.Firing {
			events = append(events, alerts.Event{
				Fingerprint: ss.Fingerprint, Labels: ss.Labels, Status: alerts.StatusResolved,
				StartsAt: ss.Since, EndsAt: at, Source: PollerSourcePrefix + s.Name,
			})
		}
	}
	return events
}

// generatorURL is the link of the poller's alerts: what an http poller
// requests, the query in a prometheus poller's graph page.
func (p Poller) generatorURL() string {
	switch p.Kind {
	case PollerHTTP:
		return p.URL
	case PollerPrometheus:
		return prometheusGraphURL(p.URL, p.Query)
	}
	return ""
}

// prometheusGraphURL links to query in the graph page of the Prometheus at
// base.
func prometheusGraphURL(base, query string) string {
	return strings.TrimRight(base, "/") + "/graph?g0.expr=" + url.QueryEscape(query) + "&g0.tab=1"
}
