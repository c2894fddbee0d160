package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// The store is what the config-update queue reads the rules from.
var _ alerts.RulesReader = (*storage.DB)(nil)

// asJSON returns v as JSON. The store's rule objects compare this way field
// by field: times must be the same instant and in UTC, and an empty list
// must be [] on both sides, never null.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return string(b)
}

// checkSame fails the test unless got and want encode to the same JSON.
func checkSame(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// mustMatchers parses matcher expressions, or fails the test.
func mustMatchers(t *testing.T, exprs ...string) alerts.Matchers {
	t.Helper()
	ms, err := alerts.ParseMatcherList("matchers", exprs)
	if err != nil {
		t.Fatalf("ParseMatcherList(%q): %v", exprs, err)
	}
	return ms
}

// mustCreateTeam creates a team or fails the test.
func mustCreateTeam(t *testing.T, db *storage.DB, actor storage.Actor, name string, members ...int64) alerts.Team {
	t.Helper()
	team, err := db.CreateTeam(t.Context(), actor, alerts.Team{Name: name, Members: members})
	if err != nil {
		t.Fatalf("CreateTeam(%q, %v): %v", name, members, err)
	}
	return team
}

// mustCreateRoute creates a route or fails the test.
func mustCreateRoute(t *testing.T, db *storage.DB, actor storage.Actor, r alerts.Route) alerts.Route {
	t.Helper()
	created, err := db.CreateRoute(t.Context(), actor, r)
	if err != nil {
		t.Fatalf("CreateRoute(%q): %v", r.Name, err)
	}
	return created
}

// rulesState returns every team and route of a store, as JSON.
func rulesState(t *testing.T, db *storage.DB) string {
	t.Helper()
	teams, err := db.Teams(t.Context(), storage.TeamFilter{}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Teams: %v", err)
	}
	routes, err := db.Routes(t.Context(), storage.RouteFilter{}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Routes: %v", err)
	}
	return asJSON(t, map[string]any{"teams": teams, "routes": routes})
}

// refused runs a write that must fail with kind, naming field when not
// empty, and checks that it changed no team or route and wrote no audit row.
func refused(t *testing.T, e *env, what string, kind error, field string, write func() error) {
	t.Helper()
	before, audits := rulesState(t, e.db), e.auditRows(t)
	checkErr(t, what, write(), kind, field)
	if after := rulesState(t, e.db); after != before {
		t.Fatalf("%s changed the rules:\nbefore %s\n after %s", what, before, after)
	}
	if got := e.auditRows(t); got != audits {
		t.Fatalf("%s: wrote %d audit rows, want none", what, got-audits)
	}
}

// checkRuleAudit fails the test unless the newest audit entry records
// action by actor on the object, at the clock's time, with before and after
// (nil for none) as its JSON.
func checkRuleAudit(t *testing.T, e *env, what string, actor storage.Actor, action, object string, id int64, before, after any) {
	t.Helper()
	latest, err := e.db.AuditLog(t.Context(), storage.Page{Limit: 1})
	if err != nil || len(latest) != 1 {
		t.Fatalf("%s: AuditLog(limit 1) = %d entries, %v; want 1", what, len(latest), err)
	}
	checkRuleAuditEntry(t, e, what, latest[0], actor, action, object, id, before, after)
}

// checkRuleAuditEntry is checkRuleAudit for a given entry.
func checkRuleAuditEntry(t *testing.T, e *env, what string, got storage.AuditEntry, actor storage.Actor, action, object string, id int64, before, after any) {
	t.Helper()
	if got.Action != action || got.ObjectType != object || got.ObjectID != id || got.Actor != actor.Name {
		t.Fatalf("%s: audit entry is %s %s %d by %q, want %s %s %d by %q", what,
			got.Action, got.ObjectType, got.ObjectID, got.Actor, action, object, id, actor.Name)
	}
	if (got.ActorID == nil) != (actor.UserID == 0) || got.ActorID != nil && *got.ActorID != actor.UserID {
		t.Fatalf("%s: audit actor ID %v, want %d", what, got.ActorID, actor.UserID)
	}
	if !sameTime(got.At, e.clock.Stored()) {
		t.Fatalf("%s: audit entry at %v, want %v", what, got.At, e.clock.Stored())
	}
	for _, side := range []struct {
		name string
		raw  json.RawMessage
		want any
	}{{"before", got.Before, before}, {"after", got.After, after}} {
		var g, w any
		if err := json.Unmarshal(side.raw, &g); err != nil {
			t.Fatalf("%s: audit %s %s: %v", what, side.name, side.raw, err)
		}
		if side.want != nil {
			json.Unmarshal([]byte(asJSON(t, side.want)), &w)
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: audit %s is %s, want %s", what, side.name, side.raw, asJSON(t, side.want))
		}
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		rules, err := db.Rules(ctx)
		if err != nil {
			t.Fatalf("Rules of an empty store: %v", err)
		}
		checkSame(t, "Rules of an empty store", rules, alerts.Rules{Routes: []alerts.Route{}, Teams: []alerts.Team{}, Silences: []alerts.Silence{}})

		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		carol := mustCreateUser(t, db, "carol", auth.RoleResponder)
		db1 := mustCreateTeam(t, db, storage.CLIActor(), "db", carol.ID, bob.ID)
		empty := mustCreateTeam(t, db, storage.ConfigActor(), "empty")
		ops := mustCreateTeam(t, db, storage.CLIActor(), "ops", alice.ID)
		last := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{
			Name: "catch-all", Users: []int64{alice.ID}, Enabled: true, Position: 100,
		})
		first := mustCreateRoute(t, db, storage.ConfigActor(), alerts.Route{
			Name: "database", Matchers: mustMatchers(t, `team="db"`, `severity=~"critical|page"`),
			Users: []int64{bob.ID}, Teams: []int64{ops.ID, db1.ID}, Continue: true, Enabled: true, Position: 5,
		})
		off := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{
			Name: "off", Matchers: mustMatchers(t, `env!="prod"`), Teams: []int64{empty.ID}, Position: 50,
		})

		now := e.clock.Now()
		silence := func(name string, starts time.Time, d time.Duration) alerts.Silence {
			return mustCreateSilence(t, e, storage.CLIActor(), alerts.Silence{
				Matchers: mustMatchers(t, `alertname="`+name+`"`), StartsAt: starts, EndsAt: starts.Add(d), Comment: name,
			})
		}
		silence("ended", now, time.Minute)
		silence("ends-now", now, time.Hour) // over once the clock is at its end
		active := silence("active", now, 2*time.Hour)
		pending := silence("pending", now.Add(3*time.Hour), time.Hour)
		e.clock.Advance(time.Hour)

		rules, err = db.Rules(ctx)
		if err != nil {
			t.Fatalf("Rules: %v", err)
		}
		checkSame(t, "Rules", rules, alerts.Rules{
			Routes:   []alerts.Route{first, off, last},
			Teams:    []alerts.Team{db1, empty, ops},
			Silences: []alerts.Silence{active, pending},
		})

		// The rules build a snapshot that routes by them.
		snap := alerts.NewSnapshot(1, rules, e.clock.Now())
		users, silenced := snap.Resolve(alerts.Labels{"team": "db", "severity": "page"})
		if want := []int64{alice.ID, bob.ID, carol.ID}; !slices.Equal(users, want) || silenced {
			t.Fatalf("Resolve(team=db) = %v, %v; want %v, false", users, silenced, want)
		}
		users, silenced = snap.Resolve(alerts.Labels{"alertname": "active", "env": "dev"})
		if want := []int64{alice.ID}; !slices.Equal(users, want) || !silenced {
			t.Fatalf("Resolve(alertname=active) = %v, %v; want %v, true", users, silenced, want)
		}
	})
}

