package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the two databases.
type dialect struct {
	// name is the driver name, also the migrations folder.
	name  string
	goose goose.Dialect
	// forUpdate ends a SELECT that must lock the rows it reads until commit.
	// SQLite needs none: its transactions hold the write lock from BEGIN.
	forUpdate string
	// snapshot are the options of a read-only transaction whose reads all
	// see the database as it was at one moment.
	snapshot sql.TxOptions
	// isUnique reports whether err is a unique-key violation.
	isUnique func(err error) bool
	// isDeadlock reports whether err means the database rolled the
	// transaction back to break a deadlock, so that it may be run again.
	isDeadlock func(err error) bool
	// openIndex follows "FROM alerts" in a locking read by open_fingerprint,
	// to make the database use that key: a scan of the table would lock, or
	// wait for, rows of alerts that the read does not select.
	openIndex string
	// ingest are the options of the transactions that write alerts: on
	// MySQL, READ COMMITTED, so that a locking read of a fingerprint with no
	// open alert takes no gap lock that would hold up other batches.
	ingest *sql.TxOptions
	// idsInTx is whether takeIDs runs inside the transaction that uses the
	// IDs. On MySQL it runs before, in a statement of its own, so that the
	// sequence's row is locked for that statement only rather than until the
	// batch commits; SQLite serialises its writers anyway.
	idsInTx bool
	// takeIDs advances the sequence name by n and returns its new next_id:
	// the IDs taken are the n before it.
	takeIDs func(ctx context.Context, x execQueryer, name string, n int) (next int64, err error)
	// upsert returns the clause that ends a multi-row INSERT so that a row
	// whose key column already exists updates cols of the stored row instead.
	upsert func(key string, cols ...string) string
	// lockMigrations serialises migrations across processes, holding its lock
	// on a connection that it opens with connector, outside the store's pool.
	lockMigrations func(ctx context.Context, connector driver.Connector) (unlock func(), err error)
}

// dialectFor returns the dialect of a driver name.
func dialectFor(name string) (dialect, error) {
	switch name {
	case DriverSQLite:
		return dialect{
			name:      DriverSQLite,
			goose:     goose.DialectSQLite3,
			forUpdate: "",
			// A read-only transaction begins with a plain (deferred) BEGIN
			// whatever _txlock says, so it takes no write lock; in WAL mode
			// its first read fixes the snapshot that its later reads see.
			snapshot: sql.TxOptions{ReadOnly: true},
			isUnique: func(err error) bool {
				var e *sqlite.Error
				return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
			},
			// Transactions take the write lock at BEGIN: they never deadlock.
			isDeadlock: func(error) bool { return false },
			idsInTx:    true,
			takeIDs: func(ctx context.Context, x execQueryer, name string, n int) (int64, error) {
				var next int64
				err := x.QueryRowContext(ctx, `UPDATE sequences SET next_id = next_id + ? WHERE name = ? RETURNING next_id`, n, name).Scan(&next)
				return next, err
			},
			upsert: func(key string, cols ...string) string {
				set := make([]string, len(cols))
				for i, c := range cols {
					set[i] = c + " = excluded." + c
				}
				return " ON CONFLICT (" + key + ") DO UPDATE SET " + strings.Join(set, ", ")
			},
			lockMigrations: func(context.Context, driver.Connector) (func(), error) { return func() {}, nil },
		}, nil
	case DriverMySQL:
		return dialect{
			name:      DriverMySQL,
			goose:     goose.DialectMySQL,
			forUpdate: " FOR UPDATE",
			// In REPEATABLE READ, InnoDB answers every plain SELECT of a
			// transaction from the snapshot its first one took; the level is
			// set here in case the server's default is another.
			snapshot: sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
			isUnique: func(err error) bool {
				var e *mysql.MySQLError
				return errors.As(err, &e) && e.Number == 1062 // ER_DUP_ENTRY
			},
			isDeadlock: func(err error) bool {
				var e *mysql.MySQLError
				return errors.As(err, &e) && e.Number == 1213 // ER_LOCK_DEADLOCK
			},
			openIndex: " FORCE INDEX (alerts_open_fingerprint)",
			ingest:    &sql.TxOptions{Isolation: sql.LevelReadCommitted},
			takeIDs:   mysqlTakeIDs,
			upsert: func(_ string, cols ...string) string {
				// The key is whichever unique key the row collides with; the
				// callers' rows can collide on their primary key only.
				set := make([]string, len(cols))
				for i, c := range cols {
					set[i] = c + " = VALUES(" + c + ")"
				}
				return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
			},
			lockMigrations: mysqlNamedLock("tocsin.migrate", 60),
		}, nil
	}
	return dialect{}, fmt.Errorf("storage: unknown driver %q (want %q or %q)", name, DriverSQLite, DriverMySQL)
}

// execQueryer is what *sql.DB and *sql.Tx share for statements that return
// one row or none.
type execQueryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// mysqlTakeIDs advances a sequence in one statement that also returns its
// new value: LAST_INSERT_ID(expr) makes the server report expr as the
// statement's insert ID.
func mysqlTakeIDs(ctx context.Context, x execQueryer, name string, n int) (int64, error) {
	res, err := x.ExecContext(ctx, `UPDATE sequences SET next_id = LAST_INSERT_ID(next_id + ?) WHERE name = ?`, n, name)
	if err != nil {
		return 0, err
	}
	if rows, err := res.RowsAffected(); err != nil || rows != 1 {
		return 0, fmt.Errorf("sequence %q: %d rows updated (%v), want 1", name, rows, err)
	}
	return res.LastInsertId()
}

// mysqlNamedLock returns a lock function that holds the MySQL named lock name
// on a connection of its own, outside the store's pool, so that the pool
// stays free for the work done under the lock even when it holds a single
// connection. It waits up to timeoutSeconds for another session to release
// the lock, or until ctx ends.
func mysqlNamedLock(name string, timeoutSeconds int) func(ctx context.Context, connector driver.Connector) (func(), error) {
	return func(ctx context.Context, connector driver.Connector) (func(), error) {
		lockDB := sql.OpenDB(connector)
		lockDB.SetMaxOpenConns(1)
		conn, err := lockDB.Conn(ctx)
		if err != nil {
			lockDB.Close()
			return nil, err
		}
		release := func() {
			conn.Close()
			lockDB.Close()
		}
		// GET_LOCK returns 1 when it takes the lock, 0 when it timed out
		// waiting, and NULL on an error such as the session being killed.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, timeoutSeconds).Scan(&got); err != nil {
			release()
			return nil, fmt.Errorf("GET_LOCK(%q) failed: %w", name, err)
		}
		switch {
		case !got.Valid:
			release()
			return nil, fmt.Errorf("GET_LOCK(%q) failed: the server returned NULL", name)
		case got.Int64 != 1:
			release()
			return nil, fmt.Errorf("timed out after %d s waiting for another node to release the lock %q", timeoutSeconds, name)
		}
		return func() {
			// Closing the connection would release the lock too; releasing
			// it first says so to the server at once.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", name)
			release()
		}, nil
	}
}
