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

func TestCreateTeam(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		root := mustCreateUser(t, db, "root", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		carol := mustCreateUser(t, db, "carol", auth.RoleResponder)

		e.clock.Advance(time.Minute)
		team, err := db.CreateTeam(ctx, userActor(root), alerts.Team{
			// ID, managed_by, version and times are the store's to set.
			ID: 99, Name: "db", Members: []int64{carol.ID, bob.ID}, ManagedBy: alerts.ManagedByConfig, Version: 7,
			CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0),
		})
		if err != nil {
			t.Fatalf("CreateTeam: %v", err)
		}
		now := e.clock.Stored()
		want := alerts.Team{ID: team.ID, Name: "db", Members: []int64{bob.ID, carol.ID}, Version: 1, CreatedAt: now, UpdatedAt: now}
		if team.ID <= 0 {
			t.Fatalf("CreateTeam returned ID %d, want > 0", team.ID)
		}
		checkSame(t, "CreateTeam", team, want)
		got, err := db.Team(ctx, team.ID)
		if err != nil {
			t.Fatalf("Team(%d): %v", team.ID, err)
		}
		checkSame(t, "Team after create", got, want)
		checkRuleAudit(t, e, "CreateTeam", userActor(root), storage.ActionCreate, "team", team.ID, nil, want)

		// A team may have no members: they are [], not null.
		empty := mustCreateTeam(t, db, storage.CLIActor(), "empty")
		checkSame(t, "CreateTeam with no members", empty, alerts.Team{ID: empty.ID, Name: "empty", Members: []int64{}, Version: 1, CreatedAt: now, UpdatedAt: now})
		got, err = db.Team(ctx, empty.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, "Team with no members", got, empty)

		// The config file's teams are managed by it.
		file := mustCreateTeam(t, db, storage.ConfigActor(), "from-file", root.ID)
		if file.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("team created by ConfigActor is managed by %q, want %q", file.ManagedBy, alerts.ManagedByConfig)
		}
		if got, err := db.Team(ctx, file.ID); err != nil || got.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("Team(%d) = managed by %q, %v; want %q", file.ID, got.ManagedBy, err, alerts.ManagedByConfig)
		}
		checkRuleAudit(t, e, "CreateTeam by ConfigActor", storage.ConfigActor(), storage.ActionCreate, "team", file.ID, nil, file)
	})
}

func TestCreateTeamRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		alice := mustCreateUser(t, e.db, "alice", auth.RoleAdmin)
		mustCreateTeam(t, e.db, storage.CLIActor(), "taken", alice.ID)
		missing := alice.ID + 100
		cases := []struct {
			name  string
			team  alerts.Team
			kind  error
			field string
		}{
			{name: "taken name", team: alerts.Team{Name: "taken"}, kind: alerts.ErrConflict, field: "name"},
			{name: "empty name", team: alerts.Team{}, kind: alerts.ErrInvalid, field: "name"},
			{name: "upper-case name", team: alerts.Team{Name: "Ops"}, kind: alerts.ErrInvalid, field: "name"},
			{name: "name of 65 characters", team: alerts.Team{Name: strings.Repeat("a", 65)}, kind: alerts.ErrInvalid, field: "name"},
			{name: "member 0", team: alerts.Team{Name: "ops", Members: []int64{alice.ID, 0}}, kind: alerts.ErrInvalid, field: "members[1]"},
			{name: "member twice", team: alerts.Team{Name: "ops", Members: []int64{alice.ID, alice.ID}}, kind: alerts.ErrInvalid, field: "members[1]"},
			{name: "member not a user", team: alerts.Team{Name: "ops", Members: []int64{alice.ID, missing}}, kind: alerts.ErrInvalid, field: "members[1]"},
			{name: "first member not a user", team: alerts.Team{Name: "ops", Members: []int64{missing, alice.ID}}, kind: alerts.ErrInvalid, field: "members[0]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				refused(t, e, c.name, c.kind, c.field, func() error {
					_, err := e.db.CreateTeam(t.Context(), storage.CLIActor(), c.team)
					return err
				})
			})
		}
		_, err := e.db.CreateTeam(t.Context(), storage.CLIActor(), alerts.Team{Name: "ops", Members: []int64{missing}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(missing)) {
			t.Fatalf("CreateTeam with a missing member: error %v, want one that names user %d", err, missing)
		}
	})
}

