package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
	// isUnique reports whether err is a unique-key violation.
	isUnique func(err error) bool
	// isDeadlock reports whether err means the database rolled the
	// transaction back to break a deadlock, so that it may be run again.
	isDeadlock func(err error) bool
	// lockMigrations serialises migrations across processes.
	lockMigrations func(ctx context.Context, db *sql.DB) (unlock func(), err error)
}

// dialectFor returns the dialect of a driver name.
func dialectFor(driver string) (dialect, error) {
	switch driver {
	case DriverSQLite:
		return dialect{
			name:      DriverSQLite,
			goose:     goose.DialectSQLite3,
			forUpdate: "",
			isUnique: func(err error) bool {
				var e *sqlite.Error
				return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
			},
			// Transactions take the write lock at BEGIN: they never deadlock.
			isDeadlock:     func(error) bool { return false },
			lockMigrations: func(context.Context, *sql.DB) (func(), error) { return func() {}, nil },
		}, nil
	case DriverMySQL:
		return dialect{
			name:      DriverMySQL,
			goose:     goose.DialectMySQL,
			forUpdate: " FOR UPDATE",
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
	return dialect{}, fmt.Errorf("storage: unknown driver %q (want %q or %q)", driver, DriverSQLite, DriverMySQL)
}

// mysqlNamedLock returns a lock function that holds the MySQL named lock name
// on a connection of its own, waiting up to timeoutSeconds for it.
func mysqlNamedLock(name string, timeoutSeconds int) func(ctx context.Context, db *sql.DB) (func(), error) {
	return func(ctx context.Context, db *sql.DB) (func(), error) {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, timeoutSeconds).Scan(&got); err != nil {
			conn.Close()
			return nil, err
		}
		if got.Int64 != 1 {
			conn.Close()
			return nil, fmt.Errorf("another node held the lock %q for %d s", name, timeoutSeconds)
		}
		return func() {
			conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", name)
			conn.Close()
		}, nil
	}
}
