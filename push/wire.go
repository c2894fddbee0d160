package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tocsinhq/tocsin/alerts"
)

// The messages of the wire protocol, server to client. Each is one JSON
// object per text frame, "type" first; encoding/json keeps the fields in
// struct order, and renders alerts exactly as the REST API does.

// helloFrame opens every connection: the user it serves and the newest seq
// of the user's inbox.
type helloFrame struct {
	Type string `json:"type"`
	User int64  `json:"user"`
	Seq  int64  `json:"seq"`
}

// notificationFrame is one inbox row.
type notificationFrame struct {
	Type  string                   `json:"type"`
	Seq   int64                    `json:"seq"`
	Event alerts.NotificationEvent `json:"event"`
	Alert *alerts.Alert            `json:"alert"`
	At    time.Time                `json:"at"`
}

// configFrame tells an admin of a change to the rules: seq is the version of
// the routing snapshot that holds it.
type configFrame struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Change string `json:"change"`
	ID     int64  `json:"id"`
}

// errorFrame reports a bad frame, a failed command or an expired since.
type errorFrame struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// AlertID is the alert of the command that failed.
	AlertID int64 `json:"alert_id,omitempty"`
	// Field names the input at fault, as REST errors do ("state" for a
	// conflict).
	Field string `json:"field,omitempty"`
	// State is the alert's state, on a conflict.
	State alerts.State `json:"state,omitempty"`
	// Seq is the oldest seq kept, on since_expired.
	Seq int64 `json:"seq,omitempty"`
}

// Error codes of error frames.
const (
	codeBadFrame     = "bad_frame"
	codeSinceExpired = "since_expired"
	codeNotFound     = "not_found"
	codeConflict     = "conflict"
	codeInvalid      = "invalid"
	codeForbidden    = "forbidden"
	codeUnavailable  = "unavailable"
	codeInternal     = "internal"
)

// messageKind tells the writer what a queued message is.
type messageKind uint8

const (
	// kindData is a text frame.
	kindData messageKind = iota
	// kindPing is a ping control frame.
	kindPing
)

// message is a frame queued for one or more connections. It is never
// changed once made, so every connection of a group shares it.
type message struct {
	kind messageKind
	// seq is the inbox seq of a notification; 0 for every other message.
	seq int64
	// data is the encoded frame.
	data []byte
	// at is when the notification was committed, for the delivery lag;
	// zero for other messages.
	at time.Time
}

// encode returns v, a frame, as a data message.
func encode(v any) (*message, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("push: encode %T: %w", v, err)
	}
	return &message{kind: kindData, data: data}, nil
}

// encodeNotification returns n as a message.
func encodeNotification(n alerts.Notification) (*message, error) {
	m, err := encode(notificationFrame{Type: "notification", Seq: n.Seq, Event: n.Event, Alert: n.Alert, At: n.At})
	if err != nil {
		return nil, err
	}
	m.seq, m.at = n.Seq, n.At
	return m, nil
}

// command is a frame a client sends: ack or resolve an alert.
type command struct {
	Type    string `json:"type"`
	AlertID *int64 `json:"alert_id"`
}

// errBadFrame is the class of frames that are not a valid command; its
// wrappers' messages are safe to show to the client.
var errBadFrame = errors.New("bad frame")

// parseCommand parses a text frame strictly: one JSON object, no unknown or
// duplicate field, a known type and a positive alert_id. Its errors wrap
// errBadFrame and say what is wrong.
func parseCommand(data []byte) (alerts.ActionKind, int64, error) {
	var cmd command
	if err := jsonv2.Unmarshal(data, &cmd, jsonv2.RejectUnknownMembers(true)); err != nil {
		return "", 0, fmt.Errorf("%w: want a JSON object such as {\"type\":\"ack\",\"alert_id\":41}: %v", errBadFrame, err)
	}
	var kind alerts.ActionKind
	switch cmd.Type {
	case "ack":
		kind = alerts.ActionAck
	case "resolve":
		kind = alerts.ActionResolve
	default:
		return "", 0, fmt.Errorf("%w: unknown type %q: want \"ack\" or \"resolve\"", errBadFrame, cmd.Type)
	}
	switch {
	case cmd.AlertID == nil:
		return "", 0, fmt.Errorf("%w: missing alert_id", errBadFrame)
	case *cmd.AlertID <= 0:
		return "", 0, fmt.Errorf("%w: alert_id must be a positive integer", errBadFrame)
	}
	return kind, *cmd.AlertID, nil
}
