package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
)

// objectUser is the audit log's name for users.
const objectUser = "user"

const userColumns = `id, name, role, version, created_at, updated_at`

// scanUser reads a row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var (
		u                auth.User
		created, updated int64
	)
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.Version, &created, &updated)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, err
}

// CreateUser adds a user. It returns alerts.ErrInvalid for a bad name or role
// and alerts.ErrConflict when the name is taken.
func (db *DB) CreateUser(ctx context.Context, actor Actor, u auth.User) (auth.User, error) {
	if err := u.Validate(); err != nil {
		return auth.User{}, err
	}
	var created auth.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		created, err = db.insertUser(ctx, tx, actor, u)
		return err
	})
	return created, err
}

// insertUser inserts a validated user, with an empty inbox, in tx and
// audits it.
func (db *DB) insertUser(ctx context.Context, tx *sql.Tx, actor Actor, u auth.User) (auth.User, error) {
	now := db.nowTime()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO users (name, role, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)`,
		u.Name, u.Role, millis(now), millis(now))
	if db.dialect.isUnique(err) {
		return auth.User{}, nameTaken(objectUser, u.Name)
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("storage: create user: %w", err)
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return auth.User{}, fmt.Errorf("storage: create user: %w", err)
	}
	// Every user has an inbox head, which writers of inbox rows lock.
	if _, err := tx.ExecContext(ctx, `INSERT INTO inbox_heads (user_id, seq) VALUES (?, 0)`, u.ID); err != nil {
		return auth.User{}, fmt.Errorf("storage: create user: %w", err)
	}
	u.Version, u.CreatedAt, u.UpdatedAt = 1, now, now
	return u, db.audit(ctx, tx, actor, ActionCreate, objectUser, u.ID, nil, u)
}

// User returns the user with the given ID, or alerts.ErrNotFound.
func (db *DB) User(ctx context.Context, id int64) (auth.User, error) {
	return db.userWhere(ctx, db.sql, "id = ?", id)
}

// UserByName returns the user with the given name, or alerts.ErrNotFound.
func (db *DB) UserByName(ctx context.Context, name string) (auth.User, error) {
	return db.userWhere(ctx, db.sql, "name = ?", name)
}

// queryer is what *sql.DB and *sql.Tx share for reads.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// userWhere returns the one user matching a condition on a column.
func (db *DB) userWhere(ctx context.Context, q queryer, cond string, arg any) (auth.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, alerts.NotFound(fmt.Sprintf("user %v", arg))
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("storage: read user: %w", err)
	}
	return u, nil
}

// Users returns a page of users in ID order.
func (db *DB) Users(ctx context.Context, page Page) ([]auth.User, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, page.Cursor, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list users: %w", err)
	}
	defer rows.Close()
	var users []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list users: %w", err)
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// UpdateUser replaces a user's name and role. u.Version must be the stored
// version: otherwise it returns alerts.ErrConflict and changes nothing, as it
// does when the change would leave no admin or the new name is taken. It
// returns alerts.ErrNotFound when there is no such user.
func (db *DB) UpdateUser(ctx context.Context, actor Actor, u auth.User) (auth.User, error) {
	if err := u.Validate(); err != nil {
		return auth.User{}, err
	}
	var updated auth.User
	// On MySQL, two concurrent demotions of admins can deadlock in keepOneAdmin.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockUser(ctx, tx, u.ID, u.Version)
		if err != nil {
			return err
		}
		if u.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectUser, u.ID, u.Version, before.Version)
		}
		if before.IsAdmin() && u.Role != auth.RoleAdmin {
			if err := db.keepOneAdmin(ctx, tx); err != nil {
				return err
			}
		}
		updated = before
		updated.Name, updated.Role, updated.Version, updated.UpdatedAt = u.Name, u.Role, before.Version+1, db.nowTime()
		_, err = tx.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, version = ?, updated_at = ? WHERE id = ?`,
			updated.Name, updated.Role, updated.Version, millis(updated.UpdatedAt), updated.ID)
		if db.dialect.isUnique(err) {
			return nameTaken(objectUser, u.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: update user: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectUser, u.ID, before, updated)
	})
	return updated, err
}

// DeleteUser deletes a user and its tokens, and takes it out of the teams
// and routes that list it, which get a new version. version, unless 0, must
// be the stored version, or it returns alerts.ErrConflict; deleting the last
// admin is a conflict too. It returns alerts.ErrNotFound when there is no
// such user.
func (db *DB) DeleteUser(ctx context.Context, actor Actor, id, version int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockUser(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if before.IsAdmin() {
			if err := db.keepOneAdmin(ctx, tx); err != nil {
				return err
			}
		}
		// The delete takes the user out of teams and routes (ON DELETE
		// CASCADE): they change, so their versions move on, and an edit
		// made from what they were before is refused.
		now := millis(db.nowTime())
		for _, q := range []string{
			`UPDATE teams SET version = version + 1, updated_at = ? WHERE id IN (SELECT team_id FROM team_members WHERE user_id = ?)`,
			`UPDATE routes SET version = version + 1, updated_at = ? WHERE id IN (SELECT route_id FROM route_users WHERE user_id = ?)`,
		} {
			if _, err := tx.ExecContext(ctx, q, now, id); err != nil {
				return fmt.Errorf("storage: delete user: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return fmt.Errorf("storage: delete user: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionDelete, objectUser, id, before, nil)
	})
}

// lockUser reads a user in tx, locking its row, and checks its version
// (0 accepts any).
func (db *DB) lockUser(ctx context.Context, tx *sql.Tx, id, version int64) (auth.User, error) {
	u, err := db.userWhere(ctx, tx, "id = ?"+db.dialect.forUpdate, id)
	if err != nil {
		return auth.User{}, err
	}
	if version != 0 && u.Version != version {
		return auth.User{}, staleVersion(objectUser, id, version, u.Version)
	}
	return u, nil
}

// keepOneAdmin returns alerts.ErrConflict unless tx sees at least two admins,
// locking their rows so that two concurrent demotions cannot both pass.
func (db *DB) keepOneAdmin(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE role = ?`+db.dialect.forUpdate, auth.RoleAdmin)
	if err != nil {
		return fmt.Errorf("storage: count admins: %w", err)
	}
	defer rows.Close()
	admins := 0
	for rows.Next() {
		admins++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: count admins: %w", err)
	}
	if admins < 2 {
		return alerts.Conflict("tocsin must keep at least one admin")
	}
	return nil
}
