package storage_test

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// The store is what the alert queue commits to.
var _ alerts.AlertStore = (*storage.DB)(nil)

// router is a routing snapshot in miniature: it routes every alert to
// users (ascending), and silences it when silenced is set.
type router struct {
	users    []int64
	silenced bool
}

func (r router) Resolve(alerts.Labels) ([]int64, bool) { return slices.Clone(r.users), r.silenced }

// firing is a firing event of the alert called name, from source, that
// started at startsAt.
func firing(name, source string, startsAt time.Time) alerts.Event {
	ls := alerts.Labels{"alertname": name, "severity": "page"}
	return alerts.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Annotations: map[string]string{"summary": name + " is on fire"},
		Status: alerts.StatusFiring, StartsAt: startsAt, GeneratorURL: "http://prometheus:9090/graph", Source: source}
}

// resolved is the resolved event of the alert called name, from source,
// that ended at endsAt.
func resolved(name, source string, endsAt time.Time) alerts.Event {
	ev := firing(name, source, time.Time{})
	ev.Status, ev.EndsAt = alerts.StatusResolved, endsAt
	return ev
}

// mustCommit commits events or fails the test.
func mustCommit(t *testing.T, db *storage.DB, r alerts.Router, events ...alerts.Event) alerts.Committed {
	t.Helper()
	c, err := db.CommitEvents(t.Context(), events, r)
	if err != nil {
		t.Fatalf("CommitEvents(%d events): %v", len(events), err)
	}
	if len(c.Outcomes) != len(events) {
		t.Fatalf("CommitEvents(%d events): %d outcomes", len(events), len(c.Outcomes))
	}
	return c
}

// mustAlert reads an alert or fails the test.
func mustAlert(t *testing.T, db *storage.DB, id int64) alerts.Alert {
	t.Helper()
	a, err := db.Alert(t.Context(), id)
	if err != nil {
		t.Fatalf("Alert(%d): %v", id, err)
	}
	return a
}

// checkAlert fails the test unless got equals want field by field; History
// is compared only when want has one.
func checkAlert(t *testing.T, what string, got, want alerts.Alert) {
	t.Helper()
	if want.History == nil {
		got.History = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, fmtAlert(got), fmtAlert(want))
	}
}

// withoutHistory returns a without its history.
func withoutHistory(a alerts.Alert) alerts.Alert {
	a.History = nil
	return a
}

// fmtAlert formats an alert for a failure message, with its times.
func fmtAlert(a alerts.Alert) string {
	tm := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.String()
	}
	return fmt.Sprintf("{ID:%d FP:%s State:%s Silenced:%v Labels:%v Annotations:%v Source:%q URL:%q StartsAt:%s EndsAt:%s "+
		"LastSeenAt:%s Count:%d AckedBy:%q/%d AckedAt:%s ResolvedBy:%q ResolvedAt:%s CreatedAt:%s UpdatedAt:%s History:%+v}",
		a.ID, a.Fingerprint, a.State, a.Silenced, a.Labels, a.Annotations, a.Source, a.GeneratorURL, a.StartsAt, tm(a.EndsAt),
		a.LastSeenAt, a.Count, a.AckedBy, a.AckedByID, tm(a.AckedAt), a.ResolvedBy, tm(a.ResolvedAt), a.CreatedAt, a.UpdatedAt, a.History)
}

// kindsOf lists the kinds of an alert's history entries.
func kindsOf(h []alerts.HistoryEntry) []alerts.HistoryKind {
	var ks []alerts.HistoryKind
	for _, e := range h {
		ks = append(ks, e.Kind)
	}
	return ks
}

// inboxRow is a row of the inbox table.
type inboxRow struct {
	user, seq, alert int64
	event            alerts.NotificationEvent
}

