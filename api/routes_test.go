package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestRoutesCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		sam, _ := e.newResponder("sam")
		db := e.newTeam("db", sam.ID)

		var created route
		r := e.do("POST", "/api/v1/routes", e.admin, map[string]any{
			"name": "db-pages", "matchers": []string{`service="db"`, `severity=~"critical|page"`}, "users": []int64{rita.ID},
		})
		r.decode(t, http.StatusCreated, &created)
		want := route{ID: created.ID, Name: "db-pages", Matchers: []string{`service="db"`, `severity=~"critical|page"`},
			Users: []int64{rita.ID}, Teams: []int64{}, Enabled: true, Position: 1, Version: 1}
		if created.ID == 0 || !routesEqual(created, want) {
			t.Fatalf("created %+v, want %+v: enabled when left out, first position", created, want)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}
		second := e.newRoute(map[string]any{"name": "catch-all", "teams": []int64{db.ID}, "continue": true, "enabled": false})
		if second.Position != 2 || second.Enabled || !second.Continue || len(second.Matchers) != 0 || second.Matchers == nil {
			t.Errorf("second route %+v, want position 2, disabled, continue, matchers []", second)
		}

		// A client may PUT back what it read, read-only fields included.
		var read map[string]any
		e.do("GET", "/api/v1/routes/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["teams"] = []int64{db.ID}
		read["enabled"] = false
		var updated route
		e.do("PUT", "/api/v1/routes/"+itoa(created.ID), e.admin, read).decode(t, http.StatusOK, &updated)
		if !slices.Equal(updated.Teams, []int64{db.ID}) || updated.Enabled || updated.Position != 1 || updated.Version != 2 {
			t.Fatalf("updated %+v, want team db, disabled, still first, version 2", updated)
		}

		before := e.auditCount()
		e.wantStaleWritesRefused(t, "/api/v1/routes/"+itoa(created.ID), read)
		var still route
		e.do("GET", "/api/v1/routes/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &still)
		if !routesEqual(still, updated) || e.auditCount() != before {
			t.Fatalf("after refused writes %+v, want %+v unchanged and no audit row", still, updated)
		}

		// Leaving enabled out of an update enables the route, as on create.
		delete(read, "enabled")
		read["version"] = updated.Version
		e.do("PUT", "/api/v1/routes/"+itoa(created.ID), e.admin, read).decode(t, http.StatusOK, &updated)
		if !updated.Enabled {
			t.Errorf("update without enabled: %+v, want enabled", updated)
		}

		filters := []struct {
			query string
			want  []int64
		}{
			{"", []int64{created.ID, second.ID}},
			{"?enabled=true", []int64{created.ID}},
			{"?enabled=false", []int64{second.ID}},
			{"?user=" + itoa(rita.ID), []int64{created.ID}},
			{"?team=" + itoa(db.ID), []int64{created.ID, second.ID}},
			{"?user=" + itoa(sam.ID), []int64{}},
		}
		for _, f := range filters {
			var page list[route]
			e.do("GET", "/api/v1/routes"+f.query, e.admin, nil).decode(t, http.StatusOK, &page)
			if got := routeIDsOf(page.Items); !slices.Equal(got, f.want) {
				t.Errorf("GET /routes%s: %v, want %v", f.query, got, f.want)
			}
		}

		if r := e.do("DELETE", "/api/v1/routes/"+itoa(created.ID), e.admin, nil, "If-Match", `"3"`); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/routes/"+itoa(created.ID), e.admin, nil).wantError(t, 404, "not_found", "")
		wantAudit(t, e, "route", created.ID, "create", "update", "update", "delete")
	})
}

func TestRoutesPagingByPosition(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		var ids []int64
		for _, name := range []string{"r1", "r2", "r3", "r4", "r5"} {
			ids = append(ids, e.newRoute(map[string]any{"name": name, "users": []int64{rita.ID}}).ID)
		}
		// Put the last first, so that position order and ID order differ.
		order := append([]int64{ids[4]}, ids[:4]...)
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": order}).decode(t, http.StatusOK, nil)

		var got []int64
		path := "/api/v1/routes?limit=2"
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more pages than 5 routes in pages of 2 make; got %v", got)
			}
			var page list[route]
			e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &page)
			got = append(got, routeIDsOf(page.Items)...)
			if page.NextCursor == "" {
				break
			}
			path = "/api/v1/routes?limit=2&cursor=" + page.NextCursor
		}
		if !slices.Equal(got, order) {
			t.Errorf("paged through %v, want %v", got, order)
		}
	})
}

func TestRouteValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		first := e.newRoute(map[string]any{"name": "first", "users": []int64{rita.ID}})
		e.wantCreatesRefused(t, "/api/v1/routes", []refusal{
			{"bad name", map[string]any{"name": "DB pages", "users": []int64{rita.ID}}, 400, "invalid", "name"},
			{"bad matcher", map[string]any{"name": "r", "matchers": []string{`a="1"`, `severity=>"x"`}, "users": []int64{rita.ID}}, 400, "invalid", "matchers[1]"},
			{"matcher not a string", `{"name":"r","matchers":[{"a":"1"}],"users":[2]}`, 400, "invalid", "matchers[0]"},
			{"no target", map[string]any{"name": "r", "matchers": []string{`a="1"`}}, 400, "invalid", "users"},
			{"user not a user", map[string]any{"name": "r", "users": []int64{999}}, 400, "invalid", "users[0]"},
			{"user twice", map[string]any{"name": "r", "users": []int64{rita.ID, rita.ID}}, 400, "invalid", "users[1]"},
			{"team not a team", map[string]any{"name": "r", "users": []int64{rita.ID}, "teams": []int64{999}}, 400, "invalid", "teams[0]"},
			{"negative position", map[string]any{"name": "r", "users": []int64{rita.ID}, "position": -1}, 400, "invalid", "position"},
			{"enabled not a bool", map[string]any{"name": "r", "users": []int64{rita.ID}, "enabled": "yes"}, 400, "invalid", "enabled"},
			{"unknown field", map[string]any{"name": "r", "users": []int64{rita.ID}, "continue_on": true}, 400, "invalid", "continue_on"},
			{"position taken", map[string]any{"name": "r", "users": []int64{rita.ID}, "position": first.Position}, 409, "conflict", "position"},
		})
		e.do("GET", "/api/v1/routes?enabled=yes", e.admin, nil).wantError(t, 400, "invalid", "enabled")
		e.do("GET", "/api/v1/routes?user=0", e.admin, nil).wantError(t, 400, "invalid", "user")
		e.do("GET", "/api/v1/routes?team=x", e.admin, nil).wantError(t, 400, "invalid", "team")
	})
}

func TestReorderRoutes(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		sam, _ := e.newResponder("sam")
		a := e.newRoute(map[string]any{"name": "a", "matchers": []string{`service="db"`}, "users": []int64{rita.ID}})
		b := e.newRoute(map[string]any{"name": "b", "users": []int64{rita.ID}})
		c := e.newRoute(map[string]any{"name": "c", "matchers": []string{`service="db"`}, "users": []int64{sam.ID}})
		labels := map[string]string{"service": "db"}
		if got := e.test(labels); !slices.Equal(got.routeIDs(), []int64{a.ID}) || !slices.Equal(got.Users, []int64{rita.ID}) {
			t.Fatalf("before reorder: %+v, want route a for rita", got)
		}

		var reordered struct {
			Items []route `json:"items"`
		}
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{c.ID, a.ID, b.ID}}).decode(t, http.StatusOK, &reordered)
		if got := routeIDsOf(reordered.Items); !slices.Equal(got, []int64{c.ID, a.ID, b.ID}) {
			t.Fatalf("reordered %v, want c, a, b", got)
		}
		for i, r := range reordered.Items {
			if r.Position != int64(i+1) || r.Version != 2 {
				t.Errorf("route %s at position %d version %d, want position %d version 2", r.Name, r.Position, r.Version, i+1)
			}
		}
		// The new order is in effect by the time the answer comes.
		if got := e.test(labels); !slices.Equal(got.routeIDs(), []int64{c.ID}) || !slices.Equal(got.Users, []int64{sam.ID}) {
			t.Errorf("after reorder: %+v, want route c for sam", got)
		}

		before := e.auditCount()
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{a.ID, a.ID, b.ID}}).wantError(t, 400, "invalid", "ids[1]")
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{a.ID, b.ID}}).wantError(t, 409, "conflict", "")
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{}}).wantError(t, 400, "invalid", "ids")
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{}).wantError(t, 400, "invalid", "ids")
		if e.auditCount() != before {
			t.Error("a refused reorder wrote audit rows")
		}
	})
}

func TestRouteChangesTakeEffectAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		sam, _ := e.newResponder("sam")
		tom, _ := e.newResponder("tom")
		labels := map[string]string{"service": "db", "severity": "critical"}
		if got := e.test(labels); len(got.Routes) != 0 || len(got.Users) != 0 || got.Silenced {
			t.Fatalf("no rules yet: %+v, want nothing", got)
		}

		// No sleep anywhere: each answer comes once its change is in effect.
		ops := e.newTeam("ops", sam.ID, tom.ID)
		r := e.newRoute(map[string]any{"name": "db", "matchers": []string{`service="db"`}, "users": []int64{rita.ID}, "teams": []int64{ops.ID}})
		got := e.test(labels)
		if !slices.Equal(got.routeIDs(), []int64{r.ID}) || !slices.Equal(got.Users, []int64{rita.ID, sam.ID, tom.ID}) || got.Silenced {
			t.Fatalf("after create: %+v, want route %d for rita, sam and tom", got, r.ID)
		}
		if got.SnapshotVersion == 0 {
			t.Error("snapshot_version 0 after changes")
		}
		if other := e.test(map[string]string{"service": "web"}); len(other.Routes) != 0 || len(other.Users) != 0 {
			t.Errorf("labels no route matches: %+v, want nobody", other)
		}

		// Team membership counts, and so do deleted users.
		e.do("PUT", "/api/v1/teams/"+itoa(ops.ID), e.admin, map[string]any{"name": "ops", "members": []int64{sam.ID, tom.ID, rita.ID}, "version": ops.Version}).
			decode(t, http.StatusOK, nil)
		if r := e.do("DELETE", "/api/v1/users/"+itoa(tom.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete tom: status %d, body %s", r.status, r.body)
		}
		if got := e.test(labels); !slices.Equal(got.Users, []int64{rita.ID, sam.ID}) {
			t.Errorf("after tom's deletion: users %v, want rita and sam", got.Users)
		}

		// A silence covers the labels while active, and no more once expired.
		var sil silence
		e.do("POST", "/api/v1/silences", e.admin, map[string]any{
			"matchers": []string{`severity="critical"`}, "ends_at": e.clock.Now().Add(time.Hour), "comment": "db migration",
		}).decode(t, http.StatusCreated, &sil)
		got = e.test(labels)
		if !got.Silenced || !slices.Equal(got.Silences, []int64{sil.ID}) || !slices.Equal(got.Users, []int64{rita.ID, sam.ID}) {
			t.Errorf("with a silence: %+v, want silenced by %d, still saying who would be paged", got, sil.ID)
		}
		e.do("POST", "/api/v1/silences/"+itoa(sil.ID)+"/expire", e.admin, nil).decode(t, http.StatusOK, nil)
		if got := e.test(labels); got.Silenced || len(got.Silences) != 0 {
			t.Errorf("after expiry: %+v, want not silenced", got)
		}

		// Disabled routes do not match; deleted ones are gone.
		var read map[string]any
		e.do("GET", "/api/v1/routes/"+itoa(r.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["enabled"] = false
		e.do("PUT", "/api/v1/routes/"+itoa(r.ID), e.admin, read).decode(t, http.StatusOK, nil)
		if got := e.test(labels); len(got.Routes) != 0 || len(got.Users) != 0 {
			t.Errorf("route disabled: %+v, want nothing", got)
		}
		read["enabled"], read["version"] = true, read["version"].(float64)+1
		e.do("PUT", "/api/v1/routes/"+itoa(r.ID), e.admin, read).decode(t, http.StatusOK, nil)
		if got := e.test(labels); len(got.Routes) != 1 {
			t.Errorf("route enabled again: %+v, want it to match", got)
		}
		if r := e.do("DELETE", "/api/v1/routes/"+itoa(r.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete route: status %d, body %s", r.status, r.body)
		}
		if got := e.test(labels); len(got.Routes) != 0 || len(got.Users) != 0 {
			t.Errorf("route deleted: %+v, want nothing", got)
		}
	})
}

func TestRouteTestValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		tests := []struct {
			name  string
			body  any
			field string
		}{
			{"no labels", map[string]any{}, "labels"},
			{"empty labels", map[string]any{"labels": map[string]string{}}, "labels"},
			{"bad label name", map[string]any{"labels": map[string]string{"0bad": "x"}}, `labels["0bad"]`},
			{"value not a string", `{"labels":{"a":1}}`, "labels.a"},
			{"unknown field", map[string]any{"labels": map[string]string{"a": "1"}, "annotations": map[string]string{}}, "annotations"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", "/api/v1/routes/test", e.admin, tt.body).wantError(t, 400, "invalid", tt.field)
			})
		}
	})
}

// routesEqual compares the fields of routes a client sets and the server
// numbers.
func routesEqual(a, b route) bool {
	return a.ID == b.ID && a.Name == b.Name && slices.Equal(a.Matchers, b.Matchers) && slices.Equal(a.Users, b.Users) &&
		slices.Equal(a.Teams, b.Teams) && a.Continue == b.Continue && a.Enabled == b.Enabled && a.Position == b.Position &&
		a.ManagedBy == b.ManagedBy && a.Version == b.Version
}

// routeIDsOf returns the routes' IDs in order.
func routeIDsOf(routes []route) []int64 {
	ids := []int64{}
	for _, r := range routes {
		ids = append(ids, r.ID)
	}
	return ids
}
