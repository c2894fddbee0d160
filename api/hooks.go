package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// AlertQueue takes alerts in and acts on them: *alerts.AlertQueue
// implements it.
type AlertQueue interface {
	// Submit queues one request's events, taken whole, and returns once
	// they are committed; an ErrUnavailable error when the queue is full or
	// the store fails, with nothing of them stored.
	Submit(ctx context.Context, events []alerts.Event) error
	// Act acknowledges or resolves an alert for a person, returning the
	// changed alert; ErrNotFound and ErrConflict as the store returns them.
	Act(ctx context.Context, act alerts.Action) (alerts.Alert, error)
}

// noAlerts is the AlertQueue of a server given none: it takes no alerts.
type noAlerts struct{}

// errNoAlerts is what a server with no alert queue answers.
var errNoAlerts = &alerts.Error{Kind: alerts.ErrUnavailable, Message: "this server takes no alerts"}

func (noAlerts) Submit(context.Context, []alerts.Event) error { return errNoAlerts }

func (noAlerts) Act(context.Context, alerts.Action) (alerts.Alert, error) {
	return alerts.Alert{}, errNoAlerts
}

// hookMetrics count webhook requests and the alerts they carry.
type hookMetrics struct {
	requests *prometheus.CounterVec
	alerts   *prometheus.CounterVec
}

// The outcomes of a webhook request, as metrics label them.
const (
	hookAccepted     = "accepted"
	hookInvalid      = "invalid"
	hookUnauthorized = "unauthorized"
	hookUnavailable  = "unavailable"
	hookFailed       = "error"
)

// unknownSource is the source label of requests to a source that does not
// exist, so that made-up names cannot grow the metrics.
const unknownSource = "unknown"

func newHookMetrics(reg prometheus.Registerer) *hookMetrics {
	m := &hookMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_webhook_requests_total",
			Help: "Webhook requests answered, by source and outcome (accepted, invalid, unauthorized, unavailable, error).",
		}, []string{"source", "outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_alerts_received_total",
			Help: "Alerts in well-formed webhook requests, by source and outcome (accepted: committed; unavailable: refused with 503).",
		}, []string{"source", "outcome"}),
	}
	reg.MustRegister(m.requests, m.alerts)
	return m
}

// receiveHook takes a webhook at /hooks/:source, of any kind of source.
func (s *Server) receiveHook(c echo.Context) error {
	return s.receive(c, sources.EndpointHook)
}

// receivePrometheus takes Prometheus's own alert batches at
// /hooks/:source/api/v2/alerts, the path Prometheus posts to when its
// alertmanagers entry has path_prefix /hooks/NAME.
func (s *Server) receivePrometheus(c echo.Context) error {
	return s.receive(c, sources.EndpointPrometheus)
}

// receive authenticates a webhook as its source, parses it whole, and
// answers 202 once its alerts are committed.
func (s *Server) receive(c echo.Context, ep sources.Endpoint) error {
	label := unknownSource
	err := s.receiveFrom(c, ep, &label)
	outcome := hookAccepted
	switch {
	case err == nil:
	case errors.Is(err, alerts.ErrInvalid), errors.Is(err, alerts.ErrNotFound),
		isHTTPStatus(err, http.StatusRequestEntityTooLarge):
		outcome = hookInvalid
	case errors.Is(err, alerts.ErrUnauthorized):
		outcome = hookUnauthorized
	case errors.Is(err, alerts.ErrUnavailable):
		outcome = hookUnavailable
	default:
		outcome = hookFailed
	}
	s.hooks.requests.WithLabelValues(label, outcome).Inc()
	return err
}

// receiveFrom does receive's work, setting *label to the source's name once
// the source is known.
func (s *Server) receiveFrom(c echo.Context, ep sources.Endpoint, label *string) error {
	ctx := c.Request().Context()
	body, err := readBody(c)
	if err != nil {
		return err
	}
	name := c.Param("source")
	src, err := s.hookSource(c, name)
	if err != nil {
		return err
	}
	*label = src.Name
	if err := src.Authenticate(c.Request().Header, body); err != nil {
		s.log.Warn("webhook refused: bad credentials", "source", src.Name, "remote_ip", c.RealIP(), "err", err)
		if errors.Is(err, alerts.ErrUnauthorized) {
			return errUnknownSource
		}
		return err
	}
	if err := requireJSON(c); err != nil {
		return err
	}
	events, err := src.Parse(ep, body, s.now(), sources.Limits{MaxAlerts: s.maxAlerts})
	if err != nil {
		return err
	}
	if err := s.alerts.Submit(ctx, events); err != nil {
		if ctx.Err() != nil {
			// The request ended (a forced shutdown) before the answer:
			// whether the alerts are committed is not known, so the sender
			// must send them again.
			err = errStoreUnavailable
		}
		if errors.Is(err, alerts.ErrUnavailable) {
			s.hooks.alerts.WithLabelValues(src.Name, hookUnavailable).Add(float64(len(events)))
		}
		return err
	}
	s.hooks.alerts.WithLabelValues(src.Name, hookAccepted).Add(float64(len(events)))
	return c.JSON(http.StatusAccepted, map[string]any{"status": "accepted", "alerts": len(events)})
}

// errUnknownSource is the answer to a webhook for a source that does not
// exist, or whose credentials are missing or wrong: one 401 for all, so that
// a stranger cannot learn which sources exist. The log says which it was.
var errUnknownSource = &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "unknown source or bad credentials"}

// hookSource returns the source a webhook names.
func (s *Server) hookSource(c echo.Context, name string) (sources.Source, error) {
	if alerts.ValidateName("source", name) != nil {
		return sources.Source{}, errUnknownSource
	}
	src, err := s.sources.get(c.Request().Context(), name)
	switch {
	case errors.Is(err, alerts.ErrNotFound):
		s.log.Warn("webhook refused: no such source", "source", name, "remote_ip", c.RealIP())
		return sources.Source{}, errUnknownSource
	case err != nil:
		s.log.Error("webhook refused: the store did not answer", "source", name, "err", err)
		return sources.Source{}, errStoreUnavailable
	}
	return src, nil
}

// errStoreUnavailable is the answer to a webhook when the store cannot be
// read, or the request ends before its alerts are committed: a 503 that
// the sender retries, as for a full queue.
var errStoreUnavailable = &alerts.Error{Kind: alerts.ErrUnavailable, Message: "the alerts could not be taken now; retry later"}

// readBody reads the whole request body, answering 413 past the body limit.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, errBodyTooLarge(tooLarge.Limit)
	}
	if err != nil {
		return nil, alerts.Invalid("", "could not read the body: %v", err)
	}
	return body, nil
}

// requireJSON refuses, with 400 on the field Content-Type, a webhook whose
// body is not declared as JSON: application/json or a type ending in +json.
func requireJSON(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return alerts.Invalid("Content-Type", "must be application/json, got %q", ct)
	}
	return nil
}

// isHTTPStatus reports whether err is an echo.HTTPError with the status code.
func isHTTPStatus(err error, code int) bool {
	he, ok := errors.AsType[*echo.HTTPError](err)
	return ok && he.Code == code
}