// inboxRows reads every inbox row, by user and seq, bypassing the store.
func (e *env) inboxRows(t *testing.T) []inboxRow {
	t.Helper()
	rows, err := e.raw.QueryContext(t.Context(), `SELECT user_id, seq, alert_id, event FROM inbox ORDER BY user_id, seq`)
	if err != nil {
		t.Fatalf("read inbox: %v", err)
	}
	defer rows.Close()
	var out []inboxRow
	for rows.Next() {
		var r inboxRow
		if err := rows.Scan(&r.user, &r.seq, &r.alert, &r.event); err != nil {
			t.Fatalf("read inbox: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read inbox: %v", err)
	}
	return out
}

// rowsOf turns notifications into inbox rows, by user and seq.
func rowsOf(ns []alerts.Notification) []inboxRow {
	out := make([]inboxRow, len(ns))
	for i, n := range ns {
		out[i] = inboxRow{n.UserID, n.Seq, n.Alert.ID, n.Event}
	}
	slices.SortFunc(out, compareRows)
	return out
}

// compareRows orders inbox rows by user, then seq.
func compareRows(a, b inboxRow) int {
	return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.seq, b.seq))
}

// checkNotifications fails the test unless ns are the inbox rows want, at
// at, each with its alert as the store now reads it.
func checkNotifications(t *testing.T, what string, db *storage.DB, ns []alerts.Notification, want []inboxRow, at time.Time) {
	t.Helper()
	if got := rowsOf(ns); !slices.Equal(got, want) {
		t.Fatalf("%s: notifications %v, want %v", what, got, want)
	}
	for _, n := range ns {
		if !sameTime(n.At, at) {
			t.Fatalf("%s: notification at %v, want %v", what, n.At, at)
		}
		checkAlert(t, what+": notification's alert", *n.Alert, withoutHistory(mustAlert(t, db, n.Alert.ID)))
	}
}

// users creates n responders and returns their IDs.
func users(t *testing.T, db *storage.DB, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = mustCreateUser(t, db, fmt.Sprintf("user-%d", i), auth.RoleResponder).ID
	}
	return ids
}

// onlyAlertID returns the ID of the one alert in the store.
func onlyAlertID(t *testing.T, db *storage.DB) int64 {
	t.Helper()
	list, _, err := db.Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 2})
	if err != nil || len(list) != 1 {
		t.Fatalf("Alerts: %d alerts, %v; want 1", len(list), err)
	}
	return list[0].ID
}

func TestAlertHistory(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		u := users(t, db, 1)
		ev := firing("A", "am", time.Time{})
		var want []alerts.HistoryEntry
		entry := func(kind alerts.HistoryKind, actor string, id int64) {
			want = append(want, alerts.HistoryEntry{Kind: kind, At: e.clock.Stored(), Actor: actor, ActorID: id})
		}
		mustCommit(t, db, router{users: u, silenced: true}, ev)
		id := onlyAlertID(t, db)
		entry(alerts.HistoryFired, "source:am", 0)
		entry(alerts.HistorySilenced, "source:am", 0)
		for i, step := range []func(){
			func() {
				ev.Annotations = map[string]string{"summary": "changed"}
				mustCommit(t, db, router{users: u}, ev)
				entry(alerts.HistoryUpdated, "source:am", 0)
				entry(alerts.HistoryUnsilenced, "source:am", 0)
			},
			func() {
				if _, _, err := db.ActOnAlert(t.Context(), alerts.Action{AlertID: id, Kind: alerts.ActionAck, UserID: u[0], User: "user-0"}, router{}); err != nil {
					t.Fatal(err)
				}
				entry(alerts.HistoryAcknowledged, "user-0", u[0])
			},
			func() {
				mustCommit(t, db, router{}, resolved("A", "am-2", time.Time{}))
				entry(alerts.HistoryResolved, "source:am-2", 0)
			},
		} {
			e.clock.Advance(time.Duration(i+1) * time.Second)
			step()
		}
		got := mustAlert(t, db, id).History
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("history\n got %+v\nwant %+v", got, want)
		}
		_, err := db.Alert(t.Context(), id+1)
		checkErr(t, "Alert of a missing ID", err, alerts.ErrNotFound, "")
	})
}

