package storage_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// stored returns t as the store keeps it: whole milliseconds, in UTC.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// sameSilence reports whether two silences are equal field by field.
func sameSilence(got, want alerts.Silence) bool {
	return got.ID == want.ID && got.Matchers != nil && got.Matchers.String() == want.Matchers.String() &&
		sameTime(got.StartsAt, want.StartsAt) && sameTime(got.EndsAt, want.EndsAt) &&
		got.CreatedBy == want.CreatedBy && got.CreatedByID == want.CreatedByID && got.Comment == want.Comment &&
		got.Version == want.Version && sameTime(got.CreatedAt, want.CreatedAt) && sameTime(got.UpdatedAt, want.UpdatedAt)
}

// newSilence returns a silence of severity="page" from now until an hour
// from now, for a test to create or edit.
func newSilence(t *testing.T, e *env) alerts.Silence {
	t.Helper()
	return alerts.Silence{
		Matchers: mustMatchers(t, `severity="page"`, `env=~"prod|staging"`),
		EndsAt:   e.clock.Now().Add(time.Hour),
		Comment:  "maintenance window",
	}
}

// mustCreateSilence creates a silence as actor, or fails the test.
func mustCreateSilence(t *testing.T, e *env, actor storage.Actor, s alerts.Silence) alerts.Silence {
	t.Helper()
	created, err := e.db.CreateSilence(t.Context(), actor, s)
	if err != nil {
		t.Fatalf("CreateSilence(%+v): %v", s, err)
	}
	return created
}

// checkSilence fails the test unless the store holds want under want.ID.
func checkSilence(t *testing.T, what string, db *storage.DB, want alerts.Silence) {
	t.Helper()
	got, err := db.Silence(t.Context(), want.ID)
	if err != nil || !sameSilence(got, want) {
		t.Fatalf("%s: Silence(%d) = %+v, %v; want %+v", what, want.ID, got, err, want)
	}
}

// allSilences reads every silence through the store.
func allSilences(t *testing.T, db *storage.DB) []alerts.Silence {
	t.Helper()
	list, err := db.Silences(t.Context(), storage.SilenceFilter{}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Silences: %v", err)
	}
	return list
}

// checkSilencesUnchanged fails the test unless the store holds the
// silences of before, and the audit log as many rows as audits.
func checkSilencesUnchanged(t *testing.T, what string, e *env, before []alerts.Silence, audits int) {
	t.Helper()
	after := allSilences(t, e.db)
	if len(after) != len(before) {
		t.Fatalf("%s: %d silences after, %d before", what, len(after), len(before))
	}
	for i := range after {
		if !sameSilence(after[i], before[i]) {
			t.Fatalf("%s: silence changed:\n got %+v\nwant %+v", what, after[i], before[i])
		}
	}
	if got := e.auditRows(t); got != audits {
		t.Fatalf("%s: %d audit rows after, %d before", what, got, audits)
	}
}

