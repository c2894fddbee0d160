package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// pragma reads an SQLite pragma's value on conn.
func pragma(t *testing.T, conn *sql.Conn, name string) string {
	t.Helper()
	var v string
	if err := conn.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// eachPoolConn takes n connections of the store's pool at once, so that a
// test sees the settings of more than the first, runs check on each, and
// returns them to the pool.
func eachPoolConn(t *testing.T, db *storage.DB, n int, check func(i int, conn *sql.Conn)) {
	t.Helper()
	conns := make([]*sql.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := storage.Pool(db).Conn(t.Context())
		if err != nil {
			t.Fatalf("connection %d of the pool: %v", i, err)
		}
		conns[i] = c
	}
	for i, c := range conns {
		check(i, c)
	}
}

func TestSQLiteConnectionSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// query is the DSN's query string, if any.
		query string
		want  map[string]string
	}{
		{
			name:  "defaults",
			query: "",
			// synchronous 2 is FULL.
			want: map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "synchronous": "2", "foreign_keys": "1"},
		},
		{
			name:  "DSN overrides one pragma",
			query: "?_pragma=busy_timeout(2500)",
			want:  map[string]string{"journal_mode": "wal", "busy_timeout": "2500", "synchronous": "2", "foreign_keys": "1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := testdb.SQLite(t)
			db := openStoreWith(t, storage.Options{Driver: target.Driver, DSN: "file:" + target.DSN + c.query, MaxOpenConns: 2})
			eachPoolConn(t, db, 2, func(i int, conn *sql.Conn) {
				for name, want := range c.want {
					if got := pragma(t, conn, name); got != want {
						t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, name, got, want)
					}
				}
			})
		})
	}
}

func TestMySQLConnectionSettings(t *testing.T) {
	t.Parallel()
	target := testdb.MySQL(t)
	db := openStoreWith(t, storage.Options{Driver: target.Driver, DSN: target.DSN, MaxOpenConns: 2})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	eachPoolConn(t, db, 2, func(i int, conn *sql.Conn) {
		var charset, collation string
		if err := conn.QueryRowContext(t.Context(), `SELECT @@character_set_connection, @@collation_connection`).Scan(&charset, &collation); err != nil {
			t.Fatalf("connection %d: read charset: %v", i, err)
		}
		if charset != "utf8mb4" || collation != "utf8mb4_bin" {
			t.Errorf("connection %d: charset, collation = %q, %q; want utf8mb4, utf8mb4_bin", i, charset, collation)
		}
	})

	// tocsin leaves clientFoundRows alone: an UPDATE that changes nothing
	// reports no rows affected.
	u := mustCreateUser(t, db, "same", auth.RoleAdmin)
	res, err := storage.Pool(db).ExecContext(t.Context(), `UPDATE users SET name = name WHERE id = ?`, u.ID)
	if err != nil {
		t.Fatalf("no-op UPDATE: %v", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 0 {
		t.Errorf("no-op UPDATE affected %d rows (%v), want 0: clientFoundRows is set", n, err)
	}
}

// TestPoolOfOne checks that a store whose pool holds a single connection
// migrates (on MySQL the migration lock must not take that connection) and
// works.
func TestPoolOfOne(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		// A regression deadlocks Migrate; the deadline makes it fail instead.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		db := openStoreWith(t, storage.Options{Driver: target.Driver, DSN: target.DSN, MaxOpenConns: 1})
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate on a pool of one: %v", err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate on a pool of one: %v", err)
		}
		current, latest, err := db.SchemaVersion(ctx)
		if err != nil || current != latest {
			t.Fatalf("SchemaVersion after Migrate = (%d, %d), %v; want equal versions", current, latest, err)
		}
		token, created, err := db.Bootstrap(ctx)
		if err != nil || !created {
			t.Fatalf("Bootstrap on a pool of one = created %v, %v; want created", created, err)
		}
		if _, _, err := db.Authenticate(ctx, token); err != nil {
			t.Fatalf("Authenticate on a pool of one: %v", err)
		}
	})
}

// TestMigrateLockWaitEndsWithContext checks that Migrate, waiting for another
// node's migration lock, gives up when its context ends rather than after
// the lock's own timeout.
func TestMigrateLockWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	target := testdb.MySQL(t)
	db := openStore(t, target, newFakeClock())
	raw := openRaw(t, target)
	// This holds up the other tests' migrations for as long as it holds the
	// lock (about a second): the lock is the server's, not the database's.
	other, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatalf("connection for the other node: %v", err)
	}
	defer other.Close()
	var got sql.NullInt64
	if err := other.QueryRowContext(t.Context(), `SELECT GET_LOCK('tocsin.migrate', 30)`).Scan(&got); err != nil || got.Int64 != 1 {
		t.Fatalf("other node's GET_LOCK = %v, %v; want 1", got, err)
	}
	defer other.ExecContext(context.Background(), `SELECT RELEASE_LOCK('tocsin.migrate')`)

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	err = db.Migrate(ctx)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Migrate returned %v after its context ended", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Migrate while another node holds the lock: got %v, want context.DeadlineExceeded", err)
	}
}
