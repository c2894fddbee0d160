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

// routeFixture is a store with two users and two teams for routes to target.
type routeFixture struct {
	*env
	alice, bob auth.User
	ops, db    alerts.Team
}

// newRouteFixture makes the users and teams of a routeFixture.
func newRouteFixture(t *testing.T, e *env) routeFixture {
	t.Helper()
	f := routeFixture{env: e}
	f.alice = mustCreateUser(t, e.db, "alice", auth.RoleAdmin)
	f.bob = mustCreateUser(t, e.db, "bob", auth.RoleResponder)
	f.ops = mustCreateTeam(t, e.db, storage.CLIActor(), "ops", f.alice.ID)
	f.db = mustCreateTeam(t, e.db, storage.CLIActor(), "db", f.bob.ID)
	return f
}

// route returns a valid route named name that notifies alice.
func (f routeFixture) route(name string) alerts.Route {
	return alerts.Route{Name: name, Users: []int64{f.alice.ID}, Enabled: true}
}

// positions returns the names of every route, in position order, with
// their positions.
func positions(t *testing.T, db *storage.DB) []string {
	t.Helper()
	routes, err := db.Routes(t.Context(), storage.RouteFilter{}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Routes: %v", err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, fmt.Sprintf("%s@%d", r.Name, r.Position))
	}
	return got
}

func TestCreateRoute(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db

		e.clock.Advance(time.Minute)
		matchers := mustMatchers(t, `severity="critical"`, `team!="web"`, `service=~"db|cache"`, `env!~"dev.*"`, `note="a \"quoted\"\nvalue"`)
		r, err := db.CreateRoute(ctx, userActor(f.alice), alerts.Route{
			// ID, managed_by, version and times are the store's to set.
			ID: 99, Name: "critical", Matchers: matchers, Users: []int64{f.bob.ID, f.alice.ID}, Teams: []int64{f.db.ID, f.ops.ID},
			Continue: true, Enabled: true, ManagedBy: alerts.ManagedByConfig, Version: 7, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0),
		})
		if err != nil {
			t.Fatalf("CreateRoute: %v", err)
		}
		now := e.clock.Stored()
		want := alerts.Route{ID: r.ID, Name: "critical", Matchers: matchers,
			Users: []int64{f.alice.ID, f.bob.ID}, Teams: []int64{f.ops.ID, f.db.ID},
			Continue: true, Enabled: true, Position: 1, Version: 1, CreatedAt: now, UpdatedAt: now}
		if r.ID <= 0 {
			t.Fatalf("CreateRoute returned ID %d, want > 0", r.ID)
		}
		checkSame(t, "CreateRoute", r, want)
		got, err := db.Route(ctx, r.ID)
		if err != nil {
			t.Fatalf("Route(%d): %v", r.ID, err)
		}
		checkSame(t, "Route after create", got, want)
		// The matchers read back work, regexps included.
		if !got.Matchers.Matches(alerts.Labels{"severity": "critical", "service": "cache", "env": "prod", "note": "a \"quoted\"\nvalue"}) ||
			got.Matchers.Matches(alerts.Labels{"severity": "critical", "service": "cache", "env": "dev-1", "note": "a \"quoted\"\nvalue"}) {
			t.Fatalf("Route's matchers %s do not match as they were made to", got.Matchers)
		}
		checkRuleAudit(t, e, "CreateRoute", userActor(f.alice), storage.ActionCreate, "route", r.ID, nil, want)
		var stored string
		if err := e.raw.QueryRowContext(ctx, `SELECT matchers FROM routes WHERE id = ?`, r.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if want := asJSON(t, matchers); stored != want {
			t.Fatalf("routes.matchers holds %s, want the JSON array %s", stored, want)
		}

		// Position 0 is after the last route, a position of one's own is kept,
		// and no matchers, no users or no teams are empty lists.
		second := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "all", Teams: []int64{f.ops.ID}})
		checkSame(t, "CreateRoute with no matchers or users", second, alerts.Route{ID: second.ID, Name: "all",
			Matchers: alerts.Matchers{}, Users: []int64{}, Teams: []int64{f.ops.ID}, Position: 2, Version: 1, CreatedAt: now, UpdatedAt: now})
		if got, err := db.Route(ctx, second.ID); err != nil {
			t.Fatal(err)
		} else {
			checkSame(t, "Route with no matchers or users", got, second)
		}
		mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "ten", Users: []int64{f.bob.ID}, Position: 10})
		mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "five", Users: []int64{f.bob.ID}, Position: 5})
		mustCreateRoute(t, db, storage.CLIActor(), f.route("last"))
		if got, want := positions(t, db), []string{"critical@1", "all@2", "five@5", "ten@10", "last@11"}; !slices.Equal(got, want) {
			t.Fatalf("routes after creates: %v, want %v", got, want)
		}

		// The config file's routes are managed by it.
		file := mustCreateRoute(t, db, storage.ConfigActor(), f.route("from-file"))
		if file.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("route created by ConfigActor is managed by %q, want %q", file.ManagedBy, alerts.ManagedByConfig)
		}
		if got, err := db.Route(ctx, file.ID); err != nil || got.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("Route(%d) = managed by %q, %v; want %q", file.ID, got.ManagedBy, err, alerts.ManagedByConfig)
		}
	})
}

func TestCreateRouteRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		f := newRouteFixture(t, e)
		taken := mustCreateRoute(t, e.db, storage.CLIActor(), f.route("taken"))
		noUser, noTeam := f.bob.ID+100, f.db.ID+100
		with := func(change func(r *alerts.Route)) alerts.Route {
			r := f.route("new")
			change(&r)
			return r
		}
		tooMany := make([]string, alerts.MaxRuleMatchers+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprintf(`l%d="v"`, i)
		}
		cases := []struct {
			name  string
			route alerts.Route
			kind  error
			field string
		}{
			{name: "taken name", route: with(func(r *alerts.Route) { r.Name = "taken" }), kind: alerts.ErrConflict, field: "name"},
			{name: "taken position", route: with(func(r *alerts.Route) { r.Position = taken.Position }), kind: alerts.ErrConflict, field: "position"},
			{name: "invalid name", route: with(func(r *alerts.Route) { r.Name = "New" }), kind: alerts.ErrInvalid, field: "name"},
			{name: "negative position", route: with(func(r *alerts.Route) { r.Position = -1 }), kind: alerts.ErrInvalid, field: "position"},
			{name: "no target", route: with(func(r *alerts.Route) { r.Users = nil }), kind: alerts.ErrInvalid, field: "users"},
			{name: "user twice", route: with(func(r *alerts.Route) { r.Users = []int64{f.alice.ID, f.bob.ID, f.alice.ID} }), kind: alerts.ErrInvalid, field: "users[2]"},
			{name: "team 0", route: with(func(r *alerts.Route) { r.Teams = []int64{0} }), kind: alerts.ErrInvalid, field: "teams[0]"},
			{name: "missing user", route: with(func(r *alerts.Route) { r.Users = []int64{f.alice.ID, noUser} }), kind: alerts.ErrInvalid, field: "users[1]"},
			{name: "missing team", route: with(func(r *alerts.Route) { r.Teams = []int64{noTeam, f.ops.ID} }), kind: alerts.ErrInvalid, field: "teams[0]"},
			{name: "too many matchers", route: with(func(r *alerts.Route) { r.Matchers = mustMatchers(t, tooMany...) }), kind: alerts.ErrInvalid, field: "matchers"},
			{name: "null matcher", route: with(func(r *alerts.Route) { r.Matchers = alerts.Matchers{mustMatchers(t, `a="b"`)[0], nil} }), kind: alerts.ErrInvalid, field: "matchers[1]"},
			{name: "matcher that does not read back", route: with(func(r *alerts.Route) {
				r.Matchers = alerts.Matchers{{Name: "bad name", Type: alerts.MatchEqual, Value: "x"}}
			}), kind: alerts.ErrInvalid, field: "matchers[0]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				refused(t, e, c.name, c.kind, c.field, func() error {
					_, err := e.db.CreateRoute(t.Context(), storage.CLIActor(), c.route)
					return err
				})
			})
		}
		_, err := e.db.CreateRoute(t.Context(), storage.CLIActor(), with(func(r *alerts.Route) { r.Teams = []int64{noTeam} }))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no team %d", noTeam)) {
			t.Fatalf("CreateRoute with a missing team: error %v, want one saying no team %d", err, noTeam)
		}
	})
}

