package storage_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// migrationVersions returns the versions of a dialect's migration files, in
// order, read from the source tree that the binary embeds.
func migrationVersions(t *testing.T, driver string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("migrations", driver))
	if err != nil {
		t.Fatalf("read the %s migrations: %v", driver, err)
	}
	var versions []int64
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			t.Fatalf("migrations/%s/%s: want NNNNN_name.sql", driver, e.Name())
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("migrations/%s/%s: version: %v", driver, e.Name(), err)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions
}

// TestMigrationsMatchAcrossDialects checks that both dialects have the same
// migration versions, so that a schema version means the same on both.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	t.Parallel()
	sqlite, mysql := migrationVersions(t, storage.DriverSQLite), migrationVersions(t, storage.DriverMySQL)
	if len(sqlite) == 0 {
		t.Fatal("no sqlite migrations")
	}
	if !slices.Equal(sqlite, mysql) {
		t.Fatalf("migration versions differ: sqlite %v, mysql %v", sqlite, mysql)
	}
}

// gooseRow is a row of goose's version table.
type gooseRow struct {
	version int64
	applied bool
}

// gooseRows reads goose's version table in insertion order. Naming its
// columns checks that the table is what the tests below assume on each
// database: (id, version_id, is_applied, tstamp).
func gooseRows(t *testing.T, raw *sql.DB) []gooseRow {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), `SELECT version_id, is_applied, tstamp FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	defer rows.Close()
	var out []gooseRow
	for rows.Next() {
		var (
			r      gooseRow
			tstamp any
		)
		if err := rows.Scan(&r.version, &r.applied, &tstamp); err != nil {
			t.Fatalf("read goose_db_version: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	return out
}

// tables returns the names of the tables in the database, sorted.
func tables(t *testing.T, driver string, raw *sql.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if driver == storage.DriverMySQL {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`
	}
	rows, err := raw.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	slices.Sort(names)
	return names
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		ctx := t.Context()
		db := openStore(t, target, newFakeClock())
		raw := openRaw(t, target)
		files := migrationVersions(t, target.Driver)
		newest := files[len(files)-1]

		if got := tables(t, target.Driver, raw); len(got) != 0 {
			t.Fatalf("fresh database has tables %v, want none", got)
		}
		current, latest, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatalf("SchemaVersion before Migrate: %v", err)
		}
		if current != 0 || latest != newest {
			t.Fatalf("SchemaVersion before Migrate = (%d, %d), want (0, %d)", current, latest, newest)
		}

		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		current, latest, err = db.SchemaVersion(ctx)
		if err != nil {
			t.Fatalf("SchemaVersion after Migrate: %v", err)
		}
		if current != newest || latest != newest {
			t.Fatalf("SchemaVersion after Migrate = (%d, %d), want (%d, %d)", current, latest, newest, newest)
		}
		wantTables := []string{"alert_history", "alerts", "audit_log", "goose_db_version", "inbox", "inbox_heads", "leaders", "poller_state", "pollers", "route_teams", "route_users", "routes", "sequences", "silences", "sources", "team_members", "teams", "tokens", "users"}
		if got := tables(t, target.Driver, raw); !slices.Equal(got, wantTables) {
			t.Fatalf("tables after Migrate = %v, want %v", got, wantTables)
		}
		wantRows := []gooseRow{{0, true}}
		for _, v := range files {
			wantRows = append(wantRows, gooseRow{v, true})
		}
		if got := gooseRows(t, raw); !slices.Equal(got, wantRows) {
			t.Fatalf("goose_db_version after Migrate = %v, want %v", got, wantRows)
		}

		// A second Migrate changes nothing, data included.
		u := mustCreateUser(t, db, "kept", auth.RoleAdmin)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if got := gooseRows(t, raw); !slices.Equal(got, wantRows) {
			t.Fatalf("goose_db_version after second Migrate = %v, want %v", got, wantRows)
		}
		if got := tables(t, target.Driver, raw); !slices.Equal(got, wantTables) {
			t.Fatalf("tables after second Migrate = %v, want %v", got, wantTables)
		}
		got, err := db.User(ctx, u.ID)
		if err != nil || !sameUser(got, u) {
			t.Fatalf("user after second Migrate = %+v, %v; want %+v", got, err, u)
		}
	})
}

