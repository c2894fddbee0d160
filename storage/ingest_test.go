package storage_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

func TestCommitEventsOpensAnAlert(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 3)
		r := router{users: []int64{u[0], u[2]}}
		// A start time that is not in UTC and has sub-millisecond digits:
		// the store keeps whole milliseconds in UTC.
		starts := e.clock.Now().Add(-5 * time.Minute)
		ev := firing("DiskFull", "am", starts)
		c := mustCommit(t, db, r, ev)
		if !slices.Equal(c.Outcomes, []alerts.Outcome{alerts.OutcomeFired}) {
			t.Fatalf("outcomes %v, want [fired]", c.Outcomes)
		}
		if len(c.Notifications) == 0 {
			t.Fatal("no notifications")
		}
		id := c.Notifications[0].Alert.ID
		now := e.clock.Stored()
		want := alerts.Alert{
			ID: id, Fingerprint: ev.Fingerprint, State: alerts.StateFiring, Labels: ev.Labels, Annotations: ev.Annotations,
			Source: "am", GeneratorURL: ev.GeneratorURL, StartsAt: starts.UTC().Truncate(time.Millisecond), LastSeenAt: now,
			Count: 1, CreatedAt: now, UpdatedAt: now,
			History: []alerts.HistoryEntry{{Kind: alerts.HistoryFired, At: now, Actor: "source:am"}},
		}
		checkAlert(t, "stored alert", mustAlert(t, db, id), want)
		wantRows := []inboxRow{{u[0], 1, id, alerts.NotifyFired}, {u[2], 1, id, alerts.NotifyFired}}
		checkNotifications(t, "fired", db, c.Notifications, wantRows, now)
		if got := e.inboxRows(t); !slices.Equal(got, wantRows) {
			t.Fatalf("inbox %v, want %v", got, wantRows)
		}

		// Another alert takes the next seq of each user it is routed to.
		e.clock.Advance(time.Second)
		c = mustCommit(t, db, router{users: []int64{u[1], u[2]}}, firing("CPUHot", "am", time.Time{}))
		other := c.Notifications[0].Alert
		if other.ID <= id {
			t.Fatalf("second alert has ID %d, want above %d", other.ID, id)
		}
		if !sameTime(other.StartsAt, e.clock.Stored()) {
			t.Fatalf("alert without a start time starts at %v, want the receive time %v", other.StartsAt, e.clock.Stored())
		}
		checkNotifications(t, "second alert", db, c.Notifications,
			[]inboxRow{{u[1], 1, other.ID, alerts.NotifyFired}, {u[2], 2, other.ID, alerts.NotifyFired}}, e.clock.Stored())
	})
}

func TestCommitEventsRepeat(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 2)
		r := router{users: u}
		ev := firing("DiskFull", "am", e.clock.Now())
		id := mustCommit(t, db, r, ev).Notifications[0].Alert.ID
		before := mustAlert(t, db, id)
		rows := e.inboxRows(t)

		e.clock.Advance(time.Minute)
		c := mustCommit(t, db, r, ev)
		if !slices.Equal(c.Outcomes, []alerts.Outcome{alerts.OutcomeRepeated}) || c.Notifications != nil {
			t.Fatalf("repeat: outcomes %v, notifications %v; want [repeated] and none", c.Outcomes, c.Notifications)
		}
		want := before
		want.Count, want.LastSeenAt, want.UpdatedAt = 2, e.clock.Stored(), e.clock.Stored()
		checkAlert(t, "after a repeat", mustAlert(t, db, id), want)

		// New annotations and link: an "updated" entry, still nobody told.
		e.clock.Advance(time.Minute)
		ev.Annotations, ev.GeneratorURL = map[string]string{"summary": "worse"}, "http://prometheus:9090/other"
		c = mustCommit(t, db, r, ev)
		if c.Notifications != nil {
			t.Fatalf("changed repeat notified %v", c.Notifications)
		}
		want.Count, want.LastSeenAt, want.UpdatedAt = 3, e.clock.Stored(), e.clock.Stored()
		want.Annotations, want.GeneratorURL = ev.Annotations, ev.GeneratorURL
		want.History = append(want.History, alerts.HistoryEntry{Kind: alerts.HistoryUpdated, At: e.clock.Stored(), Actor: "source:am"})
		checkAlert(t, "after a changed repeat", mustAlert(t, db, id), want)

		// Without annotations: they are cleared, and read back empty.
		e.clock.Advance(time.Minute)
		ev.Annotations = nil
		c = mustCommit(t, db, r, ev)
		got := mustAlert(t, db, id)
		if got.Annotations == nil || len(got.Annotations) != 0 {
			t.Fatalf("annotations after a repeat without any: %#v, want an empty map", got.Annotations)
		}
		if !slices.Equal(kindsOf(got.History), []alerts.HistoryKind{alerts.HistoryFired, alerts.HistoryUpdated, alerts.HistoryUpdated}) {
			t.Fatalf("history %v, want fired, updated, updated", kindsOf(got.History))
		}
		if got := e.inboxRows(t); !slices.Equal(got, rows) {
			t.Fatalf("repeats wrote inbox rows: %v, want %v", got, rows)
		}
	})
}

