package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

const alertColumns = `id, fingerprint, state, silenced, labels, annotations, source, generator_url, starts_at, ends_at,
	last_seen_at, count, acked_by, acked_by_id, acked_at, resolved_by, resolved_at, created_at, updated_at`

// alertWriteColumns are the columns a write of an alert sets: alertColumns
// and open_fingerprint, which the state implies. alertArgs gives their
// values.
const alertWriteColumns = alertColumns + `, open_fingerprint`

// maxAlertScan is how many alerts one call of Alerts reads at most when it
// filters them by label matchers, which it does in Go.
const maxAlertScan = 10_000

// alertScanChunk is how many alerts Alerts reads per statement when it
// filters them by label matchers.
const alertScanChunk = 1000

// AlertFilter selects alerts in a list. The zero filter selects every
// alert.
type AlertFilter struct {
	// States keeps the alerts in one of these states; none keeps every
	// state.
	States []alerts.State
	// Matchers keeps the alerts whose labels every matcher matches.
	Matchers alerts.Matchers
	// Source keeps the alerts that this source opened; "" keeps every
	// source.
	Source string
	// Since and Until keep the alerts active at some moment between them:
	// started at or before Until, and not resolved or resolved at or after
	// Since. The zero time leaves that end open.
	Since, Until time.Time
}

// where returns the SQL condition of f, but its matchers, with its
// arguments. It returns an ErrInvalid error on "state" for an unknown state.
func (f AlertFilter) where() (string, []any, error) {
	var (
		conds []string
		args  []any
	)
	if len(f.States) > 0 {
		for _, s := range f.States {
			if s != alerts.StateFiring && s != alerts.StateAcknowledged && s != alerts.StateResolved {
				return "", nil, alerts.Invalid("state", "must be %q, %q or %q, got %q",
					alerts.StateFiring, alerts.StateAcknowledged, alerts.StateResolved, s)
			}
			args = append(args, s)
		}
		conds = append(conds, "state IN ("+placeholders(len(f.States))+")")
	}
	if f.Source != "" {
		conds, args = append(conds, "source = ?"), append(args, f.Source)
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "starts_at <= ?"), append(args, millis(f.Until))
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "(ends_at IS NULL OR ends_at >= ?)"), append(args, millis(f.Since))
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " AND " + strings.Join(conds, " AND "), args, nil
}

// scanAlert reads a row of alertColumns.
func scanAlert(row interface{ Scan(...any) error }) (alerts.Alert, error) {
	var (
		a                                    alerts.Alert
		fp                                   int64
		labels, annotations                  []byte
		starts, lastSeen, created, updated   int64
		ends, ackedByID, ackedAt, resolvedAt sql.NullInt64
	)
	if err := row.Scan(&a.ID, &fp, &a.State, &a.Silenced, &labels, &annotations, &a.Source, &a.GeneratorURL, &starts, &ends,
		&lastSeen, &a.Count, &a.AckedBy, &ackedByID, &ackedAt, &a.ResolvedBy, &resolvedAt, &created, &updated); err != nil {
		return alerts.Alert{}, err
	}
	if err := json.Unmarshal(labels, &a.Labels); err != nil {
		return alerts.Alert{}, fmt.Errorf("alert %d has labels that do not decode: %w", a.ID, err)
	}
	if err := json.Unmarshal(annotations, &a.Annotations); err != nil {
		return alerts.Alert{}, fmt.Errorf("alert %d has annotations that do not decode: %w", a.ID, err)
	}
	a.Fingerprint = alerts.Fingerprint(fp)
	a.StartsAt, a.LastSeenAt, a.CreatedAt, a.UpdatedAt = fromMillis(starts), fromMillis(lastSeen), fromMillis(created), fromMillis(updated)
	a.EndsAt, a.AckedAt, a.ResolvedAt = timeOrNil(ends), timeOrNil(ackedAt), timeOrNil(resolvedAt)
	a.AckedByID = ackedByID.Int64
	return a, nil
}

// prefixed returns a list of columns with each column prefixed, such as
// "a.id, a.name" for prefix "a." and columns "id, name".
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// prefixScanner scans a row whose first columns go to first, and the rest
// to the destinations its Scan is given.
type prefixScanner struct {
	row   interface{ Scan(...any) error }
	first []any
}

// Scan scans the row into the first destinations and then dest.
func (p prefixScanner) Scan(dest ...any) error { return p.row.Scan(append(p.first, dest...)...) }