func TestTeamsList(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		ctx := t.Context()
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		var all []alerts.Team
		for i := range 7 {
			members := []int64{alice.ID}
			if i%2 == 1 {
				members = append(members, bob.ID)
			}
			all = append(all, mustCreateTeam(t, db, storage.CLIActor(), fmt.Sprintf("team%d", i), members...))
		}
		teamID := func(team alerts.Team) int64 { return team.ID }
		cases := []struct {
			name   string
			filter storage.TeamFilter
			limit  int
			want   []alerts.Team
			sizes  []int
		}{
			{name: "all by 3", limit: 3, want: all, sizes: []int{3, 3, 1}},
			{name: "all by 7", limit: 7, want: all, sizes: []int{7, 0}},
			{name: "all at once", limit: 100, want: all, sizes: []int{7}},
			{name: "bob's by 2", filter: storage.TeamFilter{Member: bob.ID}, limit: 2, want: []alerts.Team{all[1], all[3], all[5]}, sizes: []int{2, 1}},
			{name: "alice's", filter: storage.TeamFilter{Member: alice.ID}, limit: 100, want: all, sizes: []int{7}},
			{name: "nobody's", filter: storage.TeamFilter{Member: bob.ID + 100}, limit: 100, sizes: []int{0}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pages := readPages(t, c.name, c.limit, func(p storage.Page) ([]alerts.Team, error) { return db.Teams(ctx, c.filter, p) }, teamID)
				if got := pageSizes(pages); !slices.Equal(got, c.sizes) {
					t.Fatalf("%s: page sizes %v, want %v", c.name, got, c.sizes)
				}
				pageIDs(t, c.name, pages, teamID, false)
				got := []alerts.Team{}
				for _, p := range pages {
					got = append(got, p...)
				}
				checkSame(t, c.name, got, append([]alerts.Team{}, c.want...))
			})
		}
	})
}

func TestTeamNotFound(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice := mustCreateUser(t, e.db, "alice", auth.RoleAdmin)
		team := mustCreateTeam(t, e.db, storage.CLIActor(), "ops", alice.ID)
		missing := team.ID + 100
		_, err := e.db.Team(ctx, missing)
		checkErr(t, "Team", err, alerts.ErrNotFound, "")
		refused(t, e, "UpdateTeam", alerts.ErrNotFound, "", func() error {
			_, err := e.db.UpdateTeam(ctx, storage.CLIActor(), alerts.Team{ID: missing, Name: "x", Version: 1})
			return err
		})
		refused(t, e, "DeleteTeam", alerts.ErrNotFound, "", func() error { return e.db.DeleteTeam(ctx, storage.CLIActor(), missing, 0) })
	})
}

