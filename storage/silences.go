package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// objectSilence is the audit log's name for silences.
const objectSilence = "silence"

const silenceColumns = `id, matchers, starts_at, ends_at, created_by, created_by_id, comment, version, created_at, updated_at`

// SilenceFilter selects silences in a list.
type SilenceFilter struct {
	// State keeps the silences in one state at the store's now; "" keeps
	// every state.
	State alerts.SilenceState
}

// scanSilence reads a row of silenceColumns.
func scanSilence(row interface{ Scan(...any) error }) (alerts.Silence, error) {
	var (
		s                              alerts.Silence
		matchers                       string
		starts, ends, created, updated int64
		createdByID                    sql.NullInt64
	)
	if err := row.Scan(&s.ID, &matchers, &starts, &ends, &s.CreatedBy, &createdByID, &s.Comment, &s.Version, &created, &updated); err != nil {
		return alerts.Silence{}, err
	}
	ms, err := decodeMatchers(matchers)
	if err != nil {
		return alerts.Silence{}, fmt.Errorf("silence %d: %w", s.ID, err)
	}
	s.Matchers, s.CreatedByID = ms, createdByID.Int64
	s.StartsAt, s.EndsAt = fromMillis(starts), fromMillis(ends)
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updated)
	return s, nil
}

// silenceInput normalises the fields of s that a client sets to what the
// store keeps, at time now: times in whole milliseconds, and matchers as
// read back from their stored form, which it returns. It then validates s.
func silenceInput(s *alerts.Silence, now time.Time) (string, error) {
	s.StartsAt, s.EndsAt = fromMillis(millis(s.StartsAt)), fromMillis(millis(s.EndsAt))
	stored, ms, err := encodeMatchers("matchers", s.Matchers)
	if err != nil {
		return "", err
	}
	s.Matchers = ms
	return stored, s.Validate(now)
}

// CreateSilence adds a silence made by actor. A zero s.StartsAt means now.
// It returns alerts.ErrInvalid, naming the field, for a silence that
// alerts.Silence.Validate refuses at the store's now, or a matcher that
// does not read back from its own syntax (one made as a struct literal).
func (db *DB) CreateSilence(ctx context.Context, actor Actor, s alerts.Silence) (alerts.Silence, error) {
	now := db.nowTime()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	matchers, err := silenceInput(&s, now)
	if err != nil {
		return alerts.Silence{}, err
	}
	s.CreatedBy, s.CreatedByID = actor.Name, actor.UserID
	s.Version, s.CreatedAt, s.UpdatedAt = 1, now, now
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO silences (matchers, starts_at, ends_at, created_by, created_by_id, comment, version, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			matchers, millis(s.StartsAt), millis(s.EndsAt), s.CreatedBy, nullID(s.CreatedByID), s.Comment, s.Version, millis(now), millis(now))
		if err != nil {
			return fmt.Errorf("storage: create silence: %w", err)
		}
		if s.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("storage: create silence: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionCreate, objectSilence, s.ID, nil, s)
	})
	if err != nil {
		return alerts.Silence{}, err
	}
	return s, nil
}

// nullID is the stored form of an optional ID: NULL for 0.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// Silence returns the silence with the given ID, or alerts.ErrNotFound.
func (db *DB) Silence(ctx context.Context, id int64) (alerts.Silence, error) {
	return db.silenceByID(ctx, db.sql, id, "")
}

