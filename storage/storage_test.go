package storage_test

// The storage tests are one conformance suite: every test body runs once per
// database that internal/testdb offers (SQLite always, MariaDB/MySQL when
// TOCSIN_TEST_MYSQL_DSN is set), as a subtest named after the driver.

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/fakeclock"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// The store is what the API serves from.
var _ api.Store = (*storage.DB)(nil)

// newFakeClock returns a clock set to a time that is not in UTC and has
// sub-millisecond digits, so that tests see the store normalise both.
func newFakeClock() *fakeClock {
	return &fakeClock{fakeclock.New(time.Date(2031, 3, 14, 15, 9, 26, 535_897_932, time.FixedZone("UTC+5", 5*3600)))}
}

// fakeClock is the store's clock in tests.
type fakeClock struct{ *fakeclock.Clock }

// Stored returns the clock's time as the store keeps it: whole milliseconds,
// in UTC.
func (c *fakeClock) Stored() time.Time {
	return c.Now().UTC().Truncate(time.Millisecond)
}

// env is one migrated store under test, with its clock and its database.
type env struct {
	db     *storage.DB
	clock  *fakeClock
	target testdb.Target
	// raw is a handle on the same database that bypasses the store, to look
	// at (or tamper with) what it wrote.
	raw *sql.DB
}

// forEachStore runs fn, as a parallel subtest named by driver, on a fresh
// migrated store for every database testdb offers. The store runs on a fake
// clock and is closed when the subtest ends.
func forEachStore(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	forEachEnv(t, func(t *testing.T, e *env) { fn(t, e.db) })
}

// forEachEnv is forEachStore for tests that also need the store's clock or
// its database.
func forEachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		e := &env{clock: newFakeClock(), target: target}
		e.db = openStore(t, target, e.clock)
		e.raw = openRaw(t, target)
		if err := e.db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		fn(t, e)
	})
}

// openStore opens a store on target, without migrating it, and closes it
// when the test ends.
func openStore(t *testing.T, target testdb.Target, clock *fakeClock) *storage.DB {
	t.Helper()
	return openStoreWith(t, storage.Options{Driver: target.Driver, DSN: target.DSN, MaxOpenConns: 4, Now: clock.Now})
}

