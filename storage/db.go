package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// The drivers Open accepts.
const (
	DriverSQLite = "sqlite"
	DriverMySQL  = "mysql"
)

// ErrSchemaTooNew is returned by Migrate when the database was migrated by a
// newer tocsin than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this tocsin")

//go:embed migrations
var migrations embed.FS

// Options configures Open.
type Options struct {
	// Driver is DriverSQLite or DriverMySQL.
	Driver string
	// DSN is a file path (or file: URI) for SQLite and a go-sql-driver/mysql
	// DSN for MySQL.
	DSN string
	// MaxOpenConns caps the connection pool; 0 means 20.
	MaxOpenConns int
	// Logger receives the store's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DB is the store. Create it with Open, bring its schema up with Migrate, and
// Close it when done.
type DB struct {
	sql *sql.DB
	// connector opens connections outside the pool, such as the one that
	// holds the migration lock while goose uses the pool; nil on SQLite,
	// which takes no such lock.
	connector driver.Connector
	dialect   dialect
	log       *slog.Logger
	now       func() time.Time

	// closing is closed when Close begins, which ends the elections that
	// run on the store.
	closing chan struct{}
	// mu guards closed, set when Close begins; elections counts the
	// Election.Run calls in progress, which Close waits for. An election
	// joins only while closed is unset, so none joins once Close waits.
	mu        sync.Mutex
	closed    bool
	elections sync.WaitGroup
}

// Open connects to the database that opts name and checks that it answers.
// It does not change the schema: call Migrate for that.
func Open(ctx context.Context, opts Options) (*DB, error) {
	d, err := dialectFor(opts.Driver)
	if err != nil {
		return nil, err
	}
	var (
		sqlDB     *sql.DB
		connector driver.Connector
	)
	switch opts.Driver {
	case DriverSQLite:
		sqlDB, err = openSQLite(opts.DSN)
	case DriverMySQL:
		connector, err = mysqlConnector(opts.DSN)
		if err == nil {
			sqlDB = sql.OpenDB(connector)
		}
	}
	if err != nil {
		return nil, err
	}
	conns := opts.MaxOpenConns
	if conns <= 0 {
		conns = 20
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	db := &DB{sql: sqlDB, connector: connector, dialect: d, log: opts.Logger, now: opts.Now, closing: make(chan struct{})}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if db.now == nil {
		db.now = time.Now
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("storage: cannot reach the %s database: %w", opts.Driver, err)
	}
	return db, nil
}

// sqlitePragmas are set on every SQLite connection unless the DSN sets them:
// WAL for concurrent readers, a busy timeout so writers queue instead of
// failing, foreign keys on, and a full fsync at every commit, since a 2xx
// from tocsin promises the data is durable.
var sqlitePragmas = []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)"}

// openSQLite opens the SQLite file that dsn names, creating its directory.
func openSQLite(dsn string) (*sql.DB, error) {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || path == ":memory:" || strings.Contains(query, "mode=memory") {
		return nil, fmt.Errorf("storage: sqlite needs a file (an in-memory database would differ per connection), got %q", dsn)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("storage: create the directory of %s: %w", path, err)
	}
	var params []string
	if query != "" {
		params = append(params, query)
	}
	for _, p := range sqlitePragmas {
		name, _, _ := strings.Cut(p, "(")
		if !strings.Contains(query, "_pragma="+name) {
			params = append(params, "_pragma="+p)
		}
	}
	if !strings.Contains(query, "_txlock=") {
		params = append(params, "_txlock=immediate")
	}
	return sql.Open("sqlite", "file:"+path+"?"+strings.Join(params, "&"))
}

// mysqlConnector returns a connector to the MySQL server that dsn names,
// with the settings tocsin relies on.
func mysqlConnector(dsn string) (driver.Connector, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: bad mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Collation = "utf8mb4_bin"
	cfg.RejectReadOnly = true // a failed-over read-only primary drops the connection
	// The driver puts the arguments into the statement itself, so that a
	// statement with arguments is one round trip rather than prepare,
	// execute and close.
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: bad mysql dsn: %w", err)
	}
	return connector, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.sql.PingContext(ctx)
}

// Close closes the store. First it ends the elections that run on it: a
// leading node cancels its lead function's context, waits for the function
// to return and lets go of its lock, and every Election.Run returns. Then it
// closes the pool; in-flight queries finish first.
func (db *DB) Close() error {
	db.mu.Lock()
	if !db.closed {
		db.closed = true
		close(db.closing)
	}
	db.mu.Unlock()
	db.elections.Wait()
	return db.sql.Close()
}

// Driver returns the driver the store was opened with.
func (db *DB) Driver() string { return db.dialect.name }

// Migrate brings the schema up to the newest version this binary knows. It
// returns ErrSchemaTooNew, changing nothing, when the database is newer.
// On MySQL it holds a named lock meanwhile, so that nodes starting together
// migrate one at a time: it waits up to a minute for another node's
// migration to end, or until ctx ends. The lock takes a connection of its own,
// outside the pool, so that Migrate works on a pool of one.
func (db *DB) Migrate(ctx context.Context) error {
	unlock, err := db.dialect.lockMigrations(ctx, db.connector)
	if err != nil {
		return fmt.Errorf("storage: lock migrations: %w", err)
	}
	defer unlock()

	p, err := db.migrator()
	if err != nil {
		return err
	}
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("storage: read schema version: %w", err)
	}
	if current > latest {
		return fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d; run a newer tocsin", ErrSchemaTooNew, current, latest)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	for _, r := range results {
		db.log.Info("applied schema migration", "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// SchemaVersion returns the database's schema version and the newest one
// this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.migrator()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}

// migrator returns a goose provider over this dialect's embedded migrations.
func (db *DB) migrator() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+db.dialect.name)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(db.dialect.goose, db.sql, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("storage: load migrations: %w", err)
	}
	return p, nil
}

// inTx runs fn in a transaction and commits it when fn returns nil. When
// the database rolls the transaction back to break a deadlock, inTx runs it
// again, a few times at most, as InnoDB expects of its clients: so fn must be
// safe to run more than once (set results, never build on them). Between
// attempts it waits a random while, longer each time, so that the
// transactions that met in the deadlock do not meet again at once.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.inTxWith(ctx, nil, false, fn)
}

// txAttempts is how many times inTxWith runs a transaction at most.
const txAttempts = 5

// inTxWith is inTx with the transaction options opts (nil for the
// defaults). With rerunOnUnique it also runs fn again, at once, when it
// fails on a unique key: for a transaction that inserts only after reading
// what is there, this means a concurrent one inserted the same key and
// committed meanwhile, which the next run will read.
func (db *DB) inTxWith(ctx context.Context, opts *sql.TxOptions, rerunOnUnique bool, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.runTx(ctx, opts, fn)
		deadlock := db.dialect.isDeadlock(err)
		if attempt == txAttempts || !deadlock && !(rerunOnUnique && db.dialect.isUnique(err)) {
			return err
		}
		db.log.Debug("running a transaction again", "attempt", attempt+1, "cause", err)
		if !deadlock {
			continue
		}
		wait := time.NewTimer(rand.N(time.Duration(attempt) * 10 * time.Millisecond))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return err
		}
	}
}

// runTx runs fn in one transaction.
func (db *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// millis converts a time to its stored form.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored time back, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nowTime is the store's clock, truncated to what the store keeps.
func (db *DB) nowTime() time.Time { return fromMillis(millis(db.now())) }