func TestRoutesList(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db
		// Created out of position order, with gaps: lists go by position.
		var byPosition []alerts.Route
		for i, pos := range []int64{30, 10, 70, 20, 50, 60, 40} {
			r := alerts.Route{Name: fmt.Sprintf("r%d", pos), Position: pos, Enabled: i%2 == 0}
			switch i % 3 {
			case 0:
				r.Users = []int64{f.alice.ID}
			case 1:
				r.Users, r.Teams = []int64{f.bob.ID}, []int64{f.ops.ID}
			case 2:
				r.Teams = []int64{f.db.ID, f.ops.ID}
			}
			byPosition = append(byPosition, mustCreateRoute(t, db, storage.CLIActor(), r))
		}
		slices.SortFunc(byPosition, func(a, b alerts.Route) int { return int(a.Position - b.Position) })
		keep := func(pred func(r alerts.Route) bool) []alerts.Route {
			kept := []alerts.Route{}
			for _, r := range byPosition {
				if pred(r) {
					kept = append(kept, r)
				}
			}
			return kept
		}
		position := func(r alerts.Route) int64 { return r.Position }
		cases := []struct {
			name   string
			filter storage.RouteFilter
			limit  int
			want   []alerts.Route
		}{
			{name: "all by 3", limit: 3, want: byPosition},
			{name: "all by 7", limit: 7, want: byPosition},
			{name: "all at once", limit: 100, want: byPosition},
			{name: "alice's", filter: storage.RouteFilter{User: f.alice.ID}, limit: 2,
				want: keep(func(r alerts.Route) bool { return slices.Contains(r.Users, f.alice.ID) })},
			{name: "ops'", filter: storage.RouteFilter{Team: f.ops.ID}, limit: 2,
				want: keep(func(r alerts.Route) bool { return slices.Contains(r.Teams, f.ops.ID) })},
			{name: "bob's and ops'", filter: storage.RouteFilter{User: f.bob.ID, Team: f.ops.ID}, limit: 100,
				want: keep(func(r alerts.Route) bool {
					return slices.Contains(r.Users, f.bob.ID) && slices.Contains(r.Teams, f.ops.ID)
				})},
			{name: "enabled", filter: storage.RouteFilter{Enabled: ptr(true)}, limit: 2,
				want: keep(func(r alerts.Route) bool { return r.Enabled })},
			{name: "disabled", filter: storage.RouteFilter{Enabled: ptr(false)}, limit: 2,
				want: keep(func(r alerts.Route) bool { return !r.Enabled })},
			{name: "enabled of db", filter: storage.RouteFilter{Team: f.db.ID, Enabled: ptr(true)}, limit: 100,
				want: keep(func(r alerts.Route) bool { return r.Enabled && slices.Contains(r.Teams, f.db.ID) })},
			{name: "nobody's", filter: storage.RouteFilter{User: f.bob.ID + 100}, limit: 100, want: []alerts.Route{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pages := readPages(t, c.name, c.limit, func(p storage.Page) ([]alerts.Route, error) { return db.Routes(ctx, c.filter, p) }, position)
				pageIDs(t, c.name, pages, position, false)
				got := []alerts.Route{}
				for _, p := range pages {
					got = append(got, p...)
				}
				checkSame(t, c.name, got, c.want)
			})
		}
		_, err := db.Route(ctx, byPosition[6].ID+100)
		checkErr(t, "Route of a missing ID", err, alerts.ErrNotFound, "")
	})
}

