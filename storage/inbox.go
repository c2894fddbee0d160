package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// writeInbox writes, in tx at now, one inbox row per recipient of each of
// steps, in order, and returns them; last holds each alert as the steps
// leave it, and opened the IDs of the alerts they opened. The recipients of
// a step are given the users told of its alert before: by earlier
// transactions and by earlier steps. It locks the inbox heads of the
// recipients, in ascending user ID, and skips a recipient with none: a user
// deleted since the routing snapshot was built.
func (db *DB) writeInbox(ctx context.Context, tx *sql.Tx, steps []alerts.Step, last map[int64]*alerts.Alert, opened map[int64]bool, now time.Time) ([]alerts.Notification, error) {
	var (
		notify bool
		ask    []int64 // alerts older than tx that a step notifies of
	)
	for _, s := range steps {
		if s.Notify == "" {
			continue
		}
		notify = true
		if !opened[s.Alert.ID] {
			ask = append(ask, s.Alert.ID)
		}
	}
	if !notify {
		return nil, nil
	}
	slices.Sort(ask)
	told, err := toldUsers(ctx, tx, slices.Compact(ask))
	if err != nil {
		return nil, err
	}
	type delivery struct {
		step  int
		users []int64
	}
	var (
		deliveries []delivery
		everyone   []int64
	)
	for i, s := range steps {
		users := s.Recipients(told[s.Alert.ID])
		if len(users) == 0 {
			continue
		}
		deliveries = append(deliveries, delivery{i, users})
		everyone = append(everyone, users...)
		told[s.Alert.ID] = union(told[s.Alert.ID], users)
	}
	if len(deliveries) == 0 {
		return nil, nil
	}
	slices.Sort(everyone)
	heads, err := db.lockInboxHeads(ctx, tx, slices.Compact(everyone))
	if err != nil {
		return nil, err
	}

	var ns []alerts.Notification
	rows := newRowWriter(tx, `INSERT INTO inbox (user_id, seq, alert_id, event, created_at) VALUES `, 5, "")
	for _, d := range deliveries {
		s := steps[d.step]
		for _, u := range d.users {
			seq, ok := heads[u]
			if !ok {
				continue // deleted meanwhile
			}
			seq++
			heads[u] = seq
			ns = append(ns, alerts.Notification{UserID: u, Seq: seq, Event: s.Notify, Alert: last[s.Alert.ID], At: now})
			if err := rows.add(ctx, u, seq, s.Alert.ID, s.Notify, millis(now)); err != nil {
				return nil, fmt.Errorf("storage: write inbox: %w", err)
			}
		}
	}
	if err := rows.flush(ctx); err != nil {
		return nil, fmt.Errorf("storage: write inbox: %w", err)
	}

	// The heads move on, in one statement: each row exists and is locked,
	// so the upsert always updates.
	moved := newRowWriter(tx, `INSERT INTO inbox_heads (user_id, seq) VALUES `, 2, db.dialect.upsert("user_id", "seq"))
	for _, u := range everyone {
		if seq, ok := heads[u]; ok {
			if err := moved.add(ctx, u, seq); err != nil {
				return nil, fmt.Errorf("storage: move inbox heads: %w", err)
			}
		}
	}
	if err := moved.flush(ctx); err != nil {
		return nil, fmt.Errorf("storage: move inbox heads: %w", err)
	}
	return ns, nil
}

// union returns the sorted union of two ascending lists of IDs.
func union(a, b []int64) []int64 {
	all := slices.Concat(a, b)
	slices.Sort(all)
	return slices.Compact(all)
}