func TestAlertsFilter(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		u := users(t, db, 1)
		r := router{users: u}
		t0 := e.clock.Stored()
		at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
		// Alerts 1 to 6, by name: what happens to each, at which minutes.
		open := func(name, source, team string, startMin int) int64 {
			ev := firing(name, source, at(startMin))
			ev.Labels = alerts.Labels{"alertname": name, "team": team}
			ev.Fingerprint = ev.Labels.Fingerprint()
			return mustCommit(t, db, r, ev).Notifications[0].Alert.ID
		}
		closeAt := func(name, team string, endMin int) {
			ev := resolved(name, "am", at(endMin))
			ev.Labels = alerts.Labels{"alertname": name, "team": team}
			ev.Fingerprint = ev.Labels.Fingerprint()
			e.clock.Advance(at(endMin + 1).Sub(e.clock.Now()))
			mustCommit(t, db, r, ev)
		}
		a1 := open("A1", "am", "db", 0)
		closeAt("A1", "db", 10)
		a2 := open("A2", "grafana", "web", 20)
		a3 := open("A3", "am", "web", 30)
		if _, _, err := db.ActOnAlert(ctx, alerts.Action{AlertID: a3, Kind: alerts.ActionAck, UserID: u[0], User: "user-0"}, r); err != nil {
			t.Fatal(err)
		}
		a4 := open("A4", "am", "db", 40)
		closeAt("A4", "db", 50)
		a5 := open("A5", "grafana", "db", 60)
		a6 := open("A6", "am", "web", 70)

		matchers := func(s string) alerts.Matchers {
			ms, err := alerts.ParseMatchers(s)
			if err != nil {
				t.Fatal(err)
			}
			return ms
		}
		cases := []struct {
			name string
			f    storage.AlertFilter
			want []int64
		}{
			{"everything", storage.AlertFilter{}, []int64{a6, a5, a4, a3, a2, a1}},
			{"firing", storage.AlertFilter{States: []alerts.State{alerts.StateFiring}}, []int64{a6, a5, a2}},
			{"open", storage.AlertFilter{States: []alerts.State{alerts.StateFiring, alerts.StateAcknowledged}}, []int64{a6, a5, a3, a2}},
			{"resolved", storage.AlertFilter{States: []alerts.State{alerts.StateResolved}}, []int64{a4, a1}},
			{"source", storage.AlertFilter{Source: "grafana"}, []int64{a5, a2}},
			{"unknown source", storage.AlertFilter{Source: "nobody"}, nil},
			{"matcher", storage.AlertFilter{Matchers: matchers(`{team="db"}`)}, []int64{a5, a4, a1}},
			{"matchers", storage.AlertFilter{Matchers: matchers(`{team="web", alertname=~"A[23]"}`)}, []int64{a3, a2}},
			{"regex matcher", storage.AlertFilter{Matchers: matchers(`{alertname!~"A[1-4]"}`)}, []int64{a6, a5}},
			{"matcher and state", storage.AlertFilter{Matchers: matchers(`{team="db"}`), States: []alerts.State{alerts.StateResolved}}, []int64{a4, a1}},
			// Active at some moment of [since, until].
			{"since", storage.AlertFilter{Since: at(45)}, []int64{a6, a5, a4, a3, a2}},
			{"since the end", storage.AlertFilter{Since: at(50)}, []int64{a6, a5, a4, a3, a2}},
			{"since after the end", storage.AlertFilter{Since: at(51)}, []int64{a6, a5, a3, a2}},
			{"until", storage.AlertFilter{Until: at(30)}, []int64{a3, a2, a1}},
			{"until before the start", storage.AlertFilter{Until: at(29)}, []int64{a2, a1}},
			{"window", storage.AlertFilter{Since: at(11), Until: at(45)}, []int64{a4, a3, a2}},
			{"instant", storage.AlertFilter{Since: at(5), Until: at(5)}, []int64{a1}},
			{"everything at once", storage.AlertFilter{States: []alerts.State{alerts.StateFiring}, Source: "am", Matchers: matchers(`{team="web"}`), Since: at(0), Until: at(80)}, []int64{a6}},
		}
		for _, c := range cases {
			for _, limit := range []int{1, 2, 100} {
				pages := readAlertPages(t, c.name, db, c.f, limit)
				var got []int64
				for _, p := range pages {
					for _, a := range p {
						got = append(got, a.ID)
					}
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("%s, limit %d: alerts %v, want %v", c.name, limit, got, c.want)
				}
			}
		}
		// Paging by hand: the cursor is the last ID of the page.
		list, next, err := db.Alerts(ctx, storage.AlertFilter{}, storage.Page{Limit: 4})
		if err != nil || len(list) != 4 || next != a3 {
			t.Fatalf("first page of 4: %d alerts, next %d, %v; want 4, next %d", len(list), next, err, a3)
		}
		list, next, err = db.Alerts(ctx, storage.AlertFilter{}, storage.Page{Cursor: next, Limit: 4})
		if err != nil || len(list) != 2 || list[0].ID != a2 || next != 0 {
			t.Fatalf("second page of 4: %d alerts, next %d, %v; want 2 from %d, next 0", len(list), next, err, a2)
		}
		// A list reads alerts as they are: labels, annotations and all.
		checkAlert(t, "listed alert", list[1], withoutHistory(mustAlert(t, db, a1)))

		for _, c := range []struct {
			name  string
			f     storage.AlertFilter
			page  storage.Page
			field string
		}{
			{"zero limit", storage.AlertFilter{}, storage.Page{}, "limit"},
			{"unknown state", storage.AlertFilter{States: []alerts.State{"open"}}, storage.Page{Limit: 1}, "state"},
		} {
			_, _, err := db.Alerts(ctx, c.f, c.page)
			checkErr(t, c.name, err, alerts.ErrInvalid, c.field)
		}
	})
}

