package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// objectPoller is the audit log's name for pollers.
const objectPoller = "poller"

const pollerColumns = `id, name, kind, schedule, spec, labels, annotations, fail_after, recover_after, enabled, managed_by, version, created_at, updated_at`

// pollerSpec is the stored form of a poller's check: its timeout and the
// fields of its kind, as the spec column's JSON object.
type pollerSpec struct {
	Timeout       sources.Duration         `json:"timeout"`
	URL           string                   `json:"url,omitempty"`
	Method        string                   `json:"method,omitempty"`
	Headers       map[string]string        `json:"headers,omitempty"`
	Body          string                   `json:"body,omitempty"`
	ExpectStatus  []sources.StatusRange    `json:"expect_status,omitempty"`
	ExpectBody    string                   `json:"expect_body,omitempty"`
	ExpectJSON    *sources.JSONExpectation `json:"expect_json,omitempty"`
	MaxLatency    sources.Duration         `json:"max_latency,omitempty"`
	TLSSkipVerify bool                     `json:"tls_skip_verify,omitempty"`
	Address       string                   `json:"address,omitempty"`
	Query         string                   `json:"query,omitempty"`
}

// scanPoller reads a row of pollerColumns.
func scanPoller(row interface{ Scan(...any) error }) (sources.Poller, error) {
	var (
		p                         sources.Poller
		spec, labels, annotations []byte
		created, updated          int64
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.Schedule, &spec, &labels, &annotations, &p.FailAfter, &p.RecoverAfter,
		&p.Enabled, &p.ManagedBy, &p.Version, &created, &updated); err != nil {
		return sources.Poller{}, err
	}
	var s pollerSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return sources.Poller{}, fmt.Errorf("poller %d has a spec that does not decode: %w", p.ID, err)
	}
	if err := json.Unmarshal(labels, &p.Labels); err != nil {
		return sources.Poller{}, fmt.Errorf("poller %d has labels that do not decode: %w", p.ID, err)
	}
	if err := json.Unmarshal(annotations, &p.Annotations); err != nil {
		return sources.Poller{}, fmt.Errorf("poller %d has annotations that do not decode: %w", p.ID, err)
	}
	p.Timeout, p.URL, p.Method, p.Headers, p.Body = s.Timeout, s.URL, s.Method, s.Headers, s.Body
	p.ExpectStatus, p.ExpectBody, p.ExpectJSON, p.MaxLatency = s.ExpectStatus, s.ExpectBody, s.ExpectJSON, s.MaxLatency
	p.TLSSkipVerify, p.Address, p.Query = s.TLSSkipVerify, s.Address, s.Query
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return p, nil
}

// encodePoller returns the stored forms of a poller's spec, labels and
// annotations. It first sets p's empty maps and lists to what a read gives
// back: labels and annotations an empty map, headers and expected statuses
// nil.
func encodePoller(p *sources.Poller) (spec, labels, annotations string, err error) {
	if p.Labels == nil {
		p.Labels = alerts.Labels{}
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	if len(p.Headers) == 0 {
		p.Headers = nil
	}
	if len(p.ExpectStatus) == 0 {
		p.ExpectStatus = nil
	}
	s, err := json.Marshal(pollerSpec{
		Timeout: p.Timeout, URL: p.URL, Method: p.Method, Headers: p.Headers, Body: p.Body,
		ExpectStatus: p.ExpectStatus, ExpectBody: p.ExpectBody, ExpectJSON: p.ExpectJSON, MaxLatency: p.MaxLatency,
		TLSSkipVerify: p.TLSSkipVerify, Address: p.Address, Query: p.Query,
	})
	if err != nil {
		return "", "", "", fmt.Errorf("storage: encode the spec of poller %q: %w", p.Name, err)
	}
	l, err := json.Marshal(p.Labels)
	if err != nil {
		return "", "", "", fmt.Errorf("storage: encode the labels of poller %q: %w", p.Name, err)
	}
	a, err := json.Marshal(p.Annotations)
	if err != nil {
		return "", "", "", fmt.Errorf("storage: encode the annotations of poller %q: %w", p.Name, err)
	}
	return string(s), string(l), string(a), nil
}

// CreatePoller adds a poller. A poller created by ConfigActor is managed by
// the config file. The returned poller is what a read gives back: Validate's
// defaults filled in, labels and annotations never nil.
//
// It returns alerts.ErrInvalid, naming the field, for a poller that
// sources.Poller.Validate refuses, and alerts.ErrConflict when the name is
// taken.
func (db *DB) CreatePoller(ctx context.Context, actor Actor, p sources.Poller) (sources.Poller, error) {
	if err := p.Validate(); err != nil {
		return sources.Poller{}, err
	}
	spec, labels, annotations, err := encodePoller(&p)
	if err != nil {
		return sources.Poller{}, err
	}
	now := db.nowTime()
	p.ManagedBy, p.Version, p.CreatedAt, p.UpdatedAt = managedBy(actor), 1, now, now
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO pollers (name, kind, schedule, spec, labels, annotations, fail_after, recover_after, enabled, managed_by,
			 version, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.Name, p.Kind, p.Schedule, spec, labels, annotations, p.FailAfter, p.RecoverAfter, p.Enabled, p.ManagedBy,
			p.Version, millis(now), millis(now))
		if db.dialect.isUnique(err) {
			return nameTaken(objectPoller, p.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: create poller: %w", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("storage: create poller: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionCreate, objectPoller, p.ID, nil, p)
	})
	if err != nil {
		return sources.Poller{}, err
	}
	return p, nil
}