func TestCreateSilence(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice := mustCreateUser(t, e.db, "alice", auth.RoleResponder)

		in := newSilence(t, e)
		// ID, author, version and times other than the window are the
		// store's to set.
		in.ID, in.CreatedBy, in.CreatedByID, in.Version = 99, "mallory", 42, 7
		in.CreatedAt, in.UpdatedAt = time.Unix(1, 0), time.Unix(2, 0)
		e.clock.Advance(time.Second)
		s, err := e.db.CreateSilence(ctx, userActor(alice), in)
		if err != nil {
			t.Fatalf("CreateSilence: %v", err)
		}
		now := e.clock.Stored()
		want := alerts.Silence{
			ID: s.ID, Matchers: in.Matchers, StartsAt: now, EndsAt: stored(in.EndsAt),
			CreatedBy: "alice", CreatedByID: alice.ID, Comment: in.Comment,
			Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		if s.ID <= 0 || !sameSilence(s, want) {
			t.Fatalf("CreateSilence returned %+v, want %+v with an ID > 0", s, want)
		}
		checkSilence(t, "after create", e.db, want)
		checkRuleAudit(t, e, "create", userActor(alice), storage.ActionCreate, "silence", s.ID, nil, want)
		if got := s.StateAt(now); got != alerts.SilenceActive {
			t.Fatalf("a silence starting now is %s, want active", got)
		}

		// A silence made from the command line has no author ID, and one
		// may start later.
		in = newSilence(t, e)
		in.StartsAt, in.EndsAt = e.clock.Now().Add(time.Hour), e.clock.Now().Add(2*time.Hour)
		cli := mustCreateSilence(t, e, storage.CLIActor(), in)
		want = alerts.Silence{
			ID: cli.ID, Matchers: in.Matchers, StartsAt: stored(in.StartsAt), EndsAt: stored(in.EndsAt),
			CreatedBy: "cli", Comment: in.Comment, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		checkSilence(t, "CLI silence", e.db, want)
		if n := e.count(t, `SELECT COUNT(*) FROM silences WHERE id = ? AND created_by_id IS NULL`, cli.ID); n != 1 {
			t.Fatalf("the CLI's silence has an author ID in the database")
		}
		// Matchers are stored as a JSON array of matcher strings.
		var raw string
		if err := e.raw.QueryRowContext(ctx, `SELECT matchers FROM silences WHERE id = ?`, cli.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if want := `["severity=\"page\"","env=~\"prod|staging\""]`; raw != want {
			t.Fatalf("stored matchers %s, want %s", raw, want)
		}
	})
}

func TestCreateSilenceRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		now := e.clock.Now()
		cases := []struct {
			name  string
			edit  func(s *alerts.Silence)
			field string
		}{
			{name: "no matchers", edit: func(s *alerts.Silence) { s.Matchers = nil }, field: "matchers"},
			{name: "matcher with a bad label name", field: "matchers[1]", edit: func(s *alerts.Silence) {
				s.Matchers = alerts.Matchers{s.Matchers[0], {Name: "0day", Type: alerts.MatchEqual, Value: "x"}}
			}},
			{name: "missing matcher", field: "matchers[0]", edit: func(s *alerts.Silence) { s.Matchers = alerts.Matchers{nil} }},
			{name: "matchers that match the empty value only", field: "matchers", edit: func(s *alerts.Silence) {
				s.Matchers = mustMatchers(t, `severity=""`, `env=~".*"`, `team!="db"`)
			}},
			{name: "too many matchers", field: "matchers", edit: func(s *alerts.Silence) {
				s.Matchers = nil
				for i := range alerts.MaxRuleMatchers + 1 {
					s.Matchers = append(s.Matchers, mustMatchers(t, fmt.Sprintf(`l%d="v"`, i))...)
				}
			}},
			{name: "ends before it starts", field: "ends_at", edit: func(s *alerts.Silence) {
				s.StartsAt, s.EndsAt = now.Add(2*time.Hour), now.Add(time.Hour)
			}},
			{name: "ends when it starts", field: "ends_at", edit: func(s *alerts.Silence) {
				s.StartsAt, s.EndsAt = now.Add(time.Hour), now.Add(time.Hour)
			}},
			{name: "ends in the past", field: "ends_at", edit: func(s *alerts.Silence) {
				s.StartsAt, s.EndsAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
			}},
			{name: "ends now", field: "ends_at", edit: func(s *alerts.Silence) {
				s.StartsAt, s.EndsAt = now.Add(-time.Hour), now
			}},
			{name: "no end", field: "ends_at", edit: func(s *alerts.Silence) { s.EndsAt = time.Time{} }},
			{name: "empty comment", field: "comment", edit: func(s *alerts.Silence) { s.Comment = "" }},
			{name: "comment with a control character", field: "comment", edit: func(s *alerts.Silence) { s.Comment = "a\x1bb" }},
			{name: "comment too long", field: "comment", edit: func(s *alerts.Silence) {
				s.Comment = strings.Repeat("é", alerts.MaxCommentLen+1)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := newSilence(t, e)
				c.edit(&in)
				before, audits := allSilences(t, e.db), e.auditRows(t)
				_, err := e.db.CreateSilence(t.Context(), storage.CLIActor(), in)
				checkErr(t, "CreateSilence with "+c.name, err, alerts.ErrInvalid, c.field)
				checkSilencesUnchanged(t, c.name, e, before, audits)
			})
		}
		// The longest comment is fine, and a silence may have started in
		// the past.
		in := newSilence(t, e)
		in.StartsAt, in.Comment = now.Add(-time.Hour), strings.Repeat("é", alerts.MaxCommentLen)
		mustCreateSilence(t, e, storage.CLIActor(), in)
	})
}