func TestCommitEventsResolve(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 3)
		id := mustCommit(t, db, router{users: u[:2]}, firing("DiskFull", "am", e.clock.Now())).Notifications[0].Alert.ID
		before := mustAlert(t, db, id)

		// The routes changed meanwhile: whoever heard it fire and whoever it
		// is routed to now hear it end.
		e.clock.Advance(time.Minute)
		ends := e.clock.Now().Add(-10 * time.Second)
		c := mustCommit(t, db, router{users: u[1:]}, resolved("DiskFull", "am", ends))
		if !slices.Equal(c.Outcomes, []alerts.Outcome{alerts.OutcomeResolved}) {
			t.Fatalf("outcomes %v, want [resolved]", c.Outcomes)
		}
		now := e.clock.Stored()
		want := before
		endsAt := ends.UTC().Truncate(time.Millisecond)
		want.State, want.EndsAt, want.ResolvedAt, want.ResolvedBy = alerts.StateResolved, &endsAt, &now, "source:am"
		want.UpdatedAt = now // LastSeenAt is the last firing seen: unchanged
		want.History = append(want.History, alerts.HistoryEntry{Kind: alerts.HistoryResolved, At: now, Actor: "source:am"})
		checkAlert(t, "resolved alert", mustAlert(t, db, id), want)
		checkNotifications(t, "resolved", db, c.Notifications, []inboxRow{
			{u[0], 2, id, alerts.NotifyResolved}, {u[1], 2, id, alerts.NotifyResolved}, {u[2], 1, id, alerts.NotifyResolved},
		}, now)
		if n := e.count(t, `SELECT COUNT(*) FROM alerts WHERE open_fingerprint IS NOT NULL`); n != 0 {
			t.Fatalf("%d alerts hold an open fingerprint after the resolve, want 0", n)
		}

		// A resolve of an alert that is not open changes nothing.
		counts := func() [3]int {
			return [3]int{e.count(t, `SELECT COUNT(*) FROM alerts`), e.count(t, `SELECT COUNT(*) FROM alert_history`), e.count(t, `SELECT COUNT(*) FROM inbox`)}
		}
		was := counts()
		for _, name := range []string{"DiskFull", "NeverFired"} {
			c = mustCommit(t, db, router{users: u}, resolved(name, "am", time.Time{}))
			if !slices.Equal(c.Outcomes, []alerts.Outcome{alerts.OutcomeIgnored}) || c.Notifications != nil {
				t.Fatalf("resolve of %s: outcomes %v, notifications %v; want [ignored], none", name, c.Outcomes, c.Notifications)
			}
			if got := counts(); got != was {
				t.Fatalf("resolve of %s: alerts, history, inbox rows %v, want %v", name, got, was)
			}
		}
		checkAlert(t, "resolved alert after more resolves", mustAlert(t, db, id), want)

		// Firing again opens a new alert and keeps the old one.
		e.clock.Advance(time.Minute)
		c = mustCommit(t, db, router{users: u[:1]}, firing("DiskFull", "am", time.Time{}))
		again := c.Notifications[0].Alert
		if c.Outcomes[0] != alerts.OutcomeFired || again.ID == id || again.Fingerprint != want.Fingerprint {
			t.Fatalf("fire after resolve: outcome %s, alert %d (fingerprint %s); want fired, a new alert of %s",
				c.Outcomes[0], again.ID, again.Fingerprint, want.Fingerprint)
		}
		checkAlert(t, "old alert after the new one opened", mustAlert(t, db, id), want)
		checkNotifications(t, "fire after resolve", db, c.Notifications, []inboxRow{{u[0], 3, again.ID, alerts.NotifyFired}}, e.clock.Stored())
	})
}