// openStoreWith opens a store with opts, without migrating it, and closes it
// when the test ends.
func openStoreWith(t *testing.T, opts storage.Options) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Driver, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openRaw opens target with its plain database/sql driver and closes it when
// the test ends.
func openRaw(t *testing.T, target testdb.Target) *sql.DB {
	t.Helper()
	dsn := target.DSN
	if target.Driver == storage.DriverSQLite {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(target.Driver, dsn)
	if err != nil {
		t.Fatalf("open %s directly: %v", target.Driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// count runs a SELECT COUNT(*) query on the raw database.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.raw.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// auditRows returns how many rows the audit log has.
func (e *env) auditRows(t *testing.T) int {
	t.Helper()
	return e.count(t, `SELECT COUNT(*) FROM audit_log`)
}

// checkErr fails the test unless err is of class kind and, when field is not
// empty, an *alerts.Error naming that field.
func checkErr(t *testing.T, what string, err, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want %v", what, err, kind)
	}
	if field == "" {
		return
	}
	var ae *alerts.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got error %T %v, want an *alerts.Error", what, err, err)
	}
	if ae.Field != field {
		t.Fatalf("%s: got field %q, want %q (error %v)", what, ae.Field, field, err)
	}
}

// sameTime reports whether a and b are the same instant and a is in UTC, as
// every time the store returns is.
func sameTime(a, b time.Time) bool {
	return a.Equal(b) && a.Location() == time.UTC
}

// sameUser reports whether two users are equal field by field.
func sameUser(got, want auth.User) bool {
	return got.ID == want.ID && got.Name == want.Name && got.Role == want.Role && got.Version == want.Version &&
		sameTime(got.CreatedAt, want.CreatedAt) && sameTime(got.UpdatedAt, want.UpdatedAt)
}

// sameToken reports whether two tokens are equal field by field, their
// hashes included when withHash is set.
func sameToken(got, want auth.Token, withHash bool) bool {
	if (got.ExpiresAt == nil) != (want.ExpiresAt == nil) ||
		got.ExpiresAt != nil && !sameTime(*got.ExpiresAt, *want.ExpiresAt) {
		return false
	}
	if withHash && string(got.Hash) != string(want.Hash) {
		return false
	}
	return got.ID == want.ID && got.UserID == want.UserID && got.Name == want.Name && got.Version == want.Version &&
		sameTime(got.CreatedAt, want.CreatedAt)
}

// fmtToken formats a token for a failure message.
func fmtToken(tok auth.Token) string {
	exp := "nil"
	if tok.ExpiresAt != nil {
		exp = tok.ExpiresAt.String()
	}
	return fmt.Sprintf("{ID:%d UserID:%d Name:%q ExpiresAt:%s Version:%d CreatedAt:%s Hash:%x}",
		tok.ID, tok.UserID, tok.Name, exp, tok.Version, tok.CreatedAt, tok.Hash)
}

// mustCreateUser creates a user or fails the test.
func mustCreateUser(t *testing.T, db *storage.DB, name string, role auth.Role) auth.User {
	t.Helper()
	u, err := db.CreateUser(t.Context(), storage.CLIActor(), auth.User{Name: name, Role: role})
	if err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", name, role, err)
	}
	return u
}

// mustCreateToken creates a token of a user, expiring at expires when not
// nil, and returns it with its plaintext.
func mustCreateToken(t *testing.T, db *storage.DB, userID int64, name string, expires *time.Time) (auth.Token, string) {
	t.Helper()
	plain, hash, err := auth.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	tok, err := db.CreateToken(t.Context(), storage.CLIActor(), auth.Token{UserID: userID, Name: name, Hash: hash, ExpiresAt: expires})
	if err != nil {
		t.Fatalf("CreateToken(user %d, %q): %v", userID, name, err)
	}
	return tok, plain
}

// snapshot is every user and token of a store.
type snapshot struct {
	users  []auth.User
	tokens []auth.Token
}

// takeSnapshot reads every user and token through the store.
func takeSnapshot(t *testing.T, db *storage.DB) snapshot {
	t.Helper()
	users, err := db.Users(t.Context(), storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	tokens, err := db.Tokens(t.Context(), 0, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	return snapshot{users, tokens}
}

// checkUnchanged fails the test unless the store holds what before holds.
func checkUnchanged(t *testing.T, what string, db *storage.DB, before snapshot) {
	t.Helper()
	after := takeSnapshot(t, db)
	if len(after.users) != len(before.users) {
		t.Fatalf("%s: %d users after, %d before", what, len(after.users), len(before.users))
	}
	for i := range after.users {
		if !sameUser(after.users[i], before.users[i]) {
			t.Fatalf("%s: user changed:\n got %+v\nwant %+v", what, after.users[i], before.users[i])
		}
	}
	if len(after.tokens) != len(before.tokens) {
		t.Fatalf("%s: %d tokens after, %d before", what, len(after.tokens), len(before.tokens))
	}
	for i := range after.tokens {
		if !sameToken(after.tokens[i], before.tokens[i], true) {
			t.Fatalf("%s: token changed:\n got %s\nwant %s", what, fmtToken(after.tokens[i]), fmtToken(before.tokens[i]))
		}
	}
}

// readPages reads a list page by page, limit items a page, passing the last
// ID of each page as the next cursor, until a page comes back short. It
// fails the test when a page is longer than limit or the list does not end.
func readPages[T any](t *testing.T, what string, limit int, fetch func(storage.Page) ([]T, error), id func(T) int64) [][]T {
	t.Helper()
	var pages [][]T
	var cursor int64
	for range 100 {
		page, err := fetch(storage.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("%s: page after cursor %d: %v", what, cursor, err)
		}
		if len(page) > limit {
			t.Fatalf("%s: page after cursor %d has %d items, limit %d", what, cursor, len(page), limit)
		}
		pages = append(pages, page)
		if len(page) < limit {
			return pages
		}
		cursor = id(page[len(page)-1])
	}
	t.Fatalf("%s: still reading after 100 pages", what)
	return nil
}

// pageIDs flattens pages into their IDs, failing the test when an ID comes
// twice or out of order (ascending, or descending when desc is set).
func pageIDs[T any](t *testing.T, what string, pages [][]T, id func(T) int64, desc bool) []int64 {
	t.Helper()
	var ids []int64
	for p, page := range pages {
		for _, item := range page {
			i := id(item)
			if n := len(ids); n > 0 && (!desc && i <= ids[n-1] || desc && i >= ids[n-1]) {
				t.Fatalf("%s: page %d: ID %d after %d, want %s and no repeats", what, p, i, ids[n-1],
					map[bool]string{false: "ascending", true: "descending"}[desc])
			}
			ids = append(ids, i)
		}
	}
	return ids
}

// pageSizes returns the length of each page.
func pageSizes[T any](pages [][]T) []int {
	sizes := make([]int, len(pages))
	for i, p := range pages {
		sizes[i] = len(p)
	}
	return sizes
}

// userActor is the audit actor of a user.
func userActor(u auth.User) storage.Actor {
	return storage.Actor{UserID: u.ID, Name: u.Name}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