func TestSilencesByState(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		start := e.clock.Now()
		create := func(from, to time.Duration) int64 {
			s := newSilence(t, e)
			s.StartsAt, s.EndsAt = start.Add(from), start.Add(to)
			return mustCreateSilence(t, e, storage.CLIActor(), s).ID
		}
		short := create(-time.Hour, 10*time.Minute) // active, then expired
		long := create(-time.Hour, 3*time.Hour)     // active throughout
		later := create(time.Hour, 2*time.Hour)     // pending, active, expired
		soon := create(30*time.Minute, 5*time.Hour) // pending, then active

		steps := []struct {
			at                       time.Duration // from start
			pending, active, expired []int64
		}{
			{at: 0, pending: []int64{later, soon}, active: []int64{short, long}},
			// At its end a silence has expired, at its start it is active.
			{at: 10 * time.Minute, pending: []int64{later, soon}, active: []int64{long}, expired: []int64{short}},
			{at: 30 * time.Minute, pending: []int64{later}, active: []int64{long, soon}, expired: []int64{short}},
			{at: time.Hour, active: []int64{long, later, soon}, expired: []int64{short}},
			{at: 2 * time.Hour, active: []int64{long, soon}, expired: []int64{short, later}},
			{at: 4 * time.Hour, active: []int64{soon}, expired: []int64{short, long, later}},
		}
		silenceID := func(s alerts.Silence) int64 { return s.ID }
		for _, step := range steps {
			e.clock.Advance(start.Add(step.at).Sub(e.clock.Now()))
			for state, want := range map[alerts.SilenceState][]int64{
				alerts.SilencePending: step.pending, alerts.SilenceActive: step.active, alerts.SilenceExpired: step.expired,
				"": {short, long, later, soon},
			} {
				what := fmt.Sprintf("at start+%v, Silences(state %q)", step.at, state)
				// Pages of one check that the filter and the cursor go together.
				pages := readPages(t, what, 1, func(p storage.Page) ([]alerts.Silence, error) {
					return e.db.Silences(ctx, storage.SilenceFilter{State: state}, p)
				}, silenceID)
				got := pageIDs(t, what, pages, silenceID, false)
				if !slices.Equal(got, want) {
					t.Fatalf("%s = %v, want %v", what, got, want)
				}
				for _, page := range pages {
					for _, s := range page {
						if state != "" && s.StateAt(e.clock.Now()) != state {
							t.Fatalf("%s lists silence %d, which StateAt says is %s", what, s.ID, s.StateAt(e.clock.Now()))
						}
					}
				}
			}
		}
		_, err := e.db.Silences(ctx, storage.SilenceFilter{State: "over"}, storage.Page{Limit: 10})
		checkErr(t, "Silences with an unknown state", err, alerts.ErrInvalid, "state")
	})
}