func TestUpdateRoute(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db
		r := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "r", Matchers: mustMatchers(t, `a="1"`), Users: []int64{f.alice.ID}, Teams: []int64{f.ops.ID}})
		other := mustCreateRoute(t, db, storage.CLIActor(), f.route("other"))

		e.clock.Advance(time.Minute)
		in := r
		in.Name, in.Matchers, in.Users, in.Teams = "renamed", mustMatchers(t, `b=~"x|y"`, `c!="z"`), nil, []int64{f.db.ID, f.ops.ID}
		in.Continue, in.Enabled, in.Position = true, true, 0                 // position 0 keeps it
		in.CreatedAt, in.ManagedBy = time.Unix(0, 0), alerts.ManagedByConfig // not the client's to change
		updated, err := db.UpdateRoute(ctx, userActor(f.alice), in)
		if err != nil {
			t.Fatalf("UpdateRoute at the right version: %v", err)
		}
		want := alerts.Route{ID: r.ID, Name: "renamed", Matchers: in.Matchers, Users: []int64{}, Teams: []int64{f.ops.ID, f.db.ID},
			Continue: true, Enabled: true, Position: r.Position, Version: 2, CreatedAt: r.CreatedAt, UpdatedAt: e.clock.Stored()}
		checkSame(t, "UpdateRoute", updated, want)
		got, err := db.Route(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, "Route after update", got, want)
		checkRuleAudit(t, e, "UpdateRoute", userActor(f.alice), storage.ActionUpdate, "route", r.ID, r, want)
		for table, n := range map[string]int{"route_users": 0, "route_teams": 2} {
			if got := e.count(t, `SELECT COUNT(*) FROM `+table+` WHERE route_id = ?`, r.ID); got != n {
				t.Fatalf("%s has %d rows of the route, want %d", table, got, n)
			}
		}

		// A free position, or its own, is fine.
		in = want
		in.Position = 40
		if want, err = db.UpdateRoute(ctx, storage.CLIActor(), in); err != nil || want.Position != 40 {
			t.Fatalf("UpdateRoute to a free position = position %d, %v; want 40", want.Position, err)
		}
		in = want
		if want, err = db.UpdateRoute(ctx, storage.CLIActor(), in); err != nil || want.Position != 40 || want.Version != 4 {
			t.Fatalf("UpdateRoute to its own position = position %d, version %d, %v; want 40, 4", want.Position, want.Version, err)
		}
		if got, want := positions(t, db), []string{"other@2", "renamed@40"}; !slices.Equal(got, want) {
			t.Fatalf("routes after moves: %v, want %v", got, want)
		}

		at := func(change func(r *alerts.Route)) alerts.Route {
			r := want
			change(&r)
			return r
		}
		cases := []struct {
			name  string
			route alerts.Route
			kind  error
			field string
		}{
			{name: "stale version", route: at(func(r *alerts.Route) { r.Version = 1 }), kind: alerts.ErrConflict, field: "version"},
			{name: "future version", route: at(func(r *alerts.Route) { r.Version = 5 }), kind: alerts.ErrConflict, field: "version"},
			{name: "no version", route: at(func(r *alerts.Route) { r.Version = 0 }), kind: alerts.ErrConflict, field: "version"},
			{name: "taken name", route: at(func(r *alerts.Route) { r.Name = "other" }), kind: alerts.ErrConflict, field: "name"},
			{name: "taken position", route: at(func(r *alerts.Route) { r.Position = other.Position }), kind: alerts.ErrConflict, field: "position"},
			{name: "invalid name", route: at(func(r *alerts.Route) { r.Name = "" }), kind: alerts.ErrInvalid, field: "name"},
			{name: "no target", route: at(func(r *alerts.Route) { r.Users, r.Teams = nil, nil }), kind: alerts.ErrInvalid, field: "users"},
			{name: "missing user", route: at(func(r *alerts.Route) { r.Users = []int64{f.bob.ID + 100} }), kind: alerts.ErrInvalid, field: "users[0]"},
			{name: "missing team", route: at(func(r *alerts.Route) { r.Teams = []int64{f.ops.ID, f.db.ID + 100} }), kind: alerts.ErrInvalid, field: "teams[1]"},
			{name: "missing route", route: at(func(r *alerts.Route) { r.ID += 100 }), kind: alerts.ErrNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				refused(t, e, c.name, c.kind, c.field, func() error {
					_, err := db.UpdateRoute(ctx, storage.CLIActor(), c.route)
					return err
				})
			})
		}
	})
}