// toldUsers returns, for each of the given alerts (ascending IDs), the
// users that its inbox rows name, ascending. Only a transaction that holds
// an alert's lock writes its inbox rows, so while tx holds it no other
// transaction adds to them.
func toldUsers(ctx context.Context, tx *sql.Tx, alertIDs []int64) (map[int64][]int64, error) {
	told := make(map[int64][]int64, len(alertIDs))
	err := queryPairs(ctx, tx, alertIDs, func(in string) string {
		return `SELECT DISTINCT alert_id, user_id FROM inbox WHERE alert_id IN (` + in + `) ORDER BY alert_id, user_id`
	}, func(alert, user int64) { told[alert] = append(told[alert], user) })
	if err != nil {
		return nil, fmt.Errorf("storage: read whom alerts were told to: %w", err)
	}
	return told, nil
}

// lockInboxHeads reads, and locks until tx ends, the inbox heads of users
// (ascending IDs): each user's last seq. A user without one is left out.
func (db *DB) lockInboxHeads(ctx context.Context, tx *sql.Tx, users []int64) (map[int64]int64, error) {
	heads := make(map[int64]int64, len(users))
	err := queryPairs(ctx, tx, users, func(in string) string {
		return `SELECT user_id, seq FROM inbox_heads WHERE user_id IN (` + in + `) ORDER BY user_id` + db.dialect.forUpdate
	}, func(user, seq int64) { heads[user] = seq })
	if err != nil {
		return nil, fmt.Errorf("storage: lock inbox heads: %w", err)
	}
	return heads, nil
}

// queryPairs runs the query that query makes of an IN list, for keys in
// chunks, and calls each with the two integer columns of every row.
func queryPairs(ctx context.Context, tx *sql.Tx, keys []int64, query func(in string) string, each func(a, b int64)) error {
	return forKeys(keys, func(in string, args []any) error {
		rows, err := tx.QueryContext(ctx, query(in), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, b int64
			if err := rows.Scan(&a, &b); err != nil {
				return err
			}
			each(a, b)
		}
		return rows.Err()
	})
}

// Inbox returns up to limit of the user's inbox rows with a seq above
// since, in ascending seq, each with its alert as it is now: rows of one
// alert share one value. A user with no rows, or no such user, has an empty
// inbox. It returns alerts.ErrInvalid on "limit" when limit is below 1.
func (db *DB) Inbox(ctx context.Context, userID, since int64, limit int) ([]alerts.Notification, error) {
	if limit < 1 {
		return nil, alerts.Invalid("limit", "must be at least 1, got %d", limit)
	}
	rows, err := db.sql.QueryContext(ctx,
		`SELECT i.seq, i.event, i.created_at, `+prefixed("a.", alertColumns)+`
		 FROM inbox i JOIN alerts a ON a.id = i.alert_id
		 WHERE i.user_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?`, userID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: read inbox: %w", err)
	}
	defer rows.Close()
	var (
		ns   []alerts.Notification
		seen = map[int64]*alerts.Alert{}
	)
	for rows.Next() {
		var (
			n  = alerts.Notification{UserID: userID}
			at int64
		)
		a, err := scanAlert(prefixScanner{rows, []any{&n.Seq, &n.Event, &at}})
		if err != nil {
			return nil, fmt.Errorf("storage: read inbox: %w", err)
		}
		n.At = fromMillis(at)
		if n.Alert = seen[a.ID]; n.Alert == nil {
			n.Alert = &a
			seen[a.ID] = &a
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read inbox: %w", err)
	}
	return ns, nil
}

// InboxBounds returns the oldest and newest seq of the user's inbox: newest
// is the user's inbox head (the seq of the last row ever written), oldest
// the lowest seq still stored. Both are 0 for a user with no rows, and for
// no such user. The two are read in one statement, so they agree.
func (db *DB) InboxBounds(ctx context.Context, userID int64) (oldest, newest int64, err error) {
	err = db.sql.QueryRowContext(ctx,
		`SELECT COALESCE((SELECT MIN(i.seq) FROM inbox i WHERE i.user_id = h.user_id), 0), h.seq
		 FROM inbox_heads h WHERE h.user_id = ?`, userID).Scan(&oldest, &newest)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("storage: read inbox bounds: %w", err)
	}
	return oldest, newest, nil
}