func TestUpdateSilence(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice := mustCreateUser(t, e.db, "alice", auth.RoleResponder)
		bob := mustCreateUser(t, e.db, "bob", auth.RoleAdmin)
		s := mustCreateSilence(t, e, userActor(alice), newSilence(t, e))

		e.clock.Advance(time.Minute)
		in := s
		in.Matchers = mustMatchers(t, `job="api"`)
		in.StartsAt, in.EndsAt, in.Comment = e.clock.Now().Add(time.Minute), e.clock.Now().Add(3*time.Hour), "longer"
		// The author and creation time are not the client's to change.
		in.CreatedBy, in.CreatedByID, in.CreatedAt = "bob", bob.ID, time.Unix(0, 0)
		updated, err := e.db.UpdateSilence(ctx, userActor(bob), in)
		if err != nil {
			t.Fatalf("UpdateSilence at the right version: %v", err)
		}
		want := s
		want.Matchers, want.StartsAt, want.EndsAt, want.Comment = in.Matchers, stored(in.StartsAt), stored(in.EndsAt), "longer"
		want.Version, want.UpdatedAt = 2, e.clock.Stored()
		if !sameSilence(updated, want) {
			t.Fatalf("UpdateSilence returned %+v, want %+v", updated, want)
		}
		checkSilence(t, "after update", e.db, want)
		checkRuleAudit(t, e, "update", userActor(bob), storage.ActionUpdate, "silence", s.ID, s, want)

		cases := []struct {
			name  string
			edit  func(s *alerts.Silence)
			kind  error
			field string
		}{
			{name: "stale version", edit: func(s *alerts.Silence) { s.Version = 1 }, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", edit: func(s *alerts.Silence) { s.Version = 3 }, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", edit: func(s *alerts.Silence) { s.Version = 0 }, kind: alerts.ErrConflict, field: "version"},
			{name: "missing silence", edit: func(s *alerts.Silence) { s.ID += 1000 }, kind: alerts.ErrNotFound},
			{name: "bad matcher", kind: alerts.ErrInvalid, field: "matchers[1]", edit: func(s *alerts.Silence) {
				s.Matchers = alerts.Matchers{s.Matchers[0], {Name: "a b", Type: alerts.MatchEqual, Value: "x"}}
			}},
			{name: "matcher that matches the empty value", kind: alerts.ErrInvalid, field: "matchers", edit: func(s *alerts.Silence) {
				s.Matchers = mustMatchers(t, `job=~"api|"`)
			}},
			{name: "no start", edit: func(s *alerts.Silence) { s.StartsAt = time.Time{} }, kind: alerts.ErrInvalid, field: "starts_at"},
			{name: "ends before it starts", kind: alerts.ErrInvalid, field: "ends_at", edit: func(s *alerts.Silence) {
				s.EndsAt = s.StartsAt.Add(-time.Second)
			}},
			{name: "ends in the past", kind: alerts.ErrInvalid, field: "ends_at", edit: func(s *alerts.Silence) {
				s.StartsAt, s.EndsAt = e.clock.Now().Add(-time.Hour), e.clock.Now().Add(-time.Millisecond)
			}},
			{name: "empty comment", edit: func(s *alerts.Silence) { s.Comment = "" }, kind: alerts.ErrInvalid, field: "comment"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := want
				in.Comment = "changed"
				c.edit(&in)
				before, audits := allSilences(t, e.db), e.auditRows(t)
				_, err := e.db.UpdateSilence(ctx, storage.CLIActor(), in)
				checkErr(t, "UpdateSilence with "+c.name, err, c.kind, c.field)
				checkSilencesUnchanged(t, c.name, e, before, audits)
			})
		}

		// Once it has expired by time, a silence is over for good.
		e.clock.Advance(3 * time.Hour)
		in = want
		in.EndsAt = e.clock.Now().Add(time.Hour)
		before, audits := allSilences(t, e.db), e.auditRows(t)
		_, err = e.db.UpdateSilence(ctx, storage.CLIActor(), in)
		checkErr(t, "UpdateSilence of an expired silence", err, alerts.ErrConflict, "")
		checkSilencesUnchanged(t, "update of an expired silence", e, before, audits)
	})
}

