package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestUsersCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		var created user
		r := e.do("POST", "/api/v1/users", e.admin, map[string]any{"name": "carol", "role": "responder"})
		r.decode(t, http.StatusCreated, &created)
		if created.ID == 0 || created.Name != "carol" || created.Role != "responder" || created.Version != 1 {
			t.Fatalf("created %+v", created)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}

		// A client may PUT back what it read, read-only fields included.
		var read map[string]any
		e.do("GET", "/api/v1/users/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["role"] = "admin"
		var updated user
		e.do("PUT", "/api/v1/users/"+itoa(created.ID), e.admin, read).decode(t, http.StatusOK, &updated)
		if updated.Role != "admin" || updated.Version != 2 {
			t.Fatalf("updated %+v, want role admin at version 2", updated)
		}

		// The version read before the update is stale now, in the body or If-Match.
		e.do("PUT", "/api/v1/users/"+itoa(created.ID), e.admin, read).wantError(t, 409, "conflict", "version")
		e.do("DELETE", "/api/v1/users/"+itoa(created.ID), e.admin, nil, "If-Match", `"1"`).wantError(t, 409, "conflict", "version")
		var still user
		e.do("GET", "/api/v1/users/"+itoa(created.ID), e.admin, nil).decode(t, http.StatusOK, &still)
		if still != updated {
			t.Fatalf("after refused writes %+v, want %+v unchanged", still, updated)
		}

		if r := e.do("DELETE", "/api/v1/users/"+itoa(created.ID), e.admin, nil, "If-Match", `"2"`); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/users/"+itoa(created.ID), e.admin, nil).wantError(t, 404, "not_found", "")
	})
}

func TestResponderReadsItself(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		me, tok := e.newResponder("rosa")
		var got user
		e.do("GET", "/api/v1/users/"+itoa(me.ID), tok, nil).decode(t, http.StatusOK, &got)
		if got != me {
			t.Errorf("read itself as %+v, want %+v", got, me)
		}
		e.do("PUT", "/api/v1/users/"+itoa(me.ID), tok, map[string]any{"name": "rosa", "role": "admin", "version": 1}).
			wantError(t, 403, "forbidden", "")
	})
}

func TestUsersPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		for _, name := range []string{"u1", "u2", "u3", "u4"} {
			e.do("POST", "/api/v1/users", e.admin, map[string]any{"name": name, "role": "responder"}).decode(t, http.StatusCreated, nil)
		}
		var names []string
		path := "/api/v1/users?limit=2"
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more pages than 5 users in pages of 2 make; got %v", names)
			}
			var page list[user]
			e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &page)
			for _, u := range page.Items {
				names = append(names, u.Name)
			}
			if page.NextCursor == "" {
				break
			}
			path = "/api/v1/users?limit=2&cursor=" + page.NextCursor
		}
		want := []string{"admin", "u1", "u2", "u3", "u4"}
		if got, _ := json.Marshal(names); string(got) != mustJSON(want) {
			t.Errorf("paged through %s, want %s", got, mustJSON(want))
		}

		var empty list[user]
		r := e.do("GET", "/api/v1/tokens?user_id=999", e.admin, nil)
		r.decode(t, http.StatusOK, &empty)
		if string(r.body) != `{"items":[],"next_cursor":""}`+"\n" {
			t.Errorf("empty list %s, want items [] and an empty cursor", r.body)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
