package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
)

// objectToken is the audit log's name for tokens.
const objectToken = "token"

const tokenColumns = `id, user_id, name, hash, expires_at, version, created_at`

// scanToken reads a row of tokenColumns.
func scanToken(row interface{ Scan(...any) error }) (auth.Token, error) {
	var (
		t       auth.Token
		expires sql.NullInt64
		created int64
	)
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &expires, &t.Version, &created)
	t.CreatedAt, t.ExpiresAt = fromMillis(created), timeOrNil(expires)
	return t, err
}

// timeOrNil converts a nullable stored time.
func timeOrNil(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := fromMillis(ms.Int64)
	return &t
}

// nullMillis converts an optional time to its stored form.
func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(*t), Valid: true}
}

// CreateToken stores a token's metadata and hash (t.Hash, from
// auth.NewToken). It returns alerts.ErrInvalid for a bad name or expiry, and
// alerts.ErrNotFound when t.UserID names no user.
func (db *DB) CreateToken(ctx context.Context, actor Actor, t auth.Token) (auth.Token, error) {
	if err := t.Validate(db.now()); err != nil {
		return auth.Token{}, err
	}
	var created auth.Token
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.userWhere(ctx, tx, "id = ?"+db.dialect.forUpdate, t.UserID); err != nil {
			return err
		}
		var err error
		created, err = db.insertToken(ctx, tx, actor, t)
		return err
	})
	return created, err
}

// insertToken inserts a validated token of an existing user in tx and audits it.
func (db *DB) insertToken(ctx context.Context, tx *sql.Tx, actor Actor, t auth.Token) (auth.Token, error) {
	if len(t.Hash) != len(auth.HashToken("")) {
		return auth.Token{}, fmt.Errorf("storage: create token: hash of %d bytes, want a SHA-256", len(t.Hash))
	}
	if t.ExpiresAt != nil {
		e := fromMillis(millis(*t.ExpiresAt))
		t.ExpiresAt = &e
	}
	t.CreatedAt, t.Version = db.nowTime(), 1
	res, err := tx.ExecContext(ctx,
		`INSERT INTO tokens (user_id, name, hash, expires_at, version, created_at) VALUES (?, ?, ?, ?, 1, ?)`,
		t.UserID, t.Name, t.Hash, nullMillis(t.ExpiresAt), millis(t.CreatedAt))
	if err != nil {
		return auth.Token{}, fmt.Errorf("storage: create token: %w", err)
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return auth.Token{}, fmt.Errorf("storage: create token: %w", err)
	}
	return t, db.audit(ctx, tx, actor, ActionCreate, objectToken, t.ID, nil, t)
}

// Token returns the token with the given ID, or alerts.ErrNotFound.
func (db *DB) Token(ctx context.Context, id int64) (auth.Token, error) {
	return db.tokenByID(ctx, db.sql, id, "")
}

// tokenByID reads one token, with an optional locking clause.
func (db *DB) tokenByID(ctx context.Context, q queryer, id int64, lock string) (auth.Token, error) {
	t, err := scanToken(q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, alerts.NotFound(fmt.Sprintf("token %d", id))
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("storage: read token: %w", err)
	}
	return t, nil
}

// Tokens returns a page of tokens in ID order: those of one user, or of all
// users when userID is 0.
func (db *DB) Tokens(ctx context.Context, userID int64, page Page) ([]auth.Token, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+tokenColumns+` FROM tokens WHERE id > ? AND (? = 0 OR user_id = ?) ORDER BY id LIMIT ?`,
		page.Cursor, userID, userID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list tokens: %w", err)
	}
	defer rows.Close()
	var tokens []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list tokens: %w", err)
		}
		tokens = append(tokens, t)
	}
	return tokens, rows.Err()
}