// silenceByID reads one silence, with an optional locking clause.
func (db *DB) silenceByID(ctx context.Context, q queryer, id int64, lock string) (alerts.Silence, error) {
	s, err := scanSilence(q.QueryRowContext(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return alerts.Silence{}, alerts.NotFound(fmt.Sprintf("silence %d", id))
	}
	if err != nil {
		return alerts.Silence{}, fmt.Errorf("storage: read silence: %w", err)
	}
	return s, nil
}

// Silences returns a page of the silences that f selects, in ID order. The
// state of each is judged at the store's now, as alerts.Silence.StateAt
// judges it. It returns alerts.ErrInvalid, naming "state", for an unknown
// state.
func (db *DB) Silences(ctx context.Context, f SilenceFilter, page Page) ([]alerts.Silence, error) {
	now := millis(db.nowTime())
	query, args := `SELECT `+silenceColumns+` FROM silences WHERE id > ?`, []any{page.Cursor}
	switch f.State {
	case "":
	case alerts.SilencePending:
		query, args = query+` AND starts_at > ?`, append(args, now)
	case alerts.SilenceActive:
		query, args = query+` AND starts_at <= ? AND ends_at > ?`, append(args, now, now)
	case alerts.SilenceExpired:
		query, args = query+` AND starts_at <= ? AND ends_at <= ?`, append(args, now, now)
	default:
		return nil, alerts.Invalid("state", "must be %q, %q or %q, got %q",
			alerts.SilencePending, alerts.SilenceActive, alerts.SilenceExpired, f.State)
	}
	rows, err := db.sql.QueryContext(ctx, query+` ORDER BY id LIMIT ?`, append(args, page.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage: list silences: %w", err)
	}
	defer rows.Close()
	var list []alerts.Silence
	for rows.Next() {
		s, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list silences: %w", err)
		}
		list = append(list, s)
	}
	return list, rows.Err()
}

// UpdateSilence replaces a silence's matchers, window and comment; who
// created it does not change. s.Version must be the stored version:
// otherwise it returns alerts.ErrConflict and changes nothing, as it does
// for a silence that has expired, which is over for good. It returns
// alerts.ErrNotFound when there is no such silence, and alerts.ErrInvalid,
// naming the field, for the input CreateSilence refuses (a zero StartsAt
// included).
func (db *DB) UpdateSilence(ctx context.Context, actor Actor, s alerts.Silence) (alerts.Silence, error) {
	now := db.nowTime()
	matchers, err := silenceInput(&s, now)
	if err != nil {
		return alerts.Silence{}, err
	}
	var updated alerts.Silence
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockSilence(ctx, tx, s.ID, s.Version)
		if err != nil {
			return err
		}
		if s.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectSilence, s.ID, s.Version, before.Version)
		}
		if before.StateAt(now) == alerts.SilenceExpired {
			return alerts.Conflict("silence %d has expired; create a new one", s.ID)
		}
		updated = before
		updated.Matchers, updated.StartsAt, updated.EndsAt, updated.Comment = s.Matchers, s.StartsAt, s.EndsAt, s.Comment
		updated.Version, updated.UpdatedAt = before.Version+1, now
		if _, err := tx.ExecContext(ctx,
			`UPDATE silences SET matchers = ?, starts_at = ?, ends_at = ?, comment = ?, version = ?, updated_at = ? WHERE id = ?`,
			matchers, millis(updated.StartsAt), millis(updated.EndsAt), updated.Comment, updated.Version, millis(now), updated.ID); err != nil {
			return fmt.Errorf("storage: update silence: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectSilence, s.ID, before, updated)
	})
	if err != nil {
		return alerts.Silence{}, err
	}
	return updated, nil
}

// ExpireSilence ends a silence now: its EndsAt becomes the store's now, and
// so does its StartsAt if it had not started, and the audit log records an
// update. version, unless 0, must be the stored version, or it returns
// alerts.ErrConflict and changes nothing, as it does for a silence that has
// already expired. It returns alerts.ErrNotFound when there is no such
// silence.
func (db *DB) ExpireSilence(ctx context.Context, actor Actor, id, version int64) (alerts.Silence, error) {
	now := db.nowTime()
	var updated alerts.Silence
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockSilence(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if before.StateAt(now) == alerts.SilenceExpired {
			return alerts.Conflict("silence %d has already expired", id)
		}
		updated = before
		if updated.StartsAt.After(now) {
			updated.StartsAt = now
		}
		updated.EndsAt, updated.Version, updated.UpdatedAt = now, before.Version+1, now
		if _, err := tx.ExecContext(ctx,
			`UPDATE silences SET starts_at = ?, ends_at = ?, version = ?, updated_at = ? WHERE id = ?`,
			millis(updated.StartsAt), millis(now), updated.Version, millis(now), id); err != nil {
			return fmt.Errorf("storage: expire silence: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectSilence, id, before, updated)
	})
	if err != nil {
		return alerts.Silence{}, err
	}
	return updated, nil
}

// DeleteSilence deletes a silence, whatever its state. version, unless 0,
// must be the stored version, or it returns alerts.ErrConflict. It returns
// alerts.ErrNotFound when there is no such silence.
func (db *DB) DeleteSilence(ctx context.Context, actor Actor, id, version int64) error {
	return deleteRow(ctx, db, actor, objectSilence, "silences", id, func(tx *sql.Tx) (alerts.Silence, error) {
		return db.lockSilence(ctx, tx, id, version)
	})
}

// lockSilence reads a silence in tx, locking its row, and checks its
// version (0 accepts any).
func (db *DB) lockSilence(ctx context.Context, tx *sql.Tx, id, version int64) (alerts.Silence, error) {
	s, err := db.silenceByID(ctx, tx, id, db.dialect.forUpdate)
	if err != nil {
		return alerts.Silence{}, err
	}
	if version != 0 && s.Version != version {
		return alerts.Silence{}, staleVersion(objectSilence, id, version, s.Version)
	}
	return s, nil
}