func TestCommitEventsSilenced(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 2)
		c := mustCommit(t, db, router{users: u, silenced: true}, firing("DiskFull", "am", time.Time{}))
		if c.Outcomes[0] != alerts.OutcomeFired || c.Notifications != nil {
			t.Fatalf("silenced: outcomes %v, notifications %v; want [fired], none", c.Outcomes, c.Notifications)
		}
		alertsIn := func() []alerts.Alert {
			list, _, err := db.Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return list
		}
		list := alertsIn()
		if len(list) != 1 || !list[0].Silenced {
			t.Fatalf("alerts %v, want one, silenced", list)
		}
		id := list[0].ID
		if got := kindsOf(mustAlert(t, db, id).History); !slices.Equal(got, []alerts.HistoryKind{alerts.HistoryFired, alerts.HistorySilenced}) {
			t.Fatalf("history %v, want fired, silenced", got)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM inbox`); n != 0 {
			t.Fatalf("%d inbox rows for a silenced alert, want 0", n)
		}

		// Still silenced: nothing new. Then the silence ends.
		mustCommit(t, db, router{users: u, silenced: true}, firing("DiskFull", "am", time.Time{}))
		e.clock.Advance(time.Minute)
		c = mustCommit(t, db, router{users: u}, firing("DiskFull", "am", time.Time{}))
		if c.Outcomes[0] != alerts.OutcomeRepeated {
			t.Fatalf("unsilenced: outcome %s, want repeated", c.Outcomes[0])
		}
		checkNotifications(t, "unsilenced", db, c.Notifications,
			[]inboxRow{{u[0], 1, id, alerts.NotifyFired}, {u[1], 1, id, alerts.NotifyFired}}, e.clock.Stored())
		got := mustAlert(t, db, id)
		if got.Silenced || got.Count != 3 {
			t.Fatalf("after unsilencing: silenced %v, count %d; want false, 3", got.Silenced, got.Count)
		}
		if !slices.Equal(kindsOf(got.History), []alerts.HistoryKind{alerts.HistoryFired, alerts.HistorySilenced, alerts.HistoryUnsilenced}) {
			t.Fatalf("history %v, want fired, silenced, unsilenced", kindsOf(got.History))
		}

		// Silenced again, then unsilenced again: those told already are not
		// told twice.
		mustCommit(t, db, router{users: u, silenced: true}, firing("DiskFull", "am", time.Time{}))
		c = mustCommit(t, db, router{users: u}, firing("DiskFull", "am", time.Time{}))
		if c.Notifications != nil {
			t.Fatalf("second unsilencing notified %v, want nobody", c.Notifications)
		}
	})
}

func TestCommitEventsInOneBatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		events   func(now time.Time) []alerts.Event
		outcomes []alerts.Outcome
		// alerts are the state and count of each alert, oldest first.
		states []alerts.State
		counts []int64
		source string
		inbox  []alerts.NotificationEvent // the routed user's, in order
	}{
		{
			name: "fire and resolve",
			events: func(now time.Time) []alerts.Event {
				return []alerts.Event{firing("A", "am", now), resolved("A", "am", now)}
			},
			outcomes: []alerts.Outcome{alerts.OutcomeFired, alerts.OutcomeResolved},
			states:   []alerts.State{alerts.StateResolved}, counts: []int64{1}, source: "am",
			inbox: []alerts.NotificationEvent{alerts.NotifyFired, alerts.NotifyResolved},
		},
		{
			name: "HA pair",
			events: func(now time.Time) []alerts.Event {
				return []alerts.Event{firing("A", "am-1", now), firing("A", "am-2", now)}
			},
			outcomes: []alerts.Outcome{alerts.OutcomeFired, alerts.OutcomeRepeated},
			states:   []alerts.State{alerts.StateFiring}, counts: []int64{2}, source: "am-1",
			inbox: []alerts.NotificationEvent{alerts.NotifyFired},
		},
		{
			name: "fire, resolve, fire",
			events: func(now time.Time) []alerts.Event {
				return []alerts.Event{firing("A", "am", now), resolved("A", "am", now), firing("A", "am", now), firing("A", "am", now)}
			},
			outcomes: []alerts.Outcome{alerts.OutcomeFired, alerts.OutcomeResolved, alerts.OutcomeFired, alerts.OutcomeRepeated},
			states:   []alerts.State{alerts.StateResolved, alerts.StateFiring}, counts: []int64{1, 2}, source: "am",
			inbox: []alerts.NotificationEvent{alerts.NotifyFired, alerts.NotifyResolved, alerts.NotifyFired},
		},
		{
			name: "resolve first",
			events: func(now time.Time) []alerts.Event {
				return []alerts.Event{resolved("A", "am", now), firing("A", "am", now)}
			},
			outcomes: []alerts.Outcome{alerts.OutcomeIgnored, alerts.OutcomeFired},
			states:   []alerts.State{alerts.StateFiring}, counts: []int64{1}, source: "am",
			inbox: []alerts.NotificationEvent{alerts.NotifyFired},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, split := range []bool{false, true} {
				what := map[bool]string{false: "one batch", true: "one batch per event"}[split]
				t.Run(what, func(t *testing.T) {
					t.Parallel()
					forEachEnv(t, func(t *testing.T, e *env) {
						db := e.db
						u := users(t, db, 1)
						r := router{users: u}
						events := c.events(e.clock.Now())
						var (
							outcomes []alerts.Outcome
							ns       []alerts.Notification
						)
						if split { // each event in a batch of its own
							for _, ev := range events {
								got := mustCommit(t, db, r, ev)
								outcomes, ns = append(outcomes, got.Outcomes...), append(ns, got.Notifications...)
							}
						} else {
							got := mustCommit(t, db, r, events...)
							outcomes, ns = got.Outcomes, got.Notifications
						}
						if !slices.Equal(outcomes, c.outcomes) {
							t.Fatalf("%s: outcomes %v, want %v", what, outcomes, c.outcomes)
						}
						list, _, err := db.Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 10})
						if err != nil {
							t.Fatal(err)
						}
						slices.Reverse(list)
						var (
							states []alerts.State
							counts []int64
						)
						for _, a := range list {
							states, counts = append(states, a.State), append(counts, a.Count)
							if a.Source != c.source {
								t.Fatalf("%s: alert %d has source %q, want %q", what, a.ID, a.Source, c.source)
							}
						}
						if !slices.Equal(states, c.states) || !slices.Equal(counts, c.counts) {
							t.Fatalf("%s: alerts in states %v with counts %v, want %v and %v", what, states, counts, c.states, c.counts)
						}
						rows := e.inboxRows(t)
						var evs []alerts.NotificationEvent
						for i, row := range rows {
							if row.seq != int64(i+1) {
								t.Fatalf("%s: inbox %v: seqs are not 1, 2, ...", what, rows)
							}
							evs = append(evs, row.event)
						}
						if !slices.Equal(evs, c.inbox) || !slices.Equal(rowsOf(ns), rows) {
							t.Fatalf("%s: inbox %v (notified %v), want events %v", what, rows, rowsOf(ns), c.inbox)
						}
						// The notifications of one batch carry each alert as the
						// batch left it.
						if !split {
							for _, n := range ns {
								checkAlert(t, what+": notification's alert", *n.Alert, withoutHistory(mustAlert(t, db, n.Alert.ID)))
							}
						}
					})
				})
			}
		})
	}
}

// TestCommitEventsReopenInOneBatch: one batch resolves an open alert and
// fires its labels again, which opens a new alert on the fingerprint the
// old one gave up.
func TestCommitEventsReopenInOneBatch(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 1)
		r := router{users: u}
		old := mustCommit(t, db, r, firing("A", "am", time.Time{})).Notifications[0].Alert.ID
		e.clock.Advance(time.Minute)
		c := mustCommit(t, db, r, firing("A", "am", time.Time{}), resolved("A", "am", time.Time{}), firing("A", "am", time.Time{}))
		if want := []alerts.Outcome{alerts.OutcomeRepeated, alerts.OutcomeResolved, alerts.OutcomeFired}; !slices.Equal(c.Outcomes, want) {
			t.Fatalf("outcomes %v, want %v", c.Outcomes, want)
		}
		reopened := c.Notifications[1].Alert.ID
		checkNotifications(t, "reopen", db, c.Notifications,
			[]inboxRow{{u[0], 2, old, alerts.NotifyResolved}, {u[0], 3, reopened, alerts.NotifyFired}}, e.clock.Stored())
		if a := mustAlert(t, db, old); a.State != alerts.StateResolved || a.Count != 2 {
			t.Fatalf("old alert: state %s, count %d; want resolved, 2", a.State, a.Count)
		}
		if a := mustAlert(t, db, reopened); a.State != alerts.StateFiring || a.Count != 1 {
			t.Fatalf("new alert: state %s, count %d; want firing, 1", a.State, a.Count)
		}
	})
}

// TestCommitEventsAllOrNothing: a batch that fails part way, here on its
// inbox rows after its alerts and history are written, stores nothing.
func TestCommitEventsAllOrNothing(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		u := users(t, db, 1)
		r := router{users: u}
		id := mustCommit(t, db, r, firing("A", "am", time.Time{})).Notifications[0].Alert.ID
		before := mustAlert(t, db, id)
		if c, err := db.CommitEvents(ctx, nil, r); err != nil || len(c.Outcomes) != 0 || c.Notifications != nil {
			t.Fatalf("CommitEvents(no events) = %+v, %v; want nothing", c, err)
		}

		if _, err := e.raw.ExecContext(ctx, `DROP TABLE inbox`); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		_, err := db.CommitEvents(ctx, []alerts.Event{firing("A", "am", time.Time{}), firing("B", "am", time.Time{}), resolved("A", "am", time.Time{})}, r)
		if err == nil {
			t.Fatal("CommitEvents without an inbox table succeeded")
		}
		checkAlert(t, "alert after the failed batch", mustAlert(t, db, id), before)
		if n := e.count(t, `SELECT COUNT(*) FROM alerts`); n != 1 {
			t.Fatalf("%d alerts after the failed batch, want 1", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM alert_history`); n != 1 {
			t.Fatalf("%d history entries after the failed batch, want 1", n)
		}
	})
}