// alertArgs returns the values of alertWriteColumns for a. It sets nil
// annotations to an empty map, which is what a read gives back.
func alertArgs(a *alerts.Alert) ([]any, error) {
	if a.Annotations == nil {
		a.Annotations = map[string]string{}
	}
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return nil, fmt.Errorf("encode the labels of alert %d: %w", a.ID, err)
	}
	annotations, err := json.Marshal(a.Annotations)
	if err != nil {
		return nil, fmt.Errorf("encode the annotations of alert %d: %w", a.ID, err)
	}
	var open, ackedByID sql.NullInt64
	if a.State.Open() {
		open = sql.NullInt64{Int64: int64(a.Fingerprint), Valid: true}
	}
	if a.AckedByID != 0 {
		ackedByID = sql.NullInt64{Int64: a.AckedByID, Valid: true}
	}
	return []any{a.ID, int64(a.Fingerprint), a.State, a.Silenced, string(labels), string(annotations), a.Source, a.GeneratorURL,
		millis(a.StartsAt), nullMillis(a.EndsAt), millis(a.LastSeenAt), a.Count, a.AckedBy, ackedByID, nullMillis(a.AckedAt),
		a.ResolvedBy, nullMillis(a.ResolvedAt), millis(a.CreatedAt), millis(a.UpdatedAt), open}, nil
}

// Alerts returns up to page.Limit alerts that f selects, newest (highest
// ID) first, with IDs below page.Cursor (0: from the newest), and the
// cursor of the next page: 0 when there is none. f's matchers are applied
// as the alerts are read, at most maxAlertScan (10,000) of them per call,
// so a page may be short, even empty, and still have a next page.
//
// It returns alerts.ErrInvalid on "limit" when page.Limit is below 1, and
// on "state" for an unknown state in f.
func (db *DB) Alerts(ctx context.Context, f AlertFilter, page Page) (list []alerts.Alert, next int64, err error) {
	if page.Limit < 1 {
		return nil, 0, alerts.Invalid("limit", "must be at least 1, got %d", page.Limit)
	}
	where, args, err := f.where()
	if err != nil {
		return nil, 0, err
	}
	cursor := page.Cursor
	if cursor <= 0 {
		cursor = math.MaxInt64
	}
	chunk := page.Limit + 1
	if len(f.Matchers) > 0 {
		chunk = max(chunk, alertScanChunk)
	}
	for scanned := 0; ; {
		n := min(chunk, maxAlertScan-scanned)
		got, err := db.scanAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id < ?`+where+` ORDER BY id DESC LIMIT ?`,
			append(append([]any{cursor}, args...), n), func(a alerts.Alert) {
				cursor = a.ID
				if f.Matchers.Matches(a.Labels) {
					list = append(list, a)
				}
			})
		if err != nil {
			return nil, 0, fmt.Errorf("storage: list alerts: %w", err)
		}
		scanned += got
		switch {
		case len(list) > page.Limit:
			return list[:page.Limit], list[page.Limit-1].ID, nil
		case got < n:
			return list, 0, nil
		case scanned >= maxAlertScan:
			return list, cursor, nil
		}
	}
}

// scanAlerts runs a query of alertColumns and calls fn with each alert, in
// order. It returns how many it read.
func (db *DB) scanAlerts(ctx context.Context, query string, args []any, fn func(alerts.Alert)) (int, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return n, err
		}
		n++
		fn(a)
	}
	return n, rows.Err()
}

// Alert returns the alert with the given ID, with its history, oldest
// first; alerts.ErrNotFound when there is no such alert. It reads both in
// one read-only transaction, so that they agree.
func (db *DB) Alert(ctx context.Context, id int64) (alerts.Alert, error) {
	tx, err := db.sql.BeginTx(ctx, &db.dialect.snapshot)
	if err != nil {
		return alerts.Alert{}, fmt.Errorf("storage: read alert: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	a, err := db.alertWhere(ctx, tx, "id = ?", id)
	if err != nil {
		return alerts.Alert{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT at, kind, actor, actor_id FROM alert_history WHERE alert_id = ? ORDER BY id`, id)
	if err != nil {
		return alerts.Alert{}, fmt.Errorf("storage: read alert history: %w", err)
	}
	defer rows.Close()
	a.History = []alerts.HistoryEntry{}
	for rows.Next() {
		var (
			e       alerts.HistoryEntry
			at      int64
			actorID sql.NullInt64
		)
		if err := rows.Scan(&at, &e.Kind, &e.Actor, &actorID); err != nil {
			return alerts.Alert{}, fmt.Errorf("storage: read alert history: %w", err)
		}
		e.At, e.ActorID = fromMillis(at), actorID.Int64
		a.History = append(a.History, e)
	}
	if err := rows.Err(); err != nil {
		return alerts.Alert{}, fmt.Errorf("storage: read alert history: %w", err)
	}
	return a, nil
}

// alertWhere returns the one alert matching a condition on a column, or
// alerts.ErrNotFound.
func (db *DB) alertWhere(ctx context.Context, q queryer, cond string, arg any) (alerts.Alert, error) {
	a, err := scanAlert(q.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return alerts.Alert{}, alerts.NotFound(fmt.Sprintf("alert %v", arg))
	}
	if err != nil {
		return alerts.Alert{}, fmt.Errorf("storage: read alert: %w", err)
	}
	return a, nil
}
