package api

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tocsinhq/tocsin/alerts"
)

// noRules is the Rules of a server given none: changes take effect nowhere,
// and every label set is tested against empty rules.
type noRules struct{}

func (noRules) Apply(context.Context, alerts.ConfigChange) error { return nil }

func (noRules) Snapshot() *alerts.Snapshot {
	return alerts.NewSnapshot(0, alerts.Rules{}, time.Time{})
}

// apply hands a committed change to the rules and waits until it is in
// effect, so that the answer that follows describes the rules in use: a
// POST /routes/test right after it sees the change. When the request ends
// first, the change stays committed and takes effect when the queue reaches
// it (at the latest at its next resync from the store); that is worth a
// warning, not an error, since the write itself succeeded.
func (s *Server) apply(c echo.Context, object string, id int64, action string, version int64) {
	if object == objectSource {
		s.sources.clear()
	}
	change := alerts.ConfigChange{Object: object, ID: id, Action: action, Version: version}
	if err := s.rules.Apply(c.Request().Context(), change); err != nil {
		s.log.Warn("change committed but not yet in effect when answered",
			"object", change.Object, "id", change.ID, "action", change.Action, "version", change.Version,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	}
}

// The actions of config changes that are not audit actions.
const (
	changeReorder = "reorder"
	changeExpire  = "expire"
)