func TestCommitEventsSkipsDeletedUsers(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 3)
		if err := db.DeleteUser(t.Context(), storage.CLIActor(), u[1], 0); err != nil {
			t.Fatal(err)
		}
		// The snapshot still routes to the deleted user, and to an ID that
		// never was a user.
		c := mustCommit(t, db, router{users: []int64{u[0], u[1], u[2], u[2] + 100}}, firing("A", "am", time.Time{}))
		id := c.Notifications[0].Alert.ID
		want := []inboxRow{{u[0], 1, id, alerts.NotifyFired}, {u[2], 1, id, alerts.NotifyFired}}
		if got := rowsOf(c.Notifications); !slices.Equal(got, want) {
			t.Fatalf("notifications %v, want %v", got, want)
		}
		if got := e.inboxRows(t); !slices.Equal(got, want) {
			t.Fatalf("inbox %v, want %v", got, want)
		}
	})
}

// TestCommitEventsLargeBatch commits more alerts, and bigger ones, than one
// statement holds.
func TestCommitEventsLargeBatch(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 2)
		r := router{users: u}
		const n = 1234
		var events []alerts.Event
		for i := range n {
			events = append(events, firing(fmt.Sprintf("A%04d", i), "am", time.Time{}))
		}
		// Three alerts of 1.5 MB of annotations each do not fit one
		// statement.
		for i := range 3 {
			events[i].Annotations = map[string]string{"description": strings.Repeat(string(rune('x'+i)), 1_500_000)}
		}
		first := mustCommit(t, db, r, events...)
		if len(first.Notifications) != 2*n {
			t.Fatalf("%d notifications, want %d", len(first.Notifications), 2*n)
		}
		// Then every one again, and every other one resolved.
		for i := range n {
			if i%2 == 0 {
				events = append(events, resolved(fmt.Sprintf("A%04d", i), "am", time.Time{}))
			}
		}
		c := mustCommit(t, db, r, events...)
		if len(c.Notifications) != n { // two users, half the alerts
			t.Fatalf("%d notifications, want %d", len(c.Notifications), n)
		}
		for _, q := range []struct {
			query string
			want  int
		}{
			{`SELECT COUNT(*) FROM alerts WHERE count = 2`, n},
			{`SELECT COUNT(*) FROM alerts WHERE state = 'resolved'`, (n + 1) / 2},
			{`SELECT COUNT(*) FROM alert_history`, n + (n+1)/2},
			{`SELECT COUNT(*) FROM inbox`, 2*n + 2*((n+1)/2)},
			{`SELECT COUNT(*) FROM inbox_heads WHERE seq = ` + fmt.Sprint(n+(n+1)/2), 2},
		} {
			if got := e.count(t, q.query); got != q.want {
				t.Fatalf("%s = %d, want %d", q.query, got, q.want)
			}
		}
		for i := range 3 {
			a := mustAlert(t, db, first.Notifications[2*i].Alert.ID)
			if got := len(a.Annotations["description"]); got != 1_500_000 {
				t.Fatalf("alert %d: description of %d bytes, want 1500000", a.ID, got)
			}
		}
	})
}

