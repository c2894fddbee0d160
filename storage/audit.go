package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// Actor is who makes a change, as the audit log records it.
type Actor struct {
	// UserID is the acting user's ID, or 0 when the change comes from tocsin
	// itself or from the command line.
	UserID int64
	// Name is the user's name, or "system" or "cli".
	Name string
}

// SystemActor is tocsin itself, as when it creates the first admin.
func SystemActor() Actor { return Actor{Name: "system"} }

// CLIActor is whoever runs tocsin's commands on the command line.
func CLIActor() Actor { return Actor{Name: "cli"} }

// ConfigActor is config.yaml, as tocsin applies the teams, routes and
// sources it declares. It alone may change or delete an object whose
// ManagedBy is alerts.ManagedByConfig, and the objects it writes become
// managed by the file.
func ConfigActor() Actor { return Actor{Name: "config"} }

// managedBy is the ManagedBy of an object that actor writes: "config" for
// ConfigActor, "" (managed through the API) for anyone else.
func managedBy(actor Actor) string {
	if actor == ConfigActor() {
		return alerts.ManagedByConfig
	}
	return ""
}

// mayChange returns alerts.ErrForbidden unless actor may update or delete
// the object of type object named name, whose ManagedBy is managed: an
// object declared in config.yaml is changed there, by ConfigActor only.
func mayChange(actor Actor, object, name, managed string) error {
	if managed == alerts.ManagedByConfig && actor != ConfigActor() {
		return &alerts.Error{
			Kind:    alerts.ErrForbidden,
			Message: fmt.Sprintf("%s %q is declared in config.yaml; change it there", object, name),
		}
	}
	return nil
}

// The audit log's actions.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// AuditEntry is one change, with the object before and after it as JSON.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	ActorID    *int64          `json:"actor_id"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   int64           `json:"object_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
}

// Page selects one page of a list: the items after Cursor (the last ID of the
// previous page, 0 for the first page) in the list's order, at most Limit.
type Page struct {
	Cursor int64
	Limit  int
}

// audit writes one audit row in tx. before and after are the object as a
// client would see it, nil where it did not exist.
func (db *DB) audit(ctx context.Context, tx *sql.Tx, actor Actor, action, objectType string, objectID int64, before, after any) error {
	var actorID sql.NullInt64
	if actor.UserID != 0 {
		actorID = sql.NullInt64{Int64: actor.UserID, Valid: true}
	}
	b, err := jsonOrNull(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNull(after)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO audit_log (at, actor_id, actor, action, object_type, object_id, before_json, after_json)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		millis(db.now()), actorID, actor.Name, action, objectType, objectID, b, a)
	if err != nil {
		return fmt.Errorf("storage: write audit row: %w", err)
	}
	return nil
}

// jsonOrNull encodes v, or returns NULL for nil.
func jsonOrNull(v any) (sql.NullString, error) {
	if v == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("storage: encode audit object: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// AuditLog returns a page of the audit log, newest first: Cursor is the
// oldest ID of the previous page.
func (db *DB) AuditLog(ctx context.Context, page Page) ([]AuditEntry, error) {
	cursor := page.Cursor
	if cursor <= 0 {
		cursor = 1<<63 - 1
	}
	rows, err := db.sql.QueryContext(ctx,
		`SELECT id, at, actor_id, actor, action, object_type, object_id, before_json, after_json
		 FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`, cursor, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: read audit log: %w", err)
	}
	defer rows.Close()
	var entries []AuditEntry
	for rows.Next() {
		var (
			e             AuditEntry
			at            int64
			actorID       sql.NullInt64
			before, after sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &actorID, &e.Actor, &e.Action, &e.ObjectType, &e.ObjectID, &before, &after); err != nil {
			return nil, fmt.Errorf("storage: read audit log: %w", err)
		}
		e.At = fromMillis(at)
		if actorID.Valid {
			e.ActorID = &actorID.Int64
		}
		e.Before = rawOrNull(before)
		e.After = rawOrNull(after)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// rawOrNull returns a stored JSON column as raw JSON, null where NULL.
func rawOrNull(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return json.RawMessage("null")
	}
	return json.RawMessage(s.String)
}

// deleteRow deletes the row id of table in one transaction, for the objects
// whose delete is only that: lock reads the object, locking its row and
// checking that the delete may go ahead (its version, who may change it),
// and the audit row records the object as it was.
func deleteRow[T any](ctx context.Context, db *DB, actor Actor, object, table string, id int64, lock func(tx *sql.Tx) (T, error)) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := lock(tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ?`, id); err != nil {
			return fmt.Errorf("storage: delete %s: %w", object, err)
		}
		return db.audit(ctx, tx, actor, ActionDelete, object, id, before, nil)
	})
}