// UpdateToken replaces a token's name and expiry; its owner and secret never
// change. t.Version must be the stored version, or it returns
// alerts.ErrConflict. It returns alerts.ErrNotFound when there is no such
// token and alerts.ErrInvalid for a bad name or expiry.
func (db *DB) UpdateToken(ctx context.Context, actor Actor, t auth.Token) (auth.Token, error) {
	if err := t.Validate(db.now()); err != nil {
		return auth.Token{}, err
	}
	var updated auth.Token
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockToken(ctx, tx, t.ID, t.Version)
		if err != nil {
			return err
		}
		if t.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectToken, t.ID, t.Version, before.Version)
		}
		updated = before
		updated.Name, updated.ExpiresAt, updated.Version = t.Name, timeOrNil(nullMillis(t.ExpiresAt)), before.Version+1
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET name = ?, expires_at = ?, version = ? WHERE id = ?`,
			updated.Name, nullMillis(updated.ExpiresAt), updated.Version, updated.ID); err != nil {
			return fmt.Errorf("storage: update token: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectToken, t.ID, before, updated)
	})
	return updated, err
}

// DeleteToken revokes a token: it stops working at once. version, unless 0,
// must be the stored version, or it returns alerts.ErrConflict. It returns
// alerts.ErrNotFound when there is no such token.
func (db *DB) DeleteToken(ctx context.Context, actor Actor, id, version int64) error {
	return deleteRow(ctx, db, actor, objectToken, "tokens", id, func(tx *sql.Tx) (auth.Token, error) {
		return db.lockToken(ctx, tx, id, version)
	})
}

// lockToken reads a token in tx, locking its row, and checks its version
// (0 accepts any).
func (db *DB) lockToken(ctx context.Context, tx *sql.Tx, id, version int64) (auth.Token, error) {
	t, err := db.tokenByID(ctx, tx, id, db.dialect.forUpdate)
	if err != nil {
		return auth.Token{}, err
	}
	if version != 0 && t.Version != version {
		return auth.Token{}, staleVersion(objectToken, id, version, t.Version)
	}
	return t, nil
}

// Authenticate returns the user a presented token belongs to, and the token.
// It returns alerts.ErrUnauthorized when the token is unknown, revoked or
// expired.
func (db *DB) Authenticate(ctx context.Context, presented string) (auth.User, auth.Token, error) {
	row := db.sql.QueryRowContext(ctx,
		`SELECT t.id, t.user_id, t.name, t.hash, t.expires_at, t.version, t.created_at,
		        u.id, u.name, u.role, u.version, u.created_at, u.updated_at
		 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, auth.HashToken(presented))
	var (
		t                  auth.Token
		u                  auth.User
		expires            sql.NullInt64
		tCreated           int64
		uCreated, uUpdated int64
	)
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &expires, &t.Version, &tCreated,
		&u.ID, &u.Name, &u.Role, &u.Version, &uCreated, &uUpdated)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, auth.Token{}, &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "unknown or revoked token"}
	}
	if err != nil {
		return auth.User{}, auth.Token{}, fmt.Errorf("storage: authenticate: %w", err)
	}
	t.ExpiresAt, t.CreatedAt = timeOrNil(expires), fromMillis(tCreated)
	u.CreatedAt, u.UpdatedAt = fromMillis(uCreated), fromMillis(uUpdated)
	if !t.Matches(presented) {
		return auth.User{}, auth.Token{}, &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "unknown or revoked token"}
	}
	if t.Expired(db.now()) {
		return auth.User{}, auth.Token{}, &alerts.Error{Kind: alerts.ErrUnauthorized, Message: "token expired"}
	}
	return u, t, nil
}

// Bootstrap creates the first admin, named "admin", with a token, when the
// store has no users at all. It returns the token (to be shown once) and
// true when it created them; on a store that has users it does nothing. Of
// several nodes bootstrapping one store at once, exactly one creates them.
func (db *DB) Bootstrap(ctx context.Context) (token string, created bool, err error) {
	token, hash, err := auth.NewToken()
	if err != nil {
		return "", false, err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var users int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&users); err != nil {
			return fmt.Errorf("storage: count users: %w", err)
		}
		if users > 0 {
			return nil
		}
		u, err := db.insertUser(ctx, tx, SystemActor(), auth.User{Name: "admin", Role: auth.RoleAdmin})
		if err != nil {
			return err
		}
		_, err = db.insertToken(ctx, tx, SystemActor(), auth.Token{UserID: u.ID, Name: "bootstrap", Hash: hash})
		created = err == nil
		return err
	})
	if errors.Is(err, alerts.ErrConflict) {
		return "", false, nil // another node created the admin first
	}
	if err != nil || !created {
		return "", false, err
	}
	return token, true, nil
}

// LiveTokens returns which of ids are tokens that still work: they exist,
// have not expired at the store's clock, and their users exist. IDs that are
// not live are absent from the map. It reads in chunks, so ids may be many.
func (db *DB) LiveTokens(ctx context.Context, ids []int64) (map[int64]bool, error) {
	live := make(map[int64]bool, len(ids))
	keys := slices.Clone(ids)
	slices.Sort(keys)
	now := millis(db.now())
	err := forKeys(slices.Compact(keys), func(in string, args []any) error {
		rows, err := db.sql.QueryContext(ctx,
			`SELECT t.id FROM tokens t JOIN users u ON u.id = t.user_id
			 WHERE t.id IN (`+in+`) AND (t.expires_at IS NULL OR t.expires_at > ?)`, append(args, now)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			live[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read live tokens: %w", err)
	}
	return live, nil
}
