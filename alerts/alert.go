package alerts

import (
	"time"
)

// State is where an alert is in its lifecycle: firing, then (optionally)
// acknowledged, then resolved. A resolved alert never changes again; the same
// labels firing again open a new alert.
type State string

// The states of an alert.
const (
	StateFiring       State = "firing"
	StateAcknowledged State = "acknowledged"
	StateResolved     State = "resolved"
)

// Open reports whether an alert in state s may still change: it is firing or
// acknowledged. At most one alert per fingerprint is open at a time.
func (s State) Open() bool { return s == StateFiring || s == StateAcknowledged }

// Status is what a sender says of an alert: it fires, or it has resolved.
type Status string

// The statuses an Event carries.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Event is one alert as a sender reported it: a webhook's alert after
// parsing, or a poller's check result. Receivers build events; the alert
// queue turns them into changes to stored alerts.
type Event struct {
	// Fingerprint is Labels.Fingerprint(), computed once by the receiver.
	Fingerprint Fingerprint
	Labels      Labels
	Annotations map[string]string
	Status      Status
	// StartsAt is when the sender says the alert began; the zero time means
	// it did not say, and the receive time is used.
	StartsAt time.Time
	// EndsAt is when the sender says the alert ended (resolved events), or
	// the zero time.
	EndsAt       time.Time
	GeneratorURL string
	// Source is the name of the source that sent it.
	Source string
}

// Alert is one incident: the labels of Fingerprint firing from StartsAt until
// it is resolved. While open (firing or acknowledged) further firing events
// for the same labels update it; once resolved, the same labels firing again
// open a new Alert.
type Alert struct {
	ID          int64             `json:"id"`
	Fingerprint Fingerprint       `json:"fingerprint"`
	State       State             `json:"state"`
	Labels      Labels            `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// Source is the name of the source that opened it.
	Source       string `json:"source"`
	GeneratorURL string `json:"generator_url"`
	// Silenced is whether a silence covered it when it last changed: a
	// silenced alert is stored, and nobody is notified of it.
	Silenced bool      `json:"silenced"`
	StartsAt time.Time `json:"starts_at"`
	// EndsAt is when it ended, once resolved: the sender's end time, or the
	// time it was resolved by hand.
	EndsAt     *time.Time `json:"ends_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	// Count is how many firing events it has received.
	Count      int64      `json:"count"`
	AckedBy    string     `json:"acked_by,omitempty"`
	AckedByID  int64      `json:"acked_by_id,omitempty"`
	AckedAt    *time.Time `json:"acked_at"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// History is the alert's events, oldest first; set only when one alert
	// is read on its own.
	History []HistoryEntry `json:"history,omitempty"`
}

// HistoryKind names a change in an alert's history.
type HistoryKind string

// The kinds of history entry.
const (
	// HistoryFired: the alert opened.
	HistoryFired HistoryKind = "fired"
	// HistoryUpdated: a repeated firing changed its annotations or link.
	// Repeats that change nothing else only raise Count and LastSeenAt.
	HistoryUpdated HistoryKind = "updated"
	// HistorySilenced: a silence covers it; nobody is notified.
	HistorySilenced HistoryKind = "silenced"
	// HistoryUnsilenced: no silence covers it any more, and it still fires:
	// the routed users are notified now.
	HistoryUnsilenced   HistoryKind = "unsilenced"
	HistoryAcknowledged HistoryKind = "acknowledged"
	HistoryResolved     HistoryKind = "resolved"
)

// HistoryEntry is one change to an alert, with who made it and when.
type HistoryEntry struct {
	Kind HistoryKind `json:"kind"`
	At   time.Time   `json:"at"`
	// Actor is who made the change: a user's name, or "source:NAME" for a
	// source.
	Actor string `json:"actor"`
	// ActorID is the acting user's ID; 0 for a source.
	ActorID int64 `json:"actor_id,omitempty"`
}

// SourceActor is how an alert's history names the source called name.
func SourceActor(name string) string { return "source:" + name }

// NotificationEvent is what a notification tells a user of an alert.
type NotificationEvent string

// The events users are notified of.
const (
	NotifyFired        NotificationEvent = "fired"
	NotifyAcknowledged NotificationEvent = "acknowledged"
	NotifyResolved     NotificationEvent = "resolved"
)

// Notification is one row of a user's inbox: an event of an alert that the
// user must hear of. Seq numbers the user's inbox rows 1, 2, 3, ... in the
// order they were committed; it is the seq of the wire protocol.
type Notification struct {
	UserID int64             `json:"-"`
	Seq    int64             `json:"seq"`
	Event  NotificationEvent `json:"event"`
	// Alert is the alert as the event left it (when delivered live) or as
	// it is now (when read back from the inbox). It may be shared by the
	// notifications of several users and must not be changed.
	Alert *Alert    `json:"alert"`
	At    time.Time `json:"at"`
}

// ActionKind is what a person does to an alert.
type ActionKind string

// The actions on an alert.
const (
	ActionAck     ActionKind = "ack"
	ActionResolve ActionKind = "resolve"
)

// Action is a person acknowledging or resolving an alert.
type Action struct {
	AlertID int64
	Kind    ActionKind
	// UserID and User are the acting user's ID and name.
	UserID int64
	User   string
}