func TestActOnAlert(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		u := users(t, db, 4)
		// u[0] and u[1] hear it fire; then the routes move to u[1] and u[2].
		id := mustCommit(t, db, router{users: u[:2]}, firing("DiskFull", "am", time.Time{})).Notifications[0].Alert.ID
		r := router{users: u[1:3]}
		actor := alerts.Action{AlertID: id, Kind: alerts.ActionAck, UserID: u[3], User: "user-3"}

		e.clock.Advance(time.Minute)
		before := mustAlert(t, db, id)
		got, ns, err := db.ActOnAlert(ctx, actor, r)
		if err != nil {
			t.Fatalf("ack: %v", err)
		}
		now := e.clock.Stored()
		want := before
		want.State, want.AckedBy, want.AckedByID, want.AckedAt, want.UpdatedAt = alerts.StateAcknowledged, "user-3", u[3], &now, now
		want.History = append(want.History, alerts.HistoryEntry{Kind: alerts.HistoryAcknowledged, At: now, Actor: "user-3", ActorID: u[3]})
		checkAlert(t, "stored after ack", mustAlert(t, db, id), want)
		checkAlert(t, "returned after ack", got, withoutHistory(want))
		checkNotifications(t, "ack", db, ns, []inboxRow{
			{u[0], 2, id, alerts.NotifyAcknowledged}, {u[1], 2, id, alerts.NotifyAcknowledged}, {u[2], 1, id, alerts.NotifyAcknowledged},
		}, now)

		// Acknowledged stays acknowledged when it fires again.
		mustCommit(t, db, r, firing("DiskFull", "am", time.Time{}))
		if a := mustAlert(t, db, id); a.State != alerts.StateAcknowledged || a.Count != 2 {
			t.Fatalf("after a repeat: state %s, count %d; want acknowledged, 2", a.State, a.Count)
		}

		// Acknowledging again is a conflict, and changes nothing.
		rows := e.inboxRows(t)
		_, _, err = db.ActOnAlert(ctx, actor, r)
		checkErr(t, "second ack", err, alerts.ErrConflict, "state")
		if after := e.inboxRows(t); !slices.Equal(after, rows) {
			t.Errorf("a refused ack changed the inbox: %v, was %v", after, rows)
		}

		e.clock.Advance(time.Minute)
		resolver := alerts.Action{AlertID: id, Kind: alerts.ActionResolve, UserID: u[0], User: "user-0"}
		got, ns, err = db.ActOnAlert(ctx, resolver, router{users: u[3:]})
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		now = e.clock.Stored()
		if got.State != alerts.StateResolved || got.ResolvedBy != "user-0" || !sameTime(*got.ResolvedAt, now) || !sameTime(*got.EndsAt, now) {
			t.Fatalf("resolved alert: %s", fmtAlert(got))
		}
		checkAlert(t, "returned after resolve", got, withoutHistory(mustAlert(t, db, id)))
		checkNotifications(t, "resolve", db, ns, []inboxRow{
			{u[0], 3, id, alerts.NotifyResolved}, {u[1], 3, id, alerts.NotifyResolved}, {u[2], 2, id, alerts.NotifyResolved}, {u[3], 1, id, alerts.NotifyResolved},
		}, now)
		if n := e.count(t, `SELECT COUNT(*) FROM alerts WHERE open_fingerprint IS NOT NULL`); n != 0 {
			t.Fatalf("%d alerts hold an open fingerprint after the resolve, want 0", n)
		}
		rows = e.inboxRows(t)
		history := len(mustAlert(t, db, id).History)

		for _, c := range []struct {
			name  string
			act   alerts.Action
			kind  error
			field string
		}{
			{"ack of a resolved alert", actor, alerts.ErrConflict, "state"},
			{"resolve of a resolved alert", resolver, alerts.ErrConflict, "state"},
			{"missing alert", alerts.Action{AlertID: id + 1000, Kind: alerts.ActionAck, UserID: u[0], User: "user-0"}, alerts.ErrNotFound, ""},
		} {
			_, ns, err := db.ActOnAlert(ctx, c.act, r)
			checkErr(t, c.name, err, c.kind, c.field)
			if ns != nil {
				t.Fatalf("%s: notifications %v", c.name, ns)
			}
		}
		if got := e.inboxRows(t); !slices.Equal(got, rows) {
			t.Fatalf("refused actions wrote inbox rows: %v, want %v", got, rows)
		}
		if got := len(mustAlert(t, db, id).History); got != history {
			t.Fatalf("refused actions wrote history: %d entries, want %d", got, history)
		}
	})
}

