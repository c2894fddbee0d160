package storage_test

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// lockEnv is a MySQL store and a connection of another node, with a lock
// name no other test uses.
type lockEnv struct {
	db    *storage.DB
	other *sql.Conn
	name  string
}

// newLockEnv opens a lockEnv on a fresh MySQL database; it skips the test
// without MySQL.
func newLockEnv(t *testing.T) *lockEnv {
	t.Helper()
	target := testdb.MySQL(t)
	other, err := openRaw(t, target).Conn(t.Context())
	if err != nil {
		t.Fatalf("connection for the other node: %v", err)
	}
	t.Cleanup(func() { other.Close() })
	return &lockEnv{db: openStore(t, target, newFakeClock()), other: other, name: "tocsin.test." + rand.Text()}
}

// hold takes the lock on the other node's connection.
func (e *lockEnv) hold(t *testing.T) {
	t.Helper()
	var got sql.NullInt64
	if err := e.other.QueryRowContext(t.Context(), `SELECT GET_LOCK(?, 10)`, e.name).Scan(&got); err != nil || got.Int64 != 1 {
		t.Fatalf("other node's GET_LOCK(%q) = %v, %v; want 1", e.name, got, err)
	}
}

// free reports whether no session holds the lock.
func (e *lockEnv) free(t *testing.T) bool {
	t.Helper()
	var free int
	if err := e.other.QueryRowContext(t.Context(), `SELECT IS_FREE_LOCK(?)`, e.name).Scan(&free); err != nil {
		t.Fatalf("IS_FREE_LOCK(%q): %v", e.name, err)
	}
	return free == 1
}

func TestMySQLLockReleases(t *testing.T) {
	t.Parallel()
	e := newLockEnv(t)
	unlock, err := storage.LockMySQL(t.Context(), e.db, e.name, 5)
	if err != nil {
		t.Fatalf("lock a free lock: %v", err)
	}
	if e.free(t) {
		unlock()
		t.Fatalf("lock %q is free while held", e.name)
	}
	unlock()
	if !e.free(t) {
		t.Fatalf("lock %q is held after unlock", e.name)
	}
}

func TestMySQLLockTimesOut(t *testing.T) {
	t.Parallel()
	e := newLockEnv(t)
	e.hold(t)
	start := time.Now()
	unlock, err := storage.LockMySQL(t.Context(), e.db, e.name, 1)
	if err == nil {
		unlock()
		t.Fatalf("lock held by another node: got the lock, want a timeout")
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Errorf("gave up after %v, want about the 1 s timeout", elapsed)
	}
	if msg := err.Error(); !strings.Contains(msg, "timed out") || !strings.Contains(msg, "another node") || !strings.Contains(msg, e.name) {
		t.Fatalf("lock held by another node: error %q does not say it timed out waiting for another node's %q", msg, e.name)
	}
}

// TestMySQLLockFails checks that a GET_LOCK that fails, rather than times
// out, says so: here the wait is killed, which makes GET_LOCK return NULL on
// MariaDB and an error on MySQL.
func TestMySQLLockFails(t *testing.T) {
	t.Parallel()
	e := newLockEnv(t)
	e.hold(t)
	type result struct {
		unlock func()
		err    error
	}
	done := make(chan result, 1)
	go func() {
		unlock, err := storage.LockMySQL(t.Context(), e.db, e.name, 30)
		done <- result{unlock, err}
	}()

	// Find the waiting session, in this test's database, and kill its query.
	var id int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := e.other.QueryRowContext(t.Context(),
			`SELECT id FROM information_schema.processlist
			 WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%GET_LOCK%'`).Scan(&id)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("find the session waiting for the lock: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.other.ExecContext(t.Context(), fmt.Sprintf(`KILL QUERY %d`, id)); err != nil {
		t.Fatalf("KILL QUERY %d: %v", id, err)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("lock still waiting 20 s after its query was killed")
	}
	if r.err == nil {
		r.unlock()
		t.Fatal("killed GET_LOCK: got the lock, want an error")
	}
	if msg := r.err.Error(); !strings.Contains(msg, "GET_LOCK") || !strings.Contains(msg, "failed") ||
		strings.Contains(msg, "timed out") || strings.Contains(msg, "another node") {
		t.Fatalf("killed GET_LOCK: error %q, want one saying GET_LOCK failed, not that another node held the lock", msg)
	}
}