func TestUpdateTeam(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		carol := mustCreateUser(t, db, "carol", auth.RoleResponder)
		team := mustCreateTeam(t, db, storage.CLIActor(), "ops", alice.ID, bob.ID)
		mustCreateTeam(t, db, storage.CLIActor(), "other", alice.ID)

		e.clock.Advance(time.Minute)
		in := team
		in.Name, in.Members = "ops2", []int64{carol.ID, alice.ID}
		in.CreatedAt, in.ManagedBy = time.Unix(0, 0), alerts.ManagedByConfig // not the client's to change
		updated, err := db.UpdateTeam(ctx, userActor(alice), in)
		if err != nil {
			t.Fatalf("UpdateTeam at the right version: %v", err)
		}
		want := alerts.Team{ID: team.ID, Name: "ops2", Members: []int64{alice.ID, carol.ID}, Version: 2,
			CreatedAt: team.CreatedAt, UpdatedAt: e.clock.Stored()}
		checkSame(t, "UpdateTeam", updated, want)
		got, err := db.Team(ctx, team.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, "Team after update", got, want)
		checkRuleAudit(t, e, "UpdateTeam", userActor(alice), storage.ActionUpdate, "team", team.ID, team, want)
		if n := e.count(t, `SELECT COUNT(*) FROM team_members WHERE team_id = ?`, team.ID); n != 2 {
			t.Fatalf("team_members has %d rows of the team, want 2", n)
		}

		missing := carol.ID + 100
		cases := []struct {
			name  string
			team  alerts.Team
			kind  error
			field string
		}{
			{name: "stale version", team: alerts.Team{ID: team.ID, Name: "ops3", Version: 1}, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", team: alerts.Team{ID: team.ID, Name: "ops3", Version: 3}, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", team: alerts.Team{ID: team.ID, Name: "ops3"}, kind: alerts.ErrConflict, field: "version"},
			{name: "taken name", team: alerts.Team{ID: team.ID, Name: "other", Version: 2}, kind: alerts.ErrConflict, field: "name"},
			{name: "invalid name", team: alerts.Team{ID: team.ID, Name: "Ops", Version: 2}, kind: alerts.ErrInvalid, field: "name"},
			{name: "member not a user", team: alerts.Team{ID: team.ID, Name: "ops3", Members: []int64{alice.ID, bob.ID, missing}, Version: 2}, kind: alerts.ErrInvalid, field: "members[2]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				refused(t, e, c.name, c.kind, c.field, func() error {
					_, err := db.UpdateTeam(ctx, storage.CLIActor(), c.team)
					return err
				})
			})
		}

		// Keeping the name, and emptying the team, is fine.
		in = want
		in.Members = nil
		updated, err = db.UpdateTeam(ctx, storage.CLIActor(), in)
		if err != nil {
			t.Fatalf("UpdateTeam keeping the name: %v", err)
		}
		if updated.Members == nil || len(updated.Members) != 0 || updated.Version != 3 {
			t.Fatalf("UpdateTeam emptying the team = members %#v, version %d; want [] at version 3", updated.Members, updated.Version)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM team_members WHERE team_id = ?`, team.ID); n != 0 {
			t.Fatalf("team_members has %d rows of the emptied team, want 0", n)
		}
	})
}

func TestDeleteTeam(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		cases := []struct {
			name string
			// version is what DeleteTeam is given, from the team's version.
			version func(team alerts.Team) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(alerts.Team) int64 { return 0 }},
			{name: "right version", version: func(team alerts.Team) int64 { return team.Version }},
			{name: "stale version", version: func(team alerts.Team) int64 { return team.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(team alerts.Team) int64 { return team.Version + 1 }, kind: alerts.ErrConflict},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				team := mustCreateTeam(t, db, storage.CLIActor(), fmt.Sprintf("victim%d", i), alice.ID)
				team.Name += "-renamed"
				team, err := db.UpdateTeam(ctx, storage.CLIActor(), team) // version 2
				if err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(time.Second)
				if c.kind != nil {
					refused(t, e, c.name, c.kind, "version", func() error { return db.DeleteTeam(ctx, storage.CLIActor(), team.ID, c.version(team)) })
					return
				}
				if err := db.DeleteTeam(ctx, userActor(alice), team.ID, c.version(team)); err != nil {
					t.Fatalf("DeleteTeam(%d, version %d): %v", team.ID, c.version(team), err)
				}
				checkRuleAudit(t, e, "DeleteTeam", userActor(alice), storage.ActionDelete, "team", team.ID, team, nil)
				_, err = db.Team(ctx, team.ID)
				checkErr(t, "Team after delete", err, alerts.ErrNotFound, "")
				if n := e.count(t, `SELECT COUNT(*) FROM team_members WHERE team_id = ?`, team.ID); n != 0 {
					t.Fatalf("team_members has %d rows of the deleted team, want 0", n)
				}
				checkErr(t, "second DeleteTeam", db.DeleteTeam(ctx, storage.CLIActor(), team.ID, 0), alerts.ErrNotFound, "")
				// The name is free again.
				mustCreateTeam(t, db, storage.CLIActor(), team.Name)
			})
		}
	})
}

func TestDeleteTeamInUse(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		team := mustCreateTeam(t, db, storage.CLIActor(), "ops", alice.ID)
		other := mustCreateTeam(t, db, storage.CLIActor(), "other", alice.ID)
		later := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "later", Teams: []int64{team.ID, other.ID}, Position: 20})
		first := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "first", Teams: []int64{team.ID}, Position: 10})
		mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "unrelated", Teams: []int64{other.ID}})

		before, audits := rulesState(t, db), e.auditRows(t)
		err := db.DeleteTeam(ctx, storage.CLIActor(), team.ID, 0)
		checkErr(t, "DeleteTeam of a team in use", err, alerts.ErrConflict, "")
		// The routes are named, in position order, and only they are.
		if msg := err.Error(); !strings.Contains(msg, `"first", "later"`) || strings.Contains(msg, "unrelated") {
			t.Fatalf("DeleteTeam of a team in use: error %q, want one naming routes \"first\", \"later\" in that order, and no other", msg)
		}
		if after := rulesState(t, db); after != before || e.auditRows(t) != audits {
			t.Fatalf("refused DeleteTeam changed the rules:\nbefore %s\n after %s", before, after)
		}

		// Once no route targets it, it can go.
		if err := db.DeleteRoute(ctx, storage.CLIActor(), first.ID, 0); err != nil {
			t.Fatal(err)
		}
		later.Teams = []int64{other.ID}
		if _, err := db.UpdateRoute(ctx, storage.CLIActor(), later); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteTeam(ctx, storage.CLIActor(), team.ID, 0); err != nil {
			t.Fatalf("DeleteTeam of a team no route targets: %v", err)
		}
	})
}

func TestManagedTeam(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		team := mustCreateTeam(t, db, storage.ConfigActor(), "ops", alice.ID)

		for _, actor := range []storage.Actor{userActor(alice), storage.CLIActor(), storage.SystemActor()} {
			t.Run(actor.Name, func(t *testing.T) {
				in := team
				in.Members = []int64{alice.ID, bob.ID}
				refused(t, e, "UpdateTeam of a managed team", alerts.ErrForbidden, "", func() error {
					_, err := db.UpdateTeam(ctx, actor, in)
					return err
				})
				refused(t, e, "DeleteTeam of a managed team", alerts.ErrForbidden, "", func() error {
					return db.DeleteTeam(ctx, actor, team.ID, 0)
				})
			})
		}
		_, err := db.UpdateTeam(ctx, userActor(alice), team)
		if err == nil || !strings.Contains(err.Error(), `team "ops" is declared in config.yaml`) {
			t.Fatalf("UpdateTeam of a managed team: error %v, want one saying it is declared in config.yaml", err)
		}

		// The config file changes its own teams, and takes over others.
		e.clock.Advance(time.Minute)
		in := team
		in.Members = []int64{bob.ID}
		updated, err := db.UpdateTeam(ctx, storage.ConfigActor(), in)
		if err != nil {
			t.Fatalf("UpdateTeam by ConfigActor: %v", err)
		}
		if updated.ManagedBy != alerts.ManagedByConfig || updated.Version != 2 || !slices.Equal(updated.Members, []int64{bob.ID}) {
			t.Fatalf("UpdateTeam by ConfigActor = %+v, want managed by config, version 2, members [%d]", updated, bob.ID)
		}
		checkRuleAudit(t, e, "UpdateTeam by ConfigActor", storage.ConfigActor(), storage.ActionUpdate, "team", team.ID, team, updated)

		api := mustCreateTeam(t, db, userActor(alice), "api-made")
		taken, err := db.UpdateTeam(ctx, storage.ConfigActor(), api)
		if err != nil || taken.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("UpdateTeam by ConfigActor of an API team = managed by %q, %v; want %q", taken.ManagedBy, err, alerts.ManagedByConfig)
		}
		if err := db.DeleteTeam(ctx, storage.ConfigActor(), team.ID, 0); err != nil {
			t.Fatalf("DeleteTeam by ConfigActor: %v", err)
		}
	})
}

func TestDeleteUserLeavesTeamsAndRoutes(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		root := mustCreateUser(t, db, "root", auth.RoleAdmin)
		gone := mustCreateUser(t, db, "gone", auth.RoleResponder)
		withGone := mustCreateTeam(t, db, storage.CLIActor(), "with-gone", root.ID, gone.ID)
		managed := mustCreateTeam(t, db, storage.ConfigActor(), "managed", gone.ID)
		without := mustCreateTeam(t, db, storage.CLIActor(), "without", root.ID)
		routeWithGone := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "with-gone", Users: []int64{gone.ID, root.ID}, Teams: []int64{without.ID}})
		routeWithout := mustCreateRoute(t, db, storage.CLIActor(), alerts.Route{Name: "without", Users: []int64{root.ID}, Teams: []int64{withGone.ID}})

		e.clock.Advance(time.Minute)
		if err := db.DeleteUser(ctx, storage.CLIActor(), gone.ID, 0); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		now := e.clock.Stored()
		// What listed the user changed: it has a new version, and lost the user.
		bumpTeam := func(team alerts.Team, members ...int64) alerts.Team {
			team.Members, team.Version, team.UpdatedAt = append([]int64{}, members...), team.Version+1, now
			return team
		}
		for _, want := range []alerts.Team{bumpTeam(withGone, root.ID), bumpTeam(managed), without} {
			got, err := db.Team(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, fmt.Sprintf("team %q after its member's delete", want.Name), got, want)
		}
		wantRoute := routeWithGone
		wantRoute.Users, wantRoute.Version, wantRoute.UpdatedAt = []int64{root.ID}, wantRoute.Version+1, now
		for _, want := range []alerts.Route{wantRoute, routeWithout} {
			got, err := db.Route(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, fmt.Sprintf("route %q after a user's delete", want.Name), got, want)
		}
		for _, table := range []string{"team_members", "route_users"} {
			if n := e.count(t, `SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`, gone.ID); n != 0 {
				t.Fatalf("%s has %d rows of the deleted user, want 0", table, n)
			}
		}
		// An edit made from the team as it was is stale.
		in := withGone
		in.Name = "renamed"
		_, err := db.UpdateTeam(ctx, storage.CLIActor(), in)
		checkErr(t, "UpdateTeam from before the user's delete", err, alerts.ErrConflict, "version")
	})
}

func TestConcurrentTeamWrites(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		team := mustCreateTeam(t, db, storage.CLIActor(), "contested", alice.ID)
		for round := range 5 {
			what := fmt.Sprintf("round %d: two updates at one version", round)
			results := make([]alerts.Team, 2)
			update := func(i int, members ...int64) func() error {
				return func() (err error) {
					in := team
					in.Members = members
					results[i], err = db.UpdateTeam(ctx, storage.CLIActor(), in)
					return err
				}
			}
			w := oneWins(t, what, race(update(0, alice.ID), update(1, bob.ID)))
			got, err := db.Team(ctx, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, what+": stored team", got, results[w])
			team = got
		}

		// A team deleted while a route comes to target it: either the
		// delete goes first and the route is refused, or the route goes
		// first and the delete is refused; never both, never neither.
		for round := range 5 {
			what := fmt.Sprintf("round %d: delete a team as a route targets it", round)
			victim := mustCreateTeam(t, db, storage.CLIActor(), fmt.Sprintf("victim%d", round), alice.ID)
			errs := race(
				func() error { return db.DeleteTeam(ctx, storage.CLIActor(), victim.ID, 0) },
				func() error {
					_, err := db.CreateRoute(ctx, storage.CLIActor(), alerts.Route{Name: fmt.Sprintf("route%d", round), Teams: []int64{victim.ID}})
					return err
				},
			)
			switch {
			case errs[0] == nil && errs[1] != nil:
				checkErr(t, what+": the route after the delete", errs[1], alerts.ErrInvalid, "teams[0]")
			case errs[0] != nil && errs[1] == nil:
				checkErr(t, what+": the delete after the route", errs[0], alerts.ErrConflict, "")
			default:
				t.Fatalf("%s: delete error %v, create error %v; want exactly one to fail", what, errs[0], errs[1])
			}
		}
	})
}