// TestActOnSilencedAlert: a silenced alert notified nobody; its
// acknowledgement notifies nobody either.
func TestActOnSilencedAlert(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 1)
		r := router{users: u, silenced: true}
		mustCommit(t, db, r, firing("A", "am", time.Time{}))
		id := onlyAlertID(t, db)
		a, ns, err := db.ActOnAlert(t.Context(), alerts.Action{AlertID: id, Kind: alerts.ActionAck, UserID: u[0], User: "user-0"}, r)
		if err != nil || a.State != alerts.StateAcknowledged || ns != nil {
			t.Fatalf("ack: %s, %v, %v; want acknowledged, no notifications", fmtAlert(a), ns, err)
		}
	})
}

// TestCommitEventsConcurrently races batches of the same fingerprints from
// many goroutines: on MySQL they meet on the open_fingerprint key and run
// again. Whatever the interleaving, each fingerprint has at most one open
// alert, every firing event is counted once, and each user's inbox is
// numbered 1, 2, 3, ... with one "fired" row per alert and one "resolved"
// row per resolved alert.
func TestCommitEventsConcurrently(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 3)
		r := router{users: u}
		const (
			workers = 16
			batches = 20
			names   = 10
		)
		var (
			mu      sync.Mutex
			written []inboxRow
			fires   = map[string]int64{} // firing events per alert name
			wg      sync.WaitGroup
		)
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				for b := range batches {
					// Every name firing, from a different one each time, and
					// now and then one of them resolved in the middle.
					var events []alerts.Event
					batchFires := map[string]int64{}
					for i := range names {
						name := fmt.Sprintf("A%d", (w+b+i)%names)
						events = append(events, firing(name, fmt.Sprintf("am-%d", w%2), time.Time{}))
						batchFires[name]++
						if (w+b)%4 == 0 && i == names/2 {
							events = append(events, resolved(fmt.Sprintf("A%d", b%names), "am", time.Time{}))
						}
					}
					c, err := db.CommitEvents(t.Context(), events, r)
					if err != nil {
						errs[w] = fmt.Errorf("batch %d: %w", b, err)
						return
					}
					mu.Lock()
					written = append(written, rowsOf(c.Notifications)...)
					for name, n := range batchFires {
						fires[name] += n
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", w, err)
			}
		}

		list := readAlertPages(t, "all alerts", db, storage.AlertFilter{}, 1000)
		counts := map[string]int64{}
		open := map[string]int{}
		ids, resolvedIDs := map[int64]bool{}, map[int64]bool{}
		for _, p := range list {
			for _, a := range p {
				name := a.Labels["alertname"]
				counts[name] += a.Count
				if a.State.Open() {
					open[name]++
				} else {
					resolvedIDs[a.ID] = true
				}
				ids[a.ID] = true
			}
		}
		for name, n := range fires {
			if counts[name] != n {
				t.Fatalf("%s: counts add up to %d, want %d firing events", name, counts[name], n)
			}
			if open[name] > 1 {
				t.Fatalf("%s: %d open alerts", name, open[name])
			}
		}
		if n := e.count(t, `SELECT COUNT(*) FROM alerts WHERE (state = 'resolved') = (open_fingerprint IS NOT NULL)`); n != 0 {
			t.Fatalf("%d alerts whose open_fingerprint disagrees with their state", n)
		}

		rows := e.inboxRows(t)
		slices.SortFunc(written, compareRows)
		if len(written) != len(rows) || !slices.Equal(written, rows) {
			t.Fatal("the notifications returned are not the inbox rows stored")
		}
		perUser := map[int64]int64{}
		type key struct {
			user, alert int64
			event       alerts.NotificationEvent
		}
		seen := map[key]int{}
		for _, row := range rows {
			perUser[row.user]++
			if row.seq != perUser[row.user] {
				t.Fatalf("user %d: row with seq %d is number %d: seqs are not dense", row.user, row.seq, perUser[row.user])
			}
			seen[key{row.user, row.alert, row.event}]++
		}
		for _, user := range u {
			for id := range ids {
				if n := seen[key{user, id, alerts.NotifyFired}]; n != 1 {
					t.Fatalf("user %d has %d fired rows of alert %d, want 1", user, n, id)
				}
				want := 0
				if resolvedIDs[id] {
					want = 1
				}
				if n := seen[key{user, id, alerts.NotifyResolved}]; n != want {
					t.Fatalf("user %d has %d resolved rows of alert %d, want %d", user, n, id, want)
				}
			}
		}
		t.Logf("%d alerts, %d resolved, %d inbox rows", len(ids), len(resolvedIDs), len(rows))
	})
}

