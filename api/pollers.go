package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// objectPoller names pollers in config changes.
const objectPoller = "poller"

// PollerChecker runs a poller's check once: *sources.Checker implements it.
type PollerChecker interface {
	// Check runs the check of p, within p's timeout and ctx, and says how
	// it went. It changes no state and fires nothing.
	Check(ctx context.Context, p sources.Poller) sources.CheckResult
}

// Leadership says which node runs the pollers: *storage.Election
// implements it.
type Leadership interface {
	// Node is this node's name.
	Node() string
	// Leading reports whether this node runs the pollers now.
	Leading() bool
	// Leader returns the node that last took the lead, and since when: the
	// zero Leader when no node has led. Its errors are the store's.
	Leader(ctx context.Context) (storage.Leader, error)
}

// errNoPollers answers POST /pollers/{id}/run on a server that runs no
// checks.
var errNoPollers = &alerts.Error{Kind: alerts.ErrUnavailable, Message: "this server runs no poller checks"}

// pollerRequest is the body of a poller create or update. A client may send
// back a poller as it read it: the read-only fields, status included, are
// accepted and ignored. Durations and expected statuses are read here, so
// that a bad one is a 400 that names its field and says what is wanted.
type pollerRequest struct {
	Name     string             `json:"name"`
	Kind     sources.PollerKind `json:"kind"`
	Schedule string             `json:"schedule"`
	// Timeout is a duration such as "10s"; empty means the default.
	Timeout string `json:"timeout"`

	URL           string                   `json:"url"`
	Method        string                   `json:"method"`
	Headers       map[string]string        `json:"headers"`
	Body          string                   `json:"body"`
	ExpectStatus  []string                 `json:"expect_status"`
	ExpectBody    string                   `json:"expect_body"`
	ExpectJSON    *sources.JSONExpectation `json:"expect_json"`
	MaxLatency    string                   `json:"max_latency"`
	TLSSkipVerify bool                     `json:"tls_skip_verify"`
	Address       string                   `json:"address"`
	Query         string                   `json:"query"`

	Labels      alerts.Labels     `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// FailAfter, RecoverAfter and Enabled take their defaults when left
	// out: sources.DefaultFailAfter, sources.DefaultRecoverAfter and true.
	FailAfter    *int  `json:"fail_after"`
	RecoverAfter *int  `json:"recover_after"`
	Enabled      *bool `json:"enabled"`
	Version      int64 `json:"version"`

	ID        jsontext.Value `json:"id"`
	ManagedBy jsontext.Value `json:"managed_by"`
	CreatedAt jsontext.Value `json:"created_at"`
	UpdatedAt jsontext.Value `json:"updated_at"`
	Status    jsontext.Value `json:"status"`
}

// poller returns the poller the request describes, with the given ID and
// version, validated and with its defaults filled in.
func (r pollerRequest) poller(id, version int64) (sources.Poller, error) {
	p := sources.Poller{
		ID: id, Name: r.Name, Kind: r.Kind, Schedule: r.Schedule,
		URL: r.URL, Method: r.Method, Headers: r.Headers, Body: r.Body,
		ExpectBody: r.ExpectBody, ExpectJSON: r.ExpectJSON, TLSSkipVerify: r.TLSSkipVerify,
		Address: r.Address, Query: r.Query, Labels: r.Labels, Annotations: r.Annotations,
		FailAfter: sources.DefaultFailAfter, RecoverAfter: sources.DefaultRecoverAfter, Enabled: true,
		Version: version,
	}
	if r.FailAfter != nil {
		p.FailAfter = *r.FailAfter
	}
	if r.RecoverAfter != nil {
		p.RecoverAfter = *r.RecoverAfter
	}
	if r.Enabled != nil {
		p.Enabled = *r.Enabled
	}
	var err error
	if p.Timeout, err = durationField("timeout", r.Timeout); err != nil {
		return p, err
	}
	if p.MaxLatency, err = durationField("max_latency", r.MaxLatency); err != nil {
		return p, err
	}
	for i, text := range r.ExpectStatus {
		var sr sources.StatusRange
		if err := sr.UnmarshalText([]byte(text)); err != nil {
			return p, alerts.Invalid("expect_status["+strconv.Itoa(i)+"]", "%v", err)
		}
		p.ExpectStatus = append(p.ExpectStatus, sr)
	}
	return p, p.Validate()
}

// durationField reads the duration of a body's field; "" is 0.
func durationField(field, text string) (sources.Duration, error) {
	var d sources.Duration
	if text == "" {
		return d, nil
	}
	if err := d.UnmarshalText([]byte(text)); err != nil {
		return d, alerts.Invalid(field, "%v", err)
	}
	return d, nil
}

// pollerView is a poller as the API answers it: its definition, and how its
// scheduled runs have gone.
type pollerView struct {
	sources.Poller
	Status pollerStatus `json:"status"`
}

// pollerStatus is what the store holds of a poller's scheduled runs.
type pollerStatus struct {
	// LastRunAt is nil before the first run.
	LastRunAt *time.Time `json:"last_run_at"`
	// Outcome, Latency and LastError are the last run's; Outcome is ""
	// before the first.
	Outcome   sources.Outcome  `json:"outcome"`
	Latency   sources.Duration `json:"latency"`
	LastError string           `json:"last_error"`
	// ConsecutiveFailures and ConsecutiveSuccesses count the runs in a
	// row, up to the last, that failed and that passed.
	ConsecutiveFailures  int `json:"consecutive_failures"`
	ConsecutiveSuccesses int `json:"consecutive_successes"`
	// Firing counts the poller's alerts that are firing.
	Firing int `json:"firing"`
	// NextRunAt is nil when no run is scheduled, or none is known.
	NextRunAt *time.Time `json:"next_run_at"`
	// Node is the node that made the last run.
	Node string `json:"node"`
}

// newPollerView answers p with its state st (the zero state before its
// first run).
func newPollerView(p sources.Poller, st sources.PollerState) pollerView {
	if p.Labels == nil {
		p.Labels = alerts.Labels{}
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	status := pollerStatus{
		LastRunAt: timeOrNil(st.LastRunAt), Outcome: st.Outcome, Latency: sources.Duration(st.Latency),
		LastError: st.LastError, ConsecutiveFailures: st.Failures, ConsecutiveSuccesses: st.Successes,
		Firing: st.FiringSeries(), Node: st.Node,
	}
	if p.Enabled {
		status.NextRunAt = timeOrNil(st.NextRunAt)
	}
	return pollerView{Poller: p, Status: status}
}

// timeOrNil is nil for the zero time, and a pointer to t in UTC otherwise.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// withStatus answers each poller with its state.
func (s *Server) withStatus(ctx context.Context, ps []sources.Poller) ([]pollerView, error) {
	views := make([]pollerView, 0, len(ps))
	if len(ps) == 0 {
		return views, nil // nil IDs would read every state
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	states, err := s.store.PollerStates(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]sources.PollerState, len(states))
	for _, st := range states {
		byID[st.PollerID] = st
	}
	for _, p := range ps {
		views = append(views, newPollerView(p, byID[p.ID]))
	}
	return views, nil
}

// answerPoller answers one poller with its state and its version as the
// ETag.
func (s *Server) answerPoller(c echo.Context, status int, p sources.Poller) error {
	views, err := s.withStatus(c.Request().Context(), []sources.Poller{p})
	if err != nil {
		return err
	}
	return answerObject(c, status, views[0], p.Version)
}

func pollerID(p sources.Poller) int64 { return p.ID }

// listPollers answers a page of pollers by ID, each with its status.
func (s *Server) listPollers(c echo.Context) error {
	page, err := pageQuery(c)
	if err != nil {
		return err
	}
	list, err := s.store.Pollers(c.Request().Context(), page)
	if err != nil {
		return err
	}
	lp := newListPage(list, page, pollerID)
	views, err := s.withStatus(c.Request().Context(), lp.Items)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listPage[pollerView]{Items: views, NextCursor: lp.NextCursor})
}

// createPoller adds a poller; the scheduler picks it up through the config
// queue.
func (s *Server) createPoller(c echo.Context) error {
	var req pollerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p, err := req.poller(0, 0)
	if err != nil {
		return err
	}
	if p, err = s.store.CreatePoller(c.Request().Context(), actor(c), p); err != nil {
		return err
	}
	s.apply(c, objectPoller, p.ID, storage.ActionCreate, p.Version)
	// A new poller has not run yet: its state is the zero one.
	return answerObject(c, http.StatusCreated, newPollerView(p, sources.PollerState{}), p.Version)
}

// getPoller answers one poller with its status.
func (s *Server) getPoller(c echo.Context) error {
	p, err := readObject(c, s.store.Poller)
	if err != nil {
		return err
	}
	return s.answerPoller(c, http.StatusOK, p)
}

// updatePoller replaces a poller, at the version it names.
func (s *Server) updatePoller(c echo.Context) error {
	var req pollerRequest
	id, version, err := decodeUpdate(c, &req, &req.Version)
	if err != nil {
		return err
	}
	p, err := req.poller(id, version)
	if err != nil {
		return err
	}
	// The state is read first, so that a store that fails to answer it
	// fails the request before the update is committed, not after.
	states, err := s.store.PollerStates(c.Request().Context(), []int64{id})
	if err != nil {
		return err
	}
	if p, err = s.store.UpdatePoller(c.Request().Context(), actor(c), p); err != nil {
		return err
	}
	s.apply(c, objectPoller, p.ID, storage.ActionUpdate, p.Version)
	var st sources.PollerState
	if len(states) > 0 {
		st = states[0]
	}
	return answerObject(c, http.StatusOK, newPollerView(p, st), p.Version)
}

// deletePoller deletes a poller: the leader resolves the alerts it fired.
func (s *Server) deletePoller(c echo.Context) error {
	return s.deleteObject(c, objectPoller, s.store.DeletePoller)
}

// runPoller runs a poller's check now, on this node, and answers its
// result: a dry run, enabled or not, that changes no state and fires
// nothing.
func (s *Server) runPoller(c echo.Context) error {
	if s.pollers == nil {
		return errNoPollers
	}
	p, err := readObject(c, s.store.Poller)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.pollers.Check(c.Request().Context(), p))
}

// pollersReadiness is the pollers' detail in /readyz.
type pollersReadiness struct {
	Node    string `json:"node"`
	Leading bool   `json:"leading"`
	// Leader is the node that last took the lead, "" when none has or the
	// store could not say; LeaderSince is when, nil then.
	Leader      string     `json:"leader"`
	LeaderSince *time.Time `json:"leader_since"`
}

// pollersReadiness says which node runs the pollers. A failed read of the
// leader is logged and leaves it unknown: readiness does not depend on it.
func (s *Server) pollersReadiness(ctx context.Context) pollersReadiness {
	r := pollersReadiness{Node: s.leadership.Node(), Leading: s.leadership.Leading()}
	leader, err := s.leadership.Leader(ctx)
	if err != nil {
		s.log.Warn("readyz: could not read which node leads the pollers", "err", err)
		return r
	}
	r.Leader, r.LeaderSince = leader.Node, timeOrNil(leader.Since)
	return r
}
