package alerts

import "context"

// AlertStore is what the alert queue needs of the store. *storage.DB
// implements it.
type AlertStore interface {
	// CommitEvents applies events, in order, in one transaction: for each
	// it locks the open alert of its fingerprint, decides the step with
	// Receive, and writes the alert, its history entries, and one inbox row
	// per recipient of the step (Step.Recipients). It returns the committed
	// inbox rows, in commit order (each user's in ascending Seq), and the
	// outcome of each event. On error nothing of the batch is stored. A
	// database-enforced key keeps at most one open alert per fingerprint,
	// whatever other transactions, on this node or another, do meanwhile.
	CommitEvents(ctx context.Context, events []Event, r Router) (Committed, error)
	// ActOnAlert applies act to its alert in one transaction, as Act
	// decides, writing the alert, its history entry and the inbox rows of
	// the step's recipients. It returns the changed alert and the committed
	// inbox rows; ErrNotFound when there is no such alert, and Act's
	// ErrConflict when the alert's state does not allow act.
	ActOnAlert(ctx context.Context, act Action, r Router) (Alert, []Notification, error)
}

// Committed is what a committed batch of events did.
type Committed struct {
	// Notifications are the inbox rows written, in commit order.
	Notifications []Notification
	// Outcomes are the outcome of each event, in the events' order.
	Outcomes []Outcome
}

// Notifier is told of inbox rows once they are committed: the push hub
// implements it.
type Notifier interface {
	// Notify hands over committed inbox rows, in commit order. It is called
	// on the goroutine that committed them and must not block. The
	// notifications and their alerts must not be changed.
	Notify(ns []Notification)
}