func TestRulesReadsOneSnapshot(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		team := mustCreateTeam(t, db, storage.CLIActor(), "ops", alice.ID)
		mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "all", Teams: []int64{team.ID}, Enabled: true})
		before, err := db.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// A writer that has not committed neither holds Rules up nor shows
		// through: Rules takes no write lock, and reads committed data only.
		tx, err := e.raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO teams (name, managed_by, version, created_at, updated_at) VALUES ('uncommitted', '', 1, 0, 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_members`); err != nil {
			t.Fatal(err)
		}
		readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		during, err := db.Rules(readCtx)
		if err != nil {
			t.Fatalf("Rules while a write is open: %v", err)
		}
		checkSame(t, "Rules while a write is open", during, before)
	})
}

func TestRulesConsistentUnderWrites(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		// The writer keeps one team and one route that targets it, replacing
		// both in each round: the old route and team go in one transaction
		// each, after the new ones come. Read as one snapshot, the rules
		// always have every team a route targets.
		team := mustCreateTeam(t, db, storage.CLIActor(), "team-0", alice.ID)
		route := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "route-0", Teams: []int64{team.ID}, Enabled: true})
		done := make(chan error, 1)
		go func() {
			done <- func() error {
				for round := 1; round <= 40; round++ {
					next, err := db.CreateTeam(ctx, storage.CLIActor(), alerts.Team{Name: fmt.Sprintf("team-%d", round), Members: []int64{alice.ID}})
					if err != nil {
						return err
					}
					nextRoute, err := db.CreateRoute(ctx, storage.CLIActor(), alerts.Route{
						Name: fmt.Sprintf("route-%d", round), Teams: []int64{next.ID}, Enabled: true,
					})
					if err != nil {
						return err
					}
					if err := db.DeleteRoute(ctx, storage.CLIActor(), route.ID, 0); err != nil {
						return err
					}
					if err := db.DeleteTeam(ctx, storage.CLIActor(), team.ID, 0); err != nil {
						return err
					}
					team, route = next, nextRoute
				}
				return nil
			}()
		}()
		reads := 0
		for writing := true; writing; reads++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("writer: %v", err)
				}
				writing = false
			default:
			}
			rules, err := db.Rules(ctx)
			if err != nil {
				t.Fatalf("Rules: %v", err)
			}
			teams := make(map[int64]bool)
			for _, tm := range rules.Teams {
				teams[tm.ID] = true
				if !slices.Equal(tm.Members, []int64{alice.ID}) {
					t.Fatalf("read %d: team %d has members %v, want [%d]", reads, tm.ID, tm.Members, alice.ID)
				}
			}
			for _, r := range rules.Routes {
				if len(r.Teams) != 1 || !teams[r.Teams[0]] {
					t.Fatalf("read %d: route %q targets teams %v, not among the teams read: %s", reads, r.Name, r.Teams, asJSON(t, rules.Teams))
				}
			}
		}
	})
}