// Poller returns the poller with the given ID, or alerts.ErrNotFound.
func (db *DB) Poller(ctx context.Context, id int64) (sources.Poller, error) {
	return db.pollerWhere(ctx, db.sql, "id = ?", id)
}

// pollerWhere returns the one poller matching a condition on a column.
func (db *DB) pollerWhere(ctx context.Context, q queryer, cond string, arg any) (sources.Poller, error) {
	p, err := scanPoller(q.QueryRowContext(ctx, `SELECT `+pollerColumns+` FROM pollers WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return sources.Poller{}, alerts.NotFound(fmt.Sprintf("poller %v", arg))
	}
	if err != nil {
		return sources.Poller{}, fmt.Errorf("storage: read poller: %w", err)
	}
	return p, nil
}

// Pollers returns a page of the pollers, in ID order.
func (db *DB) Pollers(ctx context.Context, page Page) ([]sources.Poller, error) {
	return db.listPollers(ctx, `SELECT `+pollerColumns+` FROM pollers WHERE id > ? ORDER BY id LIMIT ?`, page.Cursor, page.Limit)
}

// AllPollers returns every poller, in ID order: what the scheduler runs.
func (db *DB) AllPollers(ctx context.Context) ([]sources.Poller, error) {
	return db.listPollers(ctx, `SELECT `+pollerColumns+` FROM pollers ORDER BY id`)
}

// listPollers returns the pollers a query of pollerColumns selects.
func (db *DB) listPollers(ctx context.Context, query string, args ...any) ([]sources.Poller, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list pollers: %w", err)
	}
	defer rows.Close()
	var list []sources.Poller
	for rows.Next() {
		p, err := scanPoller(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list pollers: %w", err)
		}
		list = append(list, p)
	}
	return list, rows.Err()
}

// UpdatePoller replaces a poller's definition: everything but its ID, who
// manages it and its times. The returned poller is what a read gives back.
//
// p.Version must be the stored version: otherwise it returns
// alerts.ErrConflict and changes nothing, as it does when the new name is
// taken. It returns alerts.ErrNotFound when there is no such poller,
// alerts.ErrInvalid, naming the field, for a poller that
// sources.Poller.Validate refuses, and alerts.ErrForbidden for a poller
// declared in config.yaml, unless actor is ConfigActor.
func (db *DB) UpdatePoller(ctx context.Context, actor Actor, p sources.Poller) (sources.Poller, error) {
	if err := p.Validate(); err != nil {
		return sources.Poller{}, err
	}
	spec, labels, annotations, err := encodePoller(&p)
	if err != nil {
		return sources.Poller{}, err
	}
	var updated sources.Poller
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockPoller(ctx, tx, actor, p.ID, p.Version)
		if err != nil {
			return err
		}
		if p.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectPoller, p.ID, p.Version, before.Version)
		}
		updated = p
		updated.ManagedBy, updated.Version = managedBy(actor), before.Version+1
		updated.CreatedAt, updated.UpdatedAt = before.CreatedAt, db.nowTime()
		_, err = tx.ExecContext(ctx,
			`UPDATE pollers SET name = ?, kind = ?, schedule = ?, spec = ?, labels = ?, annotations = ?, fail_after = ?,
			 recover_after = ?, enabled = ?, managed_by = ?, version = ?, updated_at = ? WHERE id = ?`,
			updated.Name, updated.Kind, updated.Schedule, spec, labels, annotations, updated.FailAfter,
			updated.RecoverAfter, updated.Enabled, updated.ManagedBy, updated.Version, millis(updated.UpdatedAt), updated.ID)
		if db.dialect.isUnique(err) {
			return nameTaken(objectPoller, p.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: update poller: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectPoller, p.ID, before, updated)
	})
	if err != nil {
		return sources.Poller{}, err
	}
	return updated, nil
}

// DeletePoller deletes a poller. Its state, if any, is kept: the leader
// resolves the poller's firing alerts, then deletes the state. version,
// unless 0, must be the stored version, or it returns alerts.ErrConflict. It
// returns alerts.ErrNotFound when there is no such poller, and
// alerts.ErrForbidden for a poller declared in config.yaml, unless actor is
// ConfigActor.
func (db *DB) DeletePoller(ctx context.Context, actor Actor, id, version int64) error {
	return deleteRow(ctx, db, actor, objectPoller, "pollers", id, func(tx *sql.Tx) (sources.Poller, error) {
		return db.lockPoller(ctx, tx, actor, id, version)
	})
}

// lockPoller reads a poller in tx, locking its row, checks its version (0
// accepts any) and that actor may change it.
func (db *DB) lockPoller(ctx context.Context, tx *sql.Tx, actor Actor, id, version int64) (sources.Poller, error) {
	p, err := db.pollerWhere(ctx, tx, "id = ?"+db.dialect.forUpdate, id)
	if err != nil {
		return sources.Poller{}, err
	}
	if version != 0 && p.Version != version {
		return sources.Poller{}, staleVersion(objectPoller, id, version, p.Version)
	}
	if err := mayChange(actor, objectPoller, p.Name, p.ManagedBy); err != nil {
		return sources.Poller{}, err
	}
	return p, nil
}

const pollerStateColumns = `poller_id, name, last_run_at, next_run_at, outcome, latency, last_error, failures, successes, series, node`

// scanPollerState reads a row of pollerStateColumns.
func scanPollerState(row interface{ Scan(...any) error }) (sources.PollerState, error) {
	var (
		st            sources.PollerState
		lastRun, next sql.NullInt64
		latency       int64
		series        []byte
	)
	if err := row.Scan(&st.PollerID, &st.Name, &lastRun, &next, &st.Outcome, &latency, &st.LastError, &st.Failures,
		&st.Successes, &series, &st.Node); err != nil {
		return sources.PollerState{}, err
	}
	if err := json.Unmarshal(series, &st.Series); err != nil {
		return sources.PollerState{}, fmt.Errorf("the state of poller %d has series that do not decode: %w", st.PollerID, err)
	}
	if len(st.Series) == 0 {
		st.Series = nil
	}
	st.LastRunAt, st.NextRunAt = timeOrZero(lastRun), timeOrZero(next)
	st.Latency = time.Duration(latency) * time.Microsecond
	return st, nil
}

// zeroOrMillis converts a time that may be zero (unset) to its stored form:
// NULL for the zero time.
func zeroOrMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(t), Valid: true}
}

// timeOrZero converts a stored time that may be NULL back: the zero time
// for NULL.
func timeOrZero(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMillis(ms.Int64)
}

// PollerStates returns the states of the pollers ids, in poller ID order,
// or every state when ids is nil. A poller that has no state is left out.
// Times come back in UTC at millisecond precision, Latency at microsecond
// precision, and Series nil when empty.
func (db *DB) PollerStates(ctx context.Context, ids []int64) ([]sources.PollerState, error) {
	query := `SELECT ` + pollerStateColumns + ` FROM poller_state`
	if ids == nil {
		return db.listPollerStates(ctx, query+` ORDER BY poller_id`)
	}
	keys := slices.Clone(ids)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var list []sources.PollerState
	err := forKeys(keys, func(in string, args []any) error {
		part, err := db.listPollerStates(ctx, query+` WHERE poller_id IN (`+in+`) ORDER BY poller_id`, args...)
		list = append(list, part...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// listPollerStates returns the states a query of pollerStateColumns selects.
func (db *DB) listPollerStates(ctx context.Context, query string, args ...any) ([]sources.PollerState, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: read poller states: %w", err)
	}
	defer rows.Close()
	var list []sources.PollerState
	for rows.Next() {
		st, err := scanPollerState(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: read poller states: %w", err)
		}
		list = append(list, st)
	}
	return list, rows.Err()
}

// SavePollerState writes the state of poller st.PollerID, replacing the one
// stored, in one statement. Times are kept to the millisecond (those of the
// series too) and Latency to the microsecond.
func (db *DB) SavePollerState(ctx context.Context, st sources.PollerState) error {
	series := make([]sources.SeriesState, len(st.Series))
	for i, s := range st.Series {
		s.Since = fromMillis(millis(s.Since))
		series[i] = s
	}
	encoded, err := json.Marshal(series)
	if err != nil {
		return fmt.Errorf("storage: encode the series of poller %d: %w", st.PollerID, err)
	}
	_, err = db.sql.ExecContext(ctx,
		`INSERT INTO poller_state (poller_id, name, last_run_at, next_run_at, outcome, latency, last_error, failures, successes,
		 series, node, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+
			db.dialect.upsert("poller_id", "name", "last_run_at", "next_run_at", "outcome", "latency", "last_error", "failures",
				"successes", "series", "node", "updated_at"),
		st.PollerID, st.Name, zeroOrMillis(st.LastRunAt), zeroOrMillis(st.NextRunAt), st.Outcome, st.Latency.Microseconds(),
		st.LastError, st.Failures, st.Successes, string(encoded), st.Node, millis(db.now()))
	if err != nil {
		return fmt.Errorf("storage: save the state of poller %d: %w", st.PollerID, err)
	}
	return nil
}

// DeletePollerState deletes the state of a poller, if it has one.
func (db *DB) DeletePollerState(ctx context.Context, pollerID int64) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM poller_state WHERE poller_id = ?`, pollerID); err != nil {
		return fmt.Errorf("storage: delete the state of poller %d: %w", pollerID, err)
	}
	return nil
}
