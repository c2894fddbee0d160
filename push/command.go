package push

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/alerts"
)

// handle handles one frame from the client: a command, or a bad frame.
func (c *conn) handle(typ int, data []byte) {
	if c.isClosing() {
		return
	}
	if typ != websocket.TextMessage {
		c.badFrame("bad frame: send commands as JSON in text frames")
		return
	}
	kind, alertID, err := parseCommand(data)
	if err != nil {
		c.badFrame(err.Error())
		return
	}
	c.badFrames = 0
	c.act(kind, alertID)
}

// badFrame answers a bad frame with an error message, or closes the
// connection when it is the last of maxBadFrames in a row.
func (c *conn) badFrame(text string) {
	c.badFrames++
	if c.badFrames >= maxBadFrames {
		c.close(causeBadFrames)
		return
	}
	c.sendError(errorFrame{Code: codeBadFrame, Message: text})
}

// act applies a command for the connection's user. Success says nothing:
// the inbox rows it writes reach the devices as notifications. Failure is
// answered with an error message.
func (c *conn) act(kind alerts.ActionKind, alertID int64) {
	h := c.hub
	if h.actor == nil {
		c.sendError(errorFrame{Code: codeUnavailable, AlertID: alertID, Message: "this server cannot act on alerts now"})
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, actTimeout)
	defer cancel()
	u := c.session.User
	_, err := h.actor.Act(ctx, alerts.Action{AlertID: alertID, Kind: kind, UserID: u.ID, User: u.Name})
	if err == nil || c.ctx.Err() != nil {
		return
	}
	f := c.commandError(err)
	f.AlertID = alertID
	if f.Code == codeConflict {
		f.State = c.alertState(alertID)
	}
	c.sendError(f)
}

// commandError classifies a failed command's error as the REST API does.
// Messages of alerts.Error values are for clients; other errors are logged
// and answered with "internal".
func (c *conn) commandError(err error) errorFrame {
	var (
		safe  *alerts.Error
		f     errorFrame
		known = true
	)
	switch {
	case errors.Is(err, alerts.ErrNotFound):
		f = errorFrame{Code: codeNotFound, Message: "no such alert"}
	case errors.Is(err, alerts.ErrConflict):
		f = errorFrame{Code: codeConflict, Message: "the alert's state does not allow this"}
	case errors.Is(err, alerts.ErrInvalid):
		f = errorFrame{Code: codeInvalid, Message: "invalid command"}
	case errors.Is(err, alerts.ErrForbidden), errors.Is(err, alerts.ErrUnauthorized):
		f = errorFrame{Code: codeForbidden, Message: "not allowed"}
	case errors.Is(err, alerts.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		f = errorFrame{Code: codeUnavailable, Message: "the server cannot act on alerts now; retry later"}
	default:
		known = false
		c.log.Error("push: command failed", slog.Any("error", err))
		f = errorFrame{Code: codeInternal, Message: "internal error; the server log has the details"}
	}
	if known && errors.As(err, &safe) {
		f.Message, f.Field = safe.Message, safe.Field
	}
	return f
}

// alertState returns the alert's state, when the store can tell it, for a
// conflict's error message; "" when it cannot.
func (c *conn) alertState(alertID int64) alerts.State {
	r, ok := c.hub.store.(alertReader)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(c.ctx, storeTimeout)
	defer cancel()
	a, err := r.Alert(ctx, alertID)
	if err != nil {
		return ""
	}
	return a.State
}

// sendError queues an error message.
func (c *conn) sendError(f errorFrame) {
	f.Type = "error"
	m, err := encode(f)
	if err != nil {
		c.log.Error("push: drop an error message", slog.Any("error", err))
		return
	}
	c.send(m)
}
