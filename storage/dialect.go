package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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
			isDeadlock:     func(error) bool { return false },
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
			lockMigrations: mysqlNamedLock("tocsin.migrate", 60),
		}, nil
	}
	return dialect{}, fmt.Errorf("storage: unknown driver %q (want %q or %q)", name, DriverSQLite, DriverMySQL)
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
