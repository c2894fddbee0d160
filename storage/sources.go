package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// objectSource is the audit log's name for sources.
const objectSource = "source"

const sourceColumns = `id, name, kind, auth, username, signature_header, mapping, credential, managed_by, version, created_at, updated_at`

// SourceFilter selects sources in a list.
type SourceFilter struct {
	// Kind keeps the sources of one kind; "" keeps every kind.
	Kind sources.Kind
}

// scanSource reads a row of sourceColumns.
func scanSource(row interface{ Scan(...any) error }) (sources.Source, error) {
	var (
		s                sources.Source
		mapping          sql.NullString
		created, updated int64
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Kind, &s.Auth, &s.Username, &s.SignatureHeader, &mapping, &s.Credential,
		&s.ManagedBy, &s.Version, &created, &updated); err != nil {
		return sources.Source{}, err
	}
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updated)
	if mapping.Valid {
		s.Mapping = new(sources.Mapping)
		if err := json.Unmarshal([]byte(mapping.String), s.Mapping); err != nil {
			return sources.Source{}, fmt.Errorf("source %d has a mapping that does not decode: %w", s.ID, err)
		}
	}
	return s, nil
}

// encodeMapping returns a mapping's stored form: JSON, or NULL for nil.
func encodeMapping(m *sources.Mapping) (sql.NullString, error) {
	if m == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("storage: encode mapping: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// CreateSource adds a source. s.Secret, the bearer token, basic password or
// HMAC key in clear, is required; the store keeps only
// sources.Credential(s.Auth, s.Secret). The returned source has its
// Credential set and still holds s.Secret, for the one response that shows
// it. A source created by ConfigActor is managed by the config file.
//
// It returns alerts.ErrInvalid, naming the field, for a source that
// sources.Source.Validate refuses or a missing secret, and
// alerts.ErrConflict when the name is taken.
func (db *DB) CreateSource(ctx context.Context, actor Actor, s sources.Source) (sources.Source, error) {
	if err := s.Validate(); err != nil {
		return sources.Source{}, err
	}
	if s.Secret == "" {
		return sources.Source{}, alerts.Invalid("secret", "is required: the bearer token, basic password or HMAC key the source sends")
	}
	mapping, err := encodeMapping(s.Mapping)
	if err != nil {
		return sources.Source{}, err
	}
	now := db.nowTime()
	s.Credential = sources.Credential(s.Auth, s.Secret)
	s.ManagedBy, s.Version, s.CreatedAt, s.UpdatedAt = managedBy(actor), 1, now, now
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO sources (name, kind, auth, username, signature_header, mapping, credential, managed_by, version, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.Name, s.Kind, s.Auth, s.Username, s.SignatureHeader, mapping, s.Credential, s.ManagedBy, s.Version, millis(now), millis(now))
		if db.dialect.isUnique(err) {
			return nameTaken(objectSource, s.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: create source: %w", err)
		}
		if s.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("storage: create source: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionCreate, objectSource, s.ID, nil, s)
	})
	if err != nil {
		return sources.Source{}, err
	}
	return s, nil
}

// Source returns the source with the given ID, with its Credential and
// without a Secret, or alerts.ErrNotFound.
func (db *DB) Source(ctx context.Context, id int64) (sources.Source, error) {
	return db.sourceWhere(ctx, db.sql, "id = ?", id)
}

// SourceByName returns the source with the given name, with its Credential
// and without a Secret, or alerts.ErrNotFound.
func (db *DB) SourceByName(ctx context.Context, name string) (sources.Source, error) {
	return db.sourceWhere(ctx, db.sql, "name = ?", name)
}

// sourceWhere returns the one source matching a condition on a column.
func (db *DB) sourceWhere(ctx context.Context, q queryer, cond string, arg any) (sources.Source, error) {
	s, err := scanSource(q.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return sources.Source{}, alerts.NotFound(fmt.Sprintf("source %v", arg))
	}
	if err != nil {
		return sources.Source{}, fmt.Errorf("storage: read source: %w", err)
	}
	return s, nil
}

// Sources returns a page of the sources that f selects, in ID order, with
// their Credentials and without Secrets.
func (db *DB) Sources(ctx context.Context, f SourceFilter, page Page) ([]sources.Source, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+sourceColumns+` FROM sources WHERE id > ? AND (? = '' OR kind = ?) ORDER BY id LIMIT ?`,
		page.Cursor, f.Kind, f.Kind, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list sources: %w", err)
	}
	defer rows.Close()
	var list []sources.Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list sources: %w", err)
		}
		list = append(list, s)
	}
	return list, rows.Err()
}