func TestExpireSilence(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice := mustCreateUser(t, e.db, "alice", auth.RoleResponder)
		active := mustCreateSilence(t, e, userActor(alice), newSilence(t, e))
		in := newSilence(t, e)
		in.StartsAt, in.EndsAt = e.clock.Now().Add(time.Hour), e.clock.Now().Add(2*time.Hour)
		pending := mustCreateSilence(t, e, userActor(alice), in)

		e.clock.Advance(time.Minute)
		// A stale version changes nothing.
		before, audits := allSilences(t, e.db), e.auditRows(t)
		_, err := e.db.ExpireSilence(ctx, storage.CLIActor(), active.ID, active.Version+1)
		checkErr(t, "ExpireSilence at a future version", err, alerts.ErrConflict, "version")
		checkSilencesUnchanged(t, "expire at a future version", e, before, audits)

		expired, err := e.db.ExpireSilence(ctx, storage.CLIActor(), active.ID, active.Version)
		if err != nil {
			t.Fatalf("ExpireSilence of an active silence: %v", err)
		}
		want := active
		want.EndsAt, want.Version, want.UpdatedAt = e.clock.Stored(), 2, e.clock.Stored()
		if !sameSilence(expired, want) {
			t.Fatalf("ExpireSilence returned %+v, want %+v", expired, want)
		}
		checkSilence(t, "after expire", e.db, want)
		if got := expired.StateAt(e.clock.Now()); got != alerts.SilenceExpired {
			t.Fatalf("an expired silence is %s", got)
		}
		checkRuleAudit(t, e, "expire", storage.CLIActor(), storage.ActionUpdate, "silence", active.ID, active, want)
		list, err := e.db.Silences(ctx, storage.SilenceFilter{State: alerts.SilenceExpired}, storage.Page{Limit: 10})
		if err != nil || len(list) != 1 || list[0].ID != active.ID {
			t.Fatalf("expired silences = %+v, %v; want silence %d", list, err, active.ID)
		}

		// Expiring it again is a conflict, at any version.
		e.clock.Advance(time.Second)
		before, audits = allSilences(t, e.db), e.auditRows(t)
		for _, version := range []int64{0, want.Version} {
			_, err = e.db.ExpireSilence(ctx, storage.CLIActor(), active.ID, version)
			checkErr(t, fmt.Sprintf("ExpireSilence of an expired silence at version %d", version), err, alerts.ErrConflict, "")
		}
		checkSilencesUnchanged(t, "expire of an expired silence", e, before, audits)

		// A pending silence ends before it starts: both are now. Version 0
		// is any version.
		expired, err = e.db.ExpireSilence(ctx, userActor(alice), pending.ID, 0)
		if err != nil {
			t.Fatalf("ExpireSilence of a pending silence: %v", err)
		}
		want = pending
		want.StartsAt, want.EndsAt, want.Version, want.UpdatedAt = e.clock.Stored(), e.clock.Stored(), 2, e.clock.Stored()
		if !sameSilence(expired, want) {
			t.Fatalf("ExpireSilence of a pending silence returned %+v, want %+v", expired, want)
		}
		checkSilence(t, "after expiring a pending silence", e.db, want)
		checkRuleAudit(t, e, "expire pending", userActor(alice), storage.ActionUpdate, "silence", pending.ID, pending, want)
		for state, n := range map[alerts.SilenceState]int{alerts.SilencePending: 0, alerts.SilenceActive: 0, alerts.SilenceExpired: 2} {
			if list, err := e.db.Silences(ctx, storage.SilenceFilter{State: state}, storage.Page{Limit: 10}); err != nil || len(list) != n {
				t.Fatalf("%s silences = %+v, %v; want %d", state, list, err, n)
			}
		}

		_, err = e.db.ExpireSilence(ctx, storage.CLIActor(), pending.ID+1000, 0)
		checkErr(t, "ExpireSilence of a missing silence", err, alerts.ErrNotFound, "")
	})
}

func TestDeleteSilence(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		cases := []struct {
			name    string
			version func(s alerts.Silence) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(alerts.Silence) int64 { return 0 }},
			{name: "right version", version: func(s alerts.Silence) int64 { return s.Version }},
			{name: "stale version", version: func(s alerts.Silence) int64 { return s.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(s alerts.Silence) int64 { return s.Version + 1 }, kind: alerts.ErrConflict},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := mustCreateSilence(t, e, storage.CLIActor(), newSilence(t, e))
				s.Comment += ", extended"
				s, err := e.db.UpdateSilence(ctx, storage.CLIActor(), s) // version 2
				if err != nil {
					t.Fatal(err)
				}
				before, audits := allSilences(t, e.db), e.auditRows(t)
				err = e.db.DeleteSilence(ctx, storage.CLIActor(), s.ID, c.version(s))
				if c.kind != nil {
					checkErr(t, "DeleteSilence with "+c.name, err, c.kind, "version")
					checkSilencesUnchanged(t, c.name, e, before, audits)
					return
				}
				if err != nil {
					t.Fatalf("DeleteSilence with %s: %v", c.name, err)
				}
				checkRuleAudit(t, e, "delete", storage.CLIActor(), storage.ActionDelete, "silence", s.ID, s, nil)
				_, err = e.db.Silence(ctx, s.ID)
				checkErr(t, "Silence after delete", err, alerts.ErrNotFound, "")
				checkErr(t, "second DeleteSilence", e.db.DeleteSilence(ctx, storage.CLIActor(), s.ID, 0), alerts.ErrNotFound, "")
			})
		}
		// An expired silence may be deleted too.
		s := mustCreateSilence(t, e, storage.CLIActor(), newSilence(t, e))
		e.clock.Advance(2 * time.Hour)
		if err := e.db.DeleteSilence(ctx, storage.CLIActor(), s.ID, s.Version); err != nil {
			t.Fatalf("DeleteSilence of an expired silence: %v", err)
		}
	})
}
