package storage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// alertSequence is the sequence that alert IDs come from.
const alertSequence = "alerts"

// idRange is a run of IDs taken from a sequence: from next up to, not
// including, end.
type idRange struct{ next, end int64 }

// take returns the next ID of the range.
func (r *idRange) take() (int64, error) {
	if r.next >= r.end {
		return 0, fmt.Errorf("storage: the batch opened more alerts than the IDs taken for it")
	}
	r.next++
	return r.next - 1, nil
}

// takeIDs takes n IDs from the alert sequence, in x: the store's pool or a
// transaction, as the dialect wants.
func (db *DB) takeIDs(ctx context.Context, x execQueryer, n int) (idRange, error) {
	next, err := db.dialect.takeIDs(ctx, x, alertSequence, n)
	if err != nil {
		return idRange{}, fmt.Errorf("storage: take %d alert IDs: %w", n, err)
	}
	return idRange{next: next - int64(n), end: next}, nil
}

// CommitEvents applies events, in order, in one transaction, as
// alerts.AlertStore says: it locks the open alerts of the events'
// fingerprints, decides each event's step with alerts.Receive against r,
// and writes the alerts, their history and the inbox rows of the steps'
// recipients. The returned notifications share one alert value per alert:
// the alert as the batch left it.
//
// The IDs of the alerts the batch may open are taken first; on MySQL in a
// statement of their own, so that the sequence is not locked until the batch
// commits. IDs the batch did not use are never used.
//
// The transaction is run again when the database breaks a deadlock, or when
// a concurrent transaction opened an alert for a fingerprint that this one
// meant to open too, which the next run finds; five times at most. On error
// nothing of the batch is stored.
func (db *DB) CommitEvents(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error) {
	if len(events) == 0 {
		return alerts.Committed{Outcomes: []alerts.Outcome{}}, nil
	}
	firing := 0
	fps := make([]int64, 0, len(events))
	for _, ev := range events {
		if ev.Status != alerts.StatusResolved {
			firing++ // only a firing event may open an alert
		}
		fps = append(fps, int64(ev.Fingerprint))
	}
	// In index order, so that concurrent batches lock the alerts they share
	// in the same order.
	slices.Sort(fps)
	fps = slices.Compact(fps)

	var taken idRange
	if firing > 0 && !db.dialect.idsInTx {
		var err error
		if taken, err = db.takeIDs(ctx, db.sql, firing); err != nil {
			return alerts.Committed{}, err
		}
	}
	var committed alerts.Committed
	err := db.inTxWith(ctx, db.dialect.ingest, true, func(tx *sql.Tx) error {
		ids := taken // a run again uses the IDs again: the failed run stored none
		if firing > 0 && db.dialect.idsInTx {
			var err error
			if ids, err = db.takeIDs(ctx, tx, firing); err != nil {
				return err
			}
		}
		open, err := db.lockOpenAlerts(ctx, tx, fps)
		if err != nil {
			return err
		}
		now := db.nowTime()
		steps := make([]alerts.Step, 0, len(events))
		outcomes := make([]alerts.Outcome, len(events))
		for i, ev := range events {
			ev.StartsAt, ev.EndsAt = storedTime(ev.StartsAt), storedTime(ev.EndsAt)
			s := alerts.Receive(open[ev.Fingerprint], ev, r, now)
			outcomes[i] = s.Outcome
			if s.Alert == nil {
				continue
			}
			if s.Opened {
				if s.Alert.ID, err = ids.take(); err != nil {
					return err
				}
			}
			if s.Alert.State.Open() {
				open[ev.Fingerprint] = s.Alert
			} else {
				delete(open, ev.Fingerprint)
			}
			steps = append(steps, s)
		}
		ns, err := db.writeSteps(ctx, tx, steps, now)
		committed = alerts.Committed{Notifications: ns, Outcomes: outcomes}
		return err
	})
	if err != nil {
		return alerts.Committed{}, fmt.Errorf("storage: commit %d events: %w", len(events), err)
	}
	return committed, nil
}

// storedTime is t as the store keeps it, in whole milliseconds and UTC; the
// zero time stays zero.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return fromMillis(millis(t))
}