func TestDeleteRoute(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db
		cases := []struct {
			name string
			// version is what DeleteRoute is given, from the route's version.
			version func(r alerts.Route) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(alerts.Route) int64 { return 0 }},
			{name: "right version", version: func(r alerts.Route) int64 { return r.Version }},
			{name: "stale version", version: func(r alerts.Route) int64 { return r.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(r alerts.Route) int64 { return r.Version + 1 }, kind: alerts.ErrConflict},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: fmt.Sprintf("victim%d", i), Users: []int64{f.alice.ID}, Teams: []int64{f.ops.ID}})
				after := mustCreateRoute(t, db, storage.CLIActor(), f.route(fmt.Sprintf("after%d", i)))
				r.Enabled = true
				r, err := db.UpdateRoute(ctx, storage.CLIActor(), r) // version 2
				if err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(time.Second)
				if c.kind != nil {
					refused(t, e, c.name, c.kind, "version", func() error { return db.DeleteRoute(ctx, storage.CLIActor(), r.ID, c.version(r)) })
					return
				}
				if err := db.DeleteRoute(ctx, userActor(f.alice), r.ID, c.version(r)); err != nil {
					t.Fatalf("DeleteRoute(%d, version %d): %v", r.ID, c.version(r), err)
				}
				checkRuleAudit(t, e, "DeleteRoute", userActor(f.alice), storage.ActionDelete, "route", r.ID, r, nil)
				_, err = db.Route(ctx, r.ID)
				checkErr(t, "Route after delete", err, alerts.ErrNotFound, "")
				for _, table := range []string{"route_users", "route_teams"} {
					if n := e.count(t, `SELECT COUNT(*) FROM `+table+` WHERE route_id = ?`, r.ID); n != 0 {
						t.Fatalf("%s has %d rows of the deleted route, want 0", table, n)
					}
				}
				// The routes after it keep their positions.
				if got, err := db.Route(ctx, after.ID); err != nil {
					t.Fatal(err)
				} else {
					checkSame(t, "the next route after a delete", got, after)
				}
				checkErr(t, "second DeleteRoute", db.DeleteRoute(ctx, storage.CLIActor(), r.ID, 0), alerts.ErrNotFound, "")
			})
		}
	})
}

func TestManagedRoute(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db
		r := mustCreateRoute(t, db, storage.ConfigActor(), f.route("from-file"))
		for _, actor := range []storage.Actor{userActor(f.alice), storage.CLIActor(), storage.SystemActor()} {
			t.Run(actor.Name, func(t *testing.T) {
				in := r
				in.Enabled = false
				refused(t, e, "UpdateRoute of a managed route", alerts.ErrForbidden, "", func() error {
					_, err := db.UpdateRoute(ctx, actor, in)
					return err
				})
				refused(t, e, "DeleteRoute of a managed route", alerts.ErrForbidden, "", func() error {
					return db.DeleteRoute(ctx, actor, r.ID, r.Version)
				})
			})
		}
		_, err := db.UpdateRoute(ctx, userActor(f.alice), r)
		if err == nil || !strings.Contains(err.Error(), `route "from-file" is declared in config.yaml`) {
			t.Fatalf("UpdateRoute of a managed route: error %v, want one saying it is declared in config.yaml", err)
		}

		// The config file changes its own routes, and takes over others.
		e.clock.Advance(time.Minute)
		in := r
		in.Enabled = false
		updated, err := db.UpdateRoute(ctx, storage.ConfigActor(), in)
		if err != nil {
			t.Fatalf("UpdateRoute by ConfigActor: %v", err)
		}
		if updated.ManagedBy != alerts.ManagedByConfig || updated.Version != 2 || updated.Enabled {
			t.Fatalf("UpdateRoute by ConfigActor = %+v, want managed by config, version 2, disabled", updated)
		}
		checkRuleAudit(t, e, "UpdateRoute by ConfigActor", storage.ConfigActor(), storage.ActionUpdate, "route", r.ID, r, updated)
		api := mustCreateRoute(t, db, userActor(f.alice), f.route("api-made"))
		taken, err := db.UpdateRoute(ctx, storage.ConfigActor(), api)
		if err != nil || taken.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("UpdateRoute by ConfigActor of an API route = managed by %q, %v; want %q", taken.ManagedBy, err, alerts.ManagedByConfig)
		}

		// Positions are not the file's: anyone may reorder managed routes.
		if _, err := db.ReorderRoutes(ctx, userActor(f.alice), []int64{api.ID, r.ID}); err != nil {
			t.Fatalf("ReorderRoutes of managed routes by a user: %v", err)
		}
		if got, want := positions(t, db), []string{"api-made@1", "from-file@2"}; !slices.Equal(got, want) {
			t.Fatalf("routes after reorder: %v, want %v", got, want)
		}
		if err := db.DeleteRoute(ctx, storage.ConfigActor(), r.ID, 0); err != nil {
			t.Fatalf("DeleteRoute by ConfigActor: %v", err)
		}
	})
}