// numbers matches the whole numbers in an error message.
var numbers = regexp.MustCompile(`\d+`)

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// migrated: the database has this binary's schema besides the newer
		// version; otherwise it has only goose's table.
		migrated bool
	}{
		{name: "migrated database", migrated: true},
		{name: "database without tables", migrated: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				t.Parallel()
				ctx := t.Context()
				db := openStore(t, target, newFakeClock())
				raw := openRaw(t, target)
				if c.migrated {
					if err := db.Migrate(ctx); err != nil {
						t.Fatalf("Migrate: %v", err)
					}
					mustCreateUser(t, db, "kept", auth.RoleAdmin)
				}
				// SchemaVersion creates goose's table when it is missing.
				_, latest, err := db.SchemaVersion(ctx)
				if err != nil {
					t.Fatalf("SchemaVersion: %v", err)
				}
				newer := latest + 1000
				if _, err := raw.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`, newer, true); err != nil {
					t.Fatalf("insert version %d: %v", newer, err)
				}
				beforeRows, beforeTables := gooseRows(t, raw), tables(t, target.Driver, raw)

				for attempt := 1; attempt <= 2; attempt++ {
					err = db.Migrate(ctx)
					if !errors.Is(err, storage.ErrSchemaTooNew) {
						t.Fatalf("Migrate #%d on a database at version %d: got %v, want ErrSchemaTooNew", attempt, newer, err)
					}
					nums := numbers.FindAllString(err.Error(), -1)
					for _, v := range []int64{newer, latest} {
						if !slices.Contains(nums, strconv.FormatInt(v, 10)) {
							t.Fatalf("Migrate #%d: error %q does not name version %d", attempt, err, v)
						}
					}
					if got := gooseRows(t, raw); !slices.Equal(got, beforeRows) {
						t.Fatalf("Migrate #%d changed goose_db_version: got %v, want %v", attempt, got, beforeRows)
					}
					if got := tables(t, target.Driver, raw); !slices.Equal(got, beforeTables) {
						t.Fatalf("Migrate #%d changed the tables: got %v, want %v", attempt, got, beforeTables)
					}
				}
				current, _, err := db.SchemaVersion(ctx)
				if err != nil || current != newer {
					t.Fatalf("SchemaVersion after refusal = %d, %v; want %d", current, err, newer)
				}
				if c.migrated {
					var n int
					if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil || n != 1 {
						t.Fatalf("users after refusal = %d, %v; want 1", n, err)
					}
				}
			})
		})
	}
}

func TestOpenFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		opts storage.Options
		// wantText is a part of the error message, if any.
		wantText string
		// noFile must not exist afterwards, if set.
		noFile string
	}{
		{name: "unknown driver", opts: storage.Options{Driver: "postgres", DSN: "postgres://localhost/tocsin"}, wantText: `"postgres"`},
		{name: "no driver", opts: storage.Options{DSN: filepath.Join(dir, "nodriver.db")}, noFile: filepath.Join(dir, "nodriver.db")},
		{name: "sqlite :memory:", opts: storage.Options{Driver: storage.DriverSQLite, DSN: ":memory:"}, wantText: "file"},
		{name: "sqlite file::memory:", opts: storage.Options{Driver: storage.DriverSQLite, DSN: "file::memory:?cache=shared"}, wantText: "file"},
		{name: "sqlite mode=memory", opts: storage.Options{Driver: storage.DriverSQLite, DSN: "file:" + filepath.Join(dir, "mem", "x.db") + "?mode=memory"}, wantText: "file", noFile: filepath.Join(dir, "mem")},
		{name: "sqlite empty dsn", opts: storage.Options{Driver: storage.DriverSQLite, DSN: ""}, wantText: "file"},
		{name: "mysql bad dsn", opts: storage.Options{Driver: storage.DriverMySQL, DSN: "not a dsn"}, wantText: "dsn"},
		{name: "mysql unreachable", opts: storage.Options{Driver: storage.DriverMySQL, DSN: "root@tcp(127.0.0.1:1)/tocsin"}, wantText: "cannot reach"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, err := storage.Open(t.Context(), c.opts)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q, %q) succeeded, want an error", c.opts.Driver, c.opts.DSN)
			}
			if !strings.Contains(err.Error(), c.wantText) {
				t.Fatalf("Open(%q, %q): error %q does not contain %q", c.opts.Driver, c.opts.DSN, err, c.wantText)
			}
			if c.noFile != "" {
				if _, err := os.Stat(c.noFile); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Open(%q, %q) left %s behind (stat: %v)", c.opts.Driver, c.opts.DSN, c.noFile, err)
				}
			}
		})
	}
}

func TestOpenSQLiteCreatesDirectory(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		dsn  func(path string) string
	}{
		{name: "path", dsn: func(path string) string { return path }},
		{name: "file URI with parameters", dsn: func(path string) string { return "file:" + path + "?_pragma=cache_size(-4000)" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "not", "there", "yet", "tocsin.db")
			target := testdb.Target{Driver: storage.DriverSQLite, DSN: c.dsn(path)}
			db := openStore(t, target, newFakeClock())
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			u := mustCreateUser(t, db, "root", auth.RoleAdmin)
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("DSN %q: no database file at %s: %v", target.DSN, path, err)
			}
			// A second store on the same file sees the same data: it is one
			// file, not one database per connection.
			other := openStore(t, target, newFakeClock())
			got, err := other.User(t.Context(), u.ID)
			if err != nil || !sameUser(got, u) {
				t.Fatalf("DSN %q: second store reads %+v, %v; want %+v", target.DSN, got, err, u)
			}
		})
	}
}
