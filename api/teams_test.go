package api_test

import (
	"net/http"
	"slices"
	"testing"
)

func TestTeamsCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		sam, _ := e.newResponder("sam")

		var created team
		r := e.do("POST", "/api/v1/teams", e.admin, map[string]any{"name": "db", "members": []int64{rita.ID}})
		r.decode(t, http.StatusCreated, &created)
		if created.ID == 0 || created.Name != "db" || !slices.Equal(created.Members, []int64{rita.ID}) || created.Version != 1 || created.ManagedBy != "" {
			t.Fatalf("created %+v", created)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}
		empty := e.newTeam("empty")
		if empty.Members == nil || len(empty.Members) != 0 {
			t.Errorf("a team made without members shows members %v, want []", empty.Members)
		}

		var withRita, withSam list[team]
		e.do("GET", "/api/v1/teams?member="+itoa(rita.ID), e.admin, nil).decode(t, http.StatusOK, &withRita)
		e.do("GET", "/api/v1/teams?member="+itoa(sam.ID), e.admin, nil).decode(t, http.StatusOK, &withSam)
		if len(withRita.Items) != 1 || withRita.Items[0].ID != created.ID || len(withSam.Items) != 0 {
			t.Errorf("teams of rita %+v, of sam %+v; want db alone, then none", withRita.Items, withSam.Items)
		}

		// A client may PUT back what it read, read-only fields included.
		var read map[string]any
		e.do("GET", "/api/v1/teams/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["members"] = []int64{rita.ID, sam.ID}
		var updated team
		e.do("PUT", "/api/v1/teams/"+itoa(created.ID), e.admin, read).decode(t, http.StatusOK, &updated)
		if !slices.Equal(updated.Members, []int64{rita.ID, sam.ID}) || updated.Version != 2 {
			t.Fatalf("updated %+v, want rita and sam at version 2", updated)
		}

		// The version read before the update is stale now, in the body or If-Match.
		before := e.auditCount()
		e.wantStaleWritesRefused(t, "/api/v1/teams/"+itoa(created.ID), read)
		var still team
		e.do("GET", "/api/v1/teams/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &still)
		if !slices.Equal(still.Members, updated.Members) || still.Version != updated.Version || e.auditCount() != before {
			t.Fatalf("after refused writes %+v, want %+v unchanged and no audit row", still, updated)
		}

		if r := e.do("DELETE", "/api/v1/teams/"+itoa(created.ID), e.admin, nil, "If-Match", `"2"`); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/teams/"+itoa(created.ID), e.admin, nil).wantError(t, 404, "not_found", "")
		wantAudit(t, e, "team", created.ID, "create", "update", "delete")
	})
}

func TestTeamValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, _ := e.newResponder("rita")
		taken := e.newTeam("taken")
		e.wantCreatesRefused(t, "/api/v1/teams", []refusal{
			{"bad name", map[string]any{"name": "Ops Team"}, 400, "invalid", "name"},
			{"no name", map[string]any{"members": []int64{rita.ID}}, 400, "invalid", "name"},
			{"negative member", map[string]any{"name": "t", "members": []int64{-4}}, 400, "invalid", "members[0]"},
			{"member twice", map[string]any{"name": "t", "members": []int64{rita.ID, rita.ID}}, 400, "invalid", "members[1]"},
			{"member not a user", map[string]any{"name": "t", "members": []int64{rita.ID, 999}}, 400, "invalid", "members[1]"},
			{"member not an ID", `{"name":"t","members":["rita"]}`, 400, "invalid", "members[0]"},
			{"unknown field", map[string]any{"name": "t", "member": []int64{rita.ID}}, 400, "invalid", "member"},
			{"name taken", map[string]any{"name": taken.Name}, 409, "conflict", "name"},
		})
		e.do("GET", "/api/v1/teams?member=x", e.admin, nil).wantError(t, 400, "invalid", "member")
		e.do("PUT", "/api/v1/teams/"+itoa(taken.ID), e.admin, map[string]any{"name": "taken"}).wantError(t, 400, "invalid", "version")
	})
}

func TestTeamTargetedByRouteIsKept(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		db := e.newTeam("db")
		r := e.newRoute(map[string]any{"name": "db-pages", "teams": []int64{db.ID}})
		e.do("DELETE", "/api/v1/teams/"+itoa(db.ID), e.admin, nil).wantError(t, 409, "conflict", "")
		if r := e.do("DELETE", "/api/v1/routes/"+itoa(r.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete route: status %d, body %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/api/v1/teams/"+itoa(db.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete team no route targets: status %d, body %s", r.status, r.body)
		}
	})
}

// wantAudit checks the audit log's entries about one object: their actions
// in order (oldest first), each with the object before and after it, null
// only where it did not exist.
func wantAudit(t *testing.T, e *env, objectType string, id int64, actions ...string) {
	t.Helper()
	entries := e.auditOf(objectType, id)
	slices.Reverse(entries)
	var got []string
	for _, a := range entries {
		got = append(got, a.Action)
		isNull := func(b []byte) bool { return len(b) == 0 || string(b) == "null" }
		if wantBefore := a.Action != "create"; isNull(a.Before) == wantBefore {
			t.Errorf("%s %s %d: before %s", a.Action, objectType, id, a.Before)
		}
		if wantAfter := a.Action != "delete"; isNull(a.After) == wantAfter {
			t.Errorf("%s %s %d: after %s", a.Action, objectType, id, a.After)
		}
		if a.Actor == "" {
			t.Errorf("%s %s %d: no actor", a.Action, objectType, id)
		}
	}
	if !slices.Equal(got, actions) {
		t.Errorf("audit of %s %d: %v, want %v", objectType, id, got, actions)
	}
}