// UpdateSource replaces a source's name, kind, auth and mapping. An empty
// s.Secret keeps the stored credential, unless s.Auth differs from the
// stored auth type: a new auth type needs a new secret. The returned source
// has its Credential set and still holds s.Secret.
//
// s.Version must be the stored version: otherwise it returns
// alerts.ErrConflict and changes nothing, as it does when the new name is
// taken. It returns alerts.ErrNotFound when there is no such source,
// alerts.ErrInvalid, naming the field, for a source that
// sources.Source.Validate refuses or a missing secret, and
// alerts.ErrForbidden for a source declared in config.yaml, unless actor is
// ConfigActor.
func (db *DB) UpdateSource(ctx context.Context, actor Actor, s sources.Source) (sources.Source, error) {
	if err := s.Validate(); err != nil {
		return sources.Source{}, err
	}
	mapping, err := encodeMapping(s.Mapping)
	if err != nil {
		return sources.Source{}, err
	}
	var updated sources.Source
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockSource(ctx, tx, actor, s.ID, s.Version)
		if err != nil {
			return err
		}
		if s.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectSource, s.ID, s.Version, before.Version)
		}
		updated = s
		switch {
		case s.Secret != "":
			updated.Credential = sources.Credential(s.Auth, s.Secret)
		case s.Auth != before.Auth:
			return alerts.Invalid("secret", "a new auth type needs a new secret")
		default:
			updated.Credential = before.Credential
		}
		updated.ManagedBy, updated.Version = managedBy(actor), before.Version+1
		updated.CreatedAt, updated.UpdatedAt = before.CreatedAt, db.nowTime()
		_, err = tx.ExecContext(ctx,
			`UPDATE sources SET name = ?, kind = ?, auth = ?, username = ?, signature_header = ?, mapping = ?, credential = ?,
			 managed_by = ?, version = ?, updated_at = ? WHERE id = ?`,
			updated.Name, updated.Kind, updated.Auth, updated.Username, updated.SignatureHeader, mapping, updated.Credential,
			updated.ManagedBy, updated.Version, millis(updated.UpdatedAt), updated.ID)
		if db.dialect.isUnique(err) {
			return nameTaken(objectSource, s.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: update source: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectSource, s.ID, before, updated)
	})
	if err != nil {
		return sources.Source{}, err
	}
	return updated, nil
}

// DeleteSource deletes a source: its webhook stops taking alerts at once.
// version, unless 0, must be the stored version, or it returns
// alerts.ErrConflict. It returns alerts.ErrNotFound when there is no such
// source, and alerts.ErrForbidden for a source declared in config.yaml,
// unless actor is ConfigActor.
func (db *DB) DeleteSource(ctx context.Context, actor Actor, id, version int64) error {
	return deleteRow(ctx, db, actor, objectSource, "sources", id, func(tx *sql.Tx) (sources.Source, error) {
		return db.lockSource(ctx, tx, actor, id, version)
	})
}

// lockSource reads a source in tx, locking its row, checks its version (0
// accepts any) and that actor may change it.
func (db *DB) lockSource(ctx context.Context, tx *sql.Tx, actor Actor, id, version int64) (sources.Source, error) {
	s, err := db.sourceWhere(ctx, tx, "id = ?"+db.dialect.forUpdate, id)
	if err != nil {
		return sources.Source{}, err
	}
	if version != 0 && s.Version != version {
		return sources.Source{}, staleVersion(objectSource, id, version, s.Version)
	}
	if err := mayChange(actor, objectSource, s.Name, s.ManagedBy); err != nil {
		return sources.Source{}, err
	}
	return s, nil
}
