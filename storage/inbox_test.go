package storage_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

func TestInbox(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		u := users(t, db, 2)
		// u[0] hears of A, B and C firing and of A resolving; u[1] of B only.
		mustCommit(t, db, router{users: u[:1]}, firing("A", "am", time.Time{}))
		firstAt := e.clock.Stored()
		e.clock.Advance(time.Second)
		mustCommit(t, db, router{users: u}, firing("B", "am", time.Time{}), firing("C", "am", time.Time{}))
		e.clock.Advance(time.Second)
		mustCommit(t, db, router{users: u[:1]}, resolved("A", "am", time.Time{}))
		// B's row must carry B as it is now, not as it was when notified.
		e.clock.Advance(time.Second)
		mustCommit(t, db, router{users: u}, firing("B", "am", time.Time{}))

		all, err := db.Inbox(ctx, u[0], 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range all {
			got = append(got, fmt.Sprintf("%d:%s:%s", n.Seq, n.Alert.Labels["alertname"], n.Event))
			checkAlert(t, fmt.Sprintf("row %d's alert", n.Seq), *n.Alert, withoutHistory(mustAlert(t, db, n.Alert.ID)))
			if n.UserID != u[0] {
				t.Fatalf("row %d: user %d, want %d", n.Seq, n.UserID, u[0])
			}
		}
		if want := []string{"1:A:fired", "2:B:fired", "3:C:fired", "4:A:resolved"}; !slices.Equal(got, want) {
			t.Fatalf("inbox %v, want %v", got, want)
		}
		if !sameTime(all[0].At, firstAt) || !sameTime(all[1].At, firstAt.Add(time.Second)) {
			t.Fatalf("rows at %v and %v, want %v and %v", all[0].At, all[1].At, firstAt, firstAt.Add(time.Second))
		}
		if all[0].Alert != all[3].Alert {
			t.Fatal("two rows of one alert do not share the alert")
		}
		if all[1].Alert.Count != 2 {
			t.Fatalf("B's count in the inbox %d, want 2 (as it is now)", all[1].Alert.Count)
		}

		for _, c := range []struct {
			since int64
			limit int
			want  []int64
		}{
			{0, 2, []int64{1, 2}},
			{2, 2, []int64{3, 4}},
			{3, 100, []int64{4}},
			{4, 100, nil},
			{1000, 1, nil},
		} {
			ns, err := db.Inbox(ctx, u[0], c.since, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, n := range ns {
				seqs = append(seqs, n.Seq)
			}
			if !slices.Equal(seqs, c.want) {
				t.Fatalf("Inbox(since %d, limit %d) = seqs %v, want %v", c.since, c.limit, seqs, c.want)
			}
		}
		if ns, err := db.Inbox(ctx, u[1], 0, 100); err != nil || len(ns) != 2 || ns[0].Seq != 1 || ns[1].Seq != 2 {
			t.Fatalf("second user's inbox: %v, %v; want seqs 1 and 2", ns, err)
		}
		if ns, err := db.Inbox(ctx, u[1]+100, 0, 100); err != nil || ns != nil {
			t.Fatalf("inbox of a missing user: %v, %v; want none", ns, err)
		}
		_, err = db.Inbox(ctx, u[0], 0, 0)
		checkErr(t, "zero limit", err, alerts.ErrInvalid, "limit")
	})
}

// TestMigrationBackfillsInboxHeads: users made before migration 3 get an
// empty inbox, which the store then writes to.
func TestMigrationBackfillsInboxHeads(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		ctx := t.Context()
		db := openStore(t, target, newFakeClock())
		raw := openRaw(t, target)
		if err := storage.MigrateTo(ctx, db, 2); err != nil {
			t.Fatalf("migrate to 2: %v", err)
		}
		for _, name := range []string{"old-1", "old-2"} {
			if _, err := raw.ExecContext(ctx, `INSERT INTO users (name, role, version, created_at, updated_at) VALUES (?, 'responder', 1, 0, 0)`, name); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		old1, err := db.UserByName(ctx, "old-1")
		if err != nil {
			t.Fatal(err)
		}
		old2, err := db.UserByName(ctx, "old-2")
		if err != nil {
			t.Fatal(err)
		}
		newer := mustCreateUser(t, db, "new", "responder")
		var heads int
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox_heads WHERE seq = 0`).Scan(&heads); err != nil || heads != 3 {
			t.Fatalf("inbox heads at seq 0: %d, %v; want 3", heads, err)
		}
		c := mustCommit(t, db, router{users: []int64{old1.ID, old2.ID, newer.ID}}, firing("A", "am", time.Time{}))
		id := c.Notifications[0].Alert.ID
		want := []inboxRow{{old1.ID, 1, id, alerts.NotifyFired}, {old2.ID, 1, id, alerts.NotifyFired}, {newer.ID, 1, id, alerts.NotifyFired}}
		if got := rowsOf(c.Notifications); !slices.Equal(got, want) {
			t.Fatalf("notifications %v, want %v", got, want)
		}
	})
}

func TestInboxBounds(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		u := users(t, db, 2)
		check := func(what string, user, wantOldest, wantNewest int64) {
			t.Helper()
			oldest, newest, err := db.InboxBounds(ctx, user)
			if err != nil || oldest != wantOldest || newest != wantNewest {
				t.Fatalf("%s: InboxBounds = %d, %d, %v; want %d, %d", what, oldest, newest, err, wantOldest, wantNewest)
			}
		}
		check("a new user", u[0], 0, 0)
		check("no such user", u[1]+100, 0, 0)

		mustCommit(t, db, router{users: u[:1]}, firing("A", "am", time.Time{}), firing("B", "am", time.Time{}))
		mustCommit(t, db, router{users: u}, firing("C", "am", time.Time{}))
		check("three rows", u[0], 1, 3)
		check("the other user's one row", u[1], 1, 1)

		// Rows pruned from the front: oldest moves on, the head stays.
		if _, err := e.raw.ExecContext(ctx, `DELETE FROM inbox WHERE user_id = ? AND seq <= 2`, u[0]); err != nil {
			t.Fatal(err)
		}
		check("rows 1 and 2 pruned", u[0], 3, 3)
		if _, err := e.raw.ExecContext(ctx, `DELETE FROM inbox WHERE user_id = ?`, u[0]); err != nil {
			t.Fatal(err)
		}
		check("every row pruned", u[0], 0, 3)
		mustCommit(t, db, router{users: u[:1]}, resolved("A", "am", time.Time{}))
		check("a row after pruning", u[0], 4, 4)
	})
}