// BenchmarkCommitEvents commits batches of 500 events, each routed to three
// users, from one worker or four at once: events that open new alerts
// (three inbox rows each) or repeat open ones (none). It reports events/s.
func BenchmarkCommitEvents(b *testing.B) {
	targets := map[string]func(testing.TB) testdb.Target{"sqlite": testdb.SQLite, "mysql": testdb.MySQL}
	for _, driver := range []string{"sqlite", "mysql"} {
		for _, repeat := range []bool{false, true} {
			for _, workers := range []int{1, 4} {
				kind := map[bool]string{false: "new", true: "repeat"}[repeat]
				b.Run(fmt.Sprintf("%s/%s/workers=%d", driver, kind, workers), func(b *testing.B) {
					target := targets[driver](b)
					db, err := storage.Open(b.Context(), storage.Options{Driver: target.Driver, DSN: target.DSN})
					if err != nil {
						b.Fatal(err)
					}
					defer db.Close()
					if err := db.Migrate(b.Context()); err != nil {
						b.Fatal(err)
					}
					var ids []int64
					for i := range 3 {
						u, err := db.CreateUser(b.Context(), storage.CLIActor(), auth.User{Name: fmt.Sprintf("user-%d", i), Role: auth.RoleResponder})
						if err != nil {
							b.Fatal(err)
						}
						ids = append(ids, u.ID)
					}
					const batch = 500
					batchOf := func(worker, n int) []alerts.Event {
						events := make([]alerts.Event, batch)
						for i := range events {
							name := fmt.Sprintf("A-%d-%d-%d", worker, n, i)
							if repeat {
								name = fmt.Sprintf("A-%d-%d", worker, i)
							}
							events[i] = firing(name, "am", time.Time{})
						}
						return events
					}
					per := (b.N + workers - 1) / workers
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					for w := range workers {
						wg.Go(func() {
							for n := range per {
								if _, err := db.CommitEvents(b.Context(), batchOf(w, n), router{users: ids}); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.ReportMetric(float64(per*workers*batch)/time.Since(start).Seconds(), "events/s")
				})
			}
		}
	}
}