func TestReorderRoutes(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		db := e.db
		if got, err := db.ReorderRoutes(ctx, storage.CLIActor(), nil); err != nil || len(got) != 0 {
			t.Fatalf("ReorderRoutes of no routes = %v, %v; want none", got, err)
		}
		// a@1 b@2 c@3 d@7 e@9: a gap, so that keeping the order still moves d and e.
		var routes []alerts.Route
		for _, name := range []string{"a", "b", "c"} {
			routes = append(routes, mustCreateRoute(t, db, storage.CLIActor(), f.route(name)))
		}
		r := f.route("d")
		r.Position = 7
		routes = append(routes, mustCreateRoute(t, db, storage.CLIActor(), r))
		r = f.route("e")
		r.Position, r.Teams, r.Matchers = 9, []int64{f.ops.ID}, mustMatchers(t, `x="y"`)
		routes = append(routes, mustCreateRoute(t, db, storage.CLIActor(), r))
		a, b, c, d, last := routes[0], routes[1], routes[2], routes[3], routes[4]

		steps := []struct {
			name  string
			order []alerts.Route
			moved []string // the routes whose position changes
			want  []string
		}{
			{name: "swap the first two, close the gaps", order: []alerts.Route{b, a, c, d, last}, moved: []string{"b", "a", "d", "e"},
				want: []string{"b@1", "a@2", "c@3", "d@4", "e@5"}},
			{name: "same order", order: []alerts.Route{b, a, c, d, last}, want: []string{"b@1", "a@2", "c@3", "d@4", "e@5"}},
			{name: "reverse", order: []alerts.Route{last, d, c, a, b}, moved: []string{"e", "d", "a", "b"},
				want: []string{"e@1", "d@2", "c@3", "a@4", "b@5"}},
			{name: "rotate", order: []alerts.Route{d, c, a, b, last}, moved: []string{"d", "c", "a", "b", "e"},
				want: []string{"d@1", "c@2", "a@3", "b@4", "e@5"}},
		}
		for _, s := range steps {
			e.clock.Advance(time.Minute)
			before := map[string]alerts.Route{}
			all, err := db.Routes(ctx, storage.RouteFilter{}, storage.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range all {
				before[r.Name] = r
			}
			audits := e.auditRows(t)
			ids := make([]int64, len(s.order))
			for i, r := range s.order {
				ids[i] = r.ID
			}
			got, err := db.ReorderRoutes(ctx, userActor(f.alice), ids)
			if err != nil {
				t.Fatalf("%s: ReorderRoutes(%v): %v", s.name, ids, err)
			}
			// The answer is every route in its new order, as Routes reads them.
			now, err := db.Routes(ctx, storage.RouteFilter{}, storage.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, s.name+": ReorderRoutes' answer", got, now)
			if p := positions(t, db); !slices.Equal(p, s.want) {
				t.Fatalf("%s: routes %v, want %v", s.name, p, s.want)
			}
			// Moved routes have a new version and an audit row each; the
			// others are as they were.
			var moved []string
			for i, r := range got {
				old := before[r.Name]
				want := old
				if old.Position != int64(i+1) {
					moved = append(moved, r.Name)
					want.Position, want.Version, want.UpdatedAt = int64(i+1), old.Version+1, e.clock.Stored()
				}
				checkSame(t, fmt.Sprintf("%s: route %s", s.name, r.Name), r, want)
			}
			slices.Sort(moved)
			wantMoved := slices.Sorted(slices.Values(s.moved))
			if !slices.Equal(moved, wantMoved) {
				t.Fatalf("%s: moved %v, want %v", s.name, moved, wantMoved)
			}
			if n := e.auditRows(t) - audits; n != len(s.moved) {
				t.Fatalf("%s: wrote %d audit rows, want %d", s.name, n, len(s.moved))
			}
			entries, err := db.AuditLog(ctx, storage.Page{Limit: len(s.moved) + 1})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[int64]alerts.Route{}
			for _, r := range got {
				byID[r.ID] = r
			}
			for _, entry := range entries[:len(s.moved)] {
				r := byID[entry.ObjectID]
				checkRuleAuditEntry(t, e, s.name, entry, userActor(f.alice), storage.ActionUpdate, "route", r.ID, before[r.Name], r)
			}
		}
	})
}

func TestReorderRoutesRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		var ids []int64
		for _, name := range []string{"a", "b", "c"} {
			ids = append(ids, mustCreateRoute(t, e.db, storage.CLIActor(), f.route(name)).ID)
		}
		a, b, c := ids[0], ids[1], ids[2]
		cases := []struct {
			name  string
			ids   []int64
			kind  error
			field string
		}{
			{name: "duplicate", ids: []int64{c, b, c}, kind: alerts.ErrInvalid, field: "ids[2]"},
			{name: "duplicate of a missing one", ids: []int64{c, b, a, 99, 99}, kind: alerts.ErrInvalid, field: "ids[4]"},
			{name: "one missing", ids: []int64{c, a}, kind: alerts.ErrConflict},
			{name: "none", ids: nil, kind: alerts.ErrConflict},
			{name: "unknown one", ids: []int64{c, b, a, c + 100}, kind: alerts.ErrConflict},
			{name: "unknown in place of one", ids: []int64{c, b, c + 100}, kind: alerts.ErrConflict},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				refused(t, e, tc.name, tc.kind, tc.field, func() error {
					_, err := e.db.ReorderRoutes(ctx, storage.CLIActor(), tc.ids)
					return err
				})
			})
		}
		_, err := e.db.ReorderRoutes(ctx, storage.CLIActor(), []int64{c, a})
		if err == nil || !strings.Contains(err.Error(), "changed since you read them") || !strings.Contains(err.Error(), `"b"`) {
			t.Fatalf("ReorderRoutes missing b: error %v, want one saying the routes changed, naming b", err)
		}
	})
}

func TestConcurrentCreateRoute(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := newRouteFixture(t, e)
		// Routes created at once at "the end" all get a place of their own.
		// Each targets a user of its own, so that locking the targets does
		// not line them up: they meet on the gap after the last route, where
		// they deadlocked on MySQL before they took turns.
		const n = 48
		calls := make([]func() error, n)
		for i := range calls {
			u := mustCreateUser(t, e.db, fmt.Sprintf("user%d", i), auth.RoleResponder)
			calls[i] = func() error {
				_, err := e.db.CreateRoute(ctx, storage.CLIActor(), alerts.Route{Name: fmt.Sprintf("r%d", i), Users: []int64{u.ID}})
				return err
			}
		}
		for i, err := range race(calls...) {
			if err != nil {
				t.Fatalf("concurrent CreateRoute %d: %v", i, err)
			}
		}
		routes, err := e.db.Routes(ctx, storage.RouteFilter{}, storage.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range routes {
			if r.Position != int64(i+1) {
				t.Fatalf("after concurrent creates, routes are %v, want positions 1 to %d", positions(t, e.db), n)
			}
		}
		// Two creates at one position: one wins.
		create := func(name string, user int64) func() error {
			return func() error {
				_, err := e.db.CreateRoute(ctx, storage.CLIActor(), alerts.Route{Name: name, Users: []int64{user}, Position: 50})
				return err
			}
		}
		errs := race(create("x", f.alice.ID), create("y", f.bob.ID))
		w := oneWins(t, "two creates at position 50", errs)
		checkErr(t, "the losing create at position 50", errs[1-w], alerts.ErrConflict, "position")
	})
}