// readAlertPages reads the alerts that f selects, limit a page, following
// the next cursor until it is 0, and checks each page's length and order.
func readAlertPages(t *testing.T, what string, db *storage.DB, f storage.AlertFilter, limit int) [][]alerts.Alert {
	t.Helper()
	var (
		pages  [][]alerts.Alert
		cursor int64
	)
	for range 1000 {
		page, next, err := db.Alerts(t.Context(), f, storage.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("%s: page after %d: %v", what, cursor, err)
		}
		if len(page) > limit {
			t.Fatalf("%s: page after %d has %d alerts, limit %d", what, cursor, len(page), limit)
		}
		pages = append(pages, page)
		if next == 0 {
			pageIDs(t, what, pages, func(a alerts.Alert) int64 { return a.ID }, true)
			return pages
		}
		if next >= cursor && cursor != 0 {
			t.Fatalf("%s: next cursor %d after cursor %d, want a lower one", what, next, cursor)
		}
		cursor = next
	}
	t.Fatalf("%s: still reading after 1000 pages", what)
	return nil
}

// TestAlertsScanLimit: matchers are applied in Go to at most 10,000 alerts
// per call, so a selective filter over many alerts answers short pages with
// a next cursor.
func TestAlertsScanLimit(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		db := e.db
		const n = 10_500
		events := make([]alerts.Event, n)
		for i := range events {
			events[i] = firing(fmt.Sprintf("A%05d", i), "am", time.Time{})
		}
		mustCommit(t, db, router{}, events...)
		ms, err := alerts.ParseMatchers(`{alertname=~"A0000[0-2]"}`)
		if err != nil {
			t.Fatal(err)
		}
		f := storage.AlertFilter{Matchers: ms}
		pages := readAlertPages(t, "scan", db, f, 2)
		if got, want := pageSizes(pages), []int{0, 2, 1}; !slices.Equal(got, want) {
			t.Fatalf("page sizes %v, want %v (10,000 alerts scanned, then the rest)", got, want)
		}
		// Without matchers nothing is scanned in vain.
		list, next, err := db.Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 3})
		if err != nil || len(list) != 3 || next != list[2].ID {
			t.Fatalf("first page of 3: %d alerts, next %d, %v; want 3 and the last ID", len(list), next, err)
		}
	})
}
