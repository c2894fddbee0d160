package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/storage"
)

// listAlerts answers a page of alerts, newest first, that the query selects:
// ?state= (repeated or comma-separated), ?filter= (matchers, repeated, as
// Alertmanager's API takes them), ?source=, and ?since= / ?until= (RFC 3339:
// alerts active at some moment between them).
func (s *Server) listAlerts(c echo.Context) error {
	page, err := exactPageQuery(c)
	if err != nil {
		return err
	}
	f, err := alertFilter(c)
	if err != nil {
		return err
	}
	list, next, err := s.store.Alerts(c.Request().Context(), f, page)
	if err != nil {
		return err
	}
	if list == nil {
		list = []alerts.Alert{}
	}
	return c.JSON(http.StatusOK, listPage[alerts.Alert]{Items: list, NextCursor: encodeCursor(next)})
}

// alertFilter reads listAlerts' query into a storage.AlertFilter.
func alertFilter(c echo.Context) (storage.AlertFilter, error) {
	var f storage.AlertFilter
	q := c.QueryParams()
	for _, param := range q["state"] {
		for state := range strings.SplitSeq(param, ",") {
			st := alerts.State(strings.TrimSpace(state))
			if st != alerts.StateFiring && st != alerts.StateAcknowledged && st != alerts.StateResolved {
				return f, alerts.Invalid("state", `must be "firing", "acknowledged" or "resolved", got %q`, st)
			}
			if !slices.Contains(f.States, st) {
				f.States = append(f.States, st)
			}
		}
	}
	for _, expr := range q["filter"] {
		ms, err := alerts.ParseMatchers(expr)
		if err != nil {
			if e, ok := errors.AsType[*alerts.Error](err); ok {
				return f, alerts.Invalid("filter", "%s", e.Message)
			}
			return f, err
		}
		f.Matchers = append(f.Matchers, ms...)
	}
	f.Source = c.QueryParam("source")
	var err error
	if f.Since, err = queryTime(c, "since"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(c, "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, alerts.Invalid("until", "is before since")
	}
	return f, nil
}

// queryTime reads the optional RFC 3339 time of the query parameter name;
// the zero time when it is absent.
func queryTime(c echo.Context, name string) (time.Time, error) {
	q := c.QueryParam(name)
	if q == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, q)
	if err != nil {
		return time.Time{}, alerts.Invalid(name, "must be an RFC 3339 time such as 2027-01-31T00:00:00Z, got %q", q)
	}
	return t, nil
}

// getAlert answers one alert with its history.
func (s *Server) getAlert(c echo.Context) error {
	a, err := readObject(c, s.store.Alert)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// ackAlert acknowledges an alert for the caller.
func (s *Server) ackAlert(c echo.Context) error {
	return s.act(c, alerts.ActionAck)
}

// resolveAlert resolves an alert for the caller.
func (s *Server) resolveAlert(c echo.Context) error {
	return s.act(c, alerts.ActionResolve)
}

// act applies the caller's action to the alert of the path, answering the
// changed alert, or 409 naming its state when the state does not allow it.
func (s *Server) act(c echo.Context, kind alerts.ActionKind) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u := caller(c)
	a, err := s.alerts.Act(c.Request().Context(), alerts.Action{AlertID: id, Kind: kind, UserID: u.ID, User: u.Name})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// listInbox answers the caller's own inbox rows, oldest first, after
// ?since= (a seq; 0 or absent from the start) or after ?cursor=, a page at a
// time.
func (s *Server) listInbox(c echo.Context) error {
	page, err := exactPageQuery(c)
	if err != nil {
		return err
	}
	since, err := querySeq(c, "since")
	if err != nil {
		return err
	}
	if since != 0 && page.Cursor != 0 {
		return alerts.Invalid("cursor", "give since or cursor, not both")
	}
	since = max(since, page.Cursor)
	rows, err := s.store.Inbox(c.Request().Context(), caller(c).ID, since, page.Limit)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []alerts.Notification{}
	}
	var next int64
	if len(rows) == page.Limit {
		next = rows[len(rows)-1].Seq
	}
	return c.JSON(http.StatusOK, listPage[alerts.Notification]{Items: rows, NextCursor: encodeCursor(next)})
}

// querySeq reads the optional query parameter name as a seq: an integer of
// 0 or more; 0 when it is absent.
func querySeq(c echo.Context, name string) (int64, error) {
	q := c.QueryParam(name)
	if q == "" {
		return 0, nil
	}
	return parseSeq(name, q)
}

// parseSeq parses s, the value of the parameter name, as a seq: an integer
// of 0 or more.
func parseSeq(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, alerts.Invalid(name, "must be a seq: an integer of 0 or more, got %q", s)
	}
	return n, nil
}