// lockOpenAlerts reads, and locks until tx ends, the open alerts of the
// fingerprints fps, which are in ascending order.
func (db *DB) lockOpenAlerts(ctx context.Context, tx *sql.Tx, fps []int64) (map[alerts.Fingerprint]*alerts.Alert, error) {
	open := make(map[alerts.Fingerprint]*alerts.Alert, len(fps))
	err := forKeys(fps, func(in string, args []any) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT `+alertColumns+` FROM alerts`+db.dialect.openIndex+` WHERE open_fingerprint IN (`+in+`)`+db.dialect.forUpdate, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			open[a.Fingerprint] = &a
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: lock open alerts: %w", err)
	}
	return open, nil
}

// ActOnAlert applies act to its alert in one transaction, as
// alerts.AlertStore says: it locks the alert, decides the step with
// alerts.Act against r, and writes the alert, its history entry and the
// inbox rows of the step's recipients. It returns the changed alert and the
// inbox rows, which share it.
//
// It returns alerts.ErrNotFound when there is no such alert, and Act's
// errors: alerts.ErrConflict on "state" when the alert's state does not
// allow act, alerts.ErrInvalid for an unknown action.
func (db *DB) ActOnAlert(ctx context.Context, act alerts.Action, r alerts.Router) (alerts.Alert, []alerts.Notification, error) {
	var (
		changed alerts.Alert
		ns      []alerts.Notification
	)
	err := db.inTxWith(ctx, db.dialect.ingest, false, func(tx *sql.Tx) error {
		a, err := db.alertWhere(ctx, tx, "id = ?"+db.dialect.forUpdate, act.AlertID)
		if err != nil {
			return err
		}
		now := db.nowTime()
		s, err := alerts.Act(a, act, r, now)
		if err != nil {
			return err
		}
		if ns, err = db.writeSteps(ctx, tx, []alerts.Step{s}, now); err != nil {
			return fmt.Errorf("storage: %s alert %d: %w", act.Kind, act.AlertID, err)
		}
		changed = *s.Alert
		return nil
	})
	if err != nil {
		return alerts.Alert{}, nil, err
	}
	return changed, ns, nil
}

// writeSteps writes steps, decided in this order in tx at now: each alert
// as the last of its steps leaves it (a new one inserted, a changed one
// updated), the steps' history entries, and the inbox rows of each step's
// recipients. It returns the inbox rows in the order written; their alerts
// are the steps' last alerts.
func (db *DB) writeSteps(ctx context.Context, tx *sql.Tx, steps []alerts.Step, now time.Time) ([]alerts.Notification, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	last := make(map[int64]*alerts.Alert, len(steps))
	opened := make(map[int64]bool)
	for _, s := range steps {
		last[s.Alert.ID] = s.Alert
		if s.Opened {
			opened[s.Alert.ID] = true
		}
	}
	if err := db.writeAlerts(ctx, tx, last, opened); err != nil {
		return nil, err
	}
	if err := writeHistory(ctx, tx, steps); err != nil {
		return nil, err
	}
	return db.writeInbox(ctx, tx, steps, last, opened, now)
}

// writeAlerts updates the alerts of last that tx has locked, then inserts
// those that opened.
func (db *DB) writeAlerts(ctx context.Context, tx *sql.Tx, last map[int64]*alerts.Alert, opened map[int64]bool) error {
	var added, changed []*alerts.Alert
	for id, a := range last {
		if opened[id] {
			added = append(added, a)
		} else {
			changed = append(changed, a)
		}
	}
	// New alerts in fingerprint order, so that concurrent batches opening
	// the same ones meet on the first they share, and changed ones in ID
	// order; both so that each batch writes in an order of its own.
	slices.SortFunc(added, func(a, b *alerts.Alert) int {
		return cmp.Or(cmp.Compare(int64(a.Fingerprint), int64(b.Fingerprint)), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(changed, func(a, b *alerts.Alert) int { return cmp.Compare(a.ID, b.ID) })

	head := `INSERT INTO alerts (` + alertWriteColumns + `) VALUES `
	cols := strings.Count(alertWriteColumns, ",") + 1
	// A changed alert is written whole over its row: it collides on its ID
	// only, since it holds its own open_fingerprint, if any. Changed alerts
	// go first: one that the batch resolved gives up its open_fingerprint,
	// which an alert the batch opened next may take.
	updates := newRowWriter(tx, head, cols, db.dialect.upsert("id", "state", "open_fingerprint", "silenced", "annotations",
		"generator_url", "ends_at", "last_seen_at", "count", "acked_by", "acked_by_id", "acked_at", "resolved_by", "resolved_at",
		"updated_at"))
	// A new alert is inserted without an upsert clause: if a concurrent
	// batch opened its fingerprint first, the unique key on open_fingerprint
	// must fail the batch, which then runs again and finds that alert.
	inserts := newRowWriter(tx, head, cols, "")
	for _, w := range []struct {
		rows *rowWriter
		list []*alerts.Alert
	}{{updates, changed}, {inserts, added}} {
		for _, a := range w.list {
			args, err := alertArgs(a)
			if err != nil {
				return fmt.Errorf("storage: write alerts: %w", err)
			}
			if err := w.rows.add(ctx, args...); err != nil {
				return fmt.Errorf("storage: write alerts: %w", err)
			}
		}
		if err := w.rows.flush(ctx); err != nil {
			return fmt.Errorf("storage: write alerts: %w", err)
		}
	}
	return nil
}

// writeHistory inserts the history entries of steps, in order.
func writeHistory(ctx context.Context, tx *sql.Tx, steps []alerts.Step) error {
	rows := newRowWriter(tx, `INSERT INTO alert_history (alert_id, at, kind, actor, actor_id) VALUES `, 5, "")
	for _, s := range steps {
		for _, e := range s.History {
			var actorID sql.NullInt64
			if e.ActorID != 0 {
				actorID = sql.NullInt64{Int64: e.ActorID, Valid: true}
			}
			if err := rows.add(ctx, s.Alert.ID, millis(e.At), e.Kind, e.Actor, actorID); err != nil {
				return fmt.Errorf("storage: write alert history: %w", err)
			}
		}
	}
	if err := rows.flush(ctx); err != nil {
		return fmt.Errorf("storage: write alert history: %w", err)
	}
	return nil
}
