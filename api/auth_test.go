package api_test

import (
	"net/http"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		_, responderToken := e.newResponder("rita")

		var expiring token
		expires := e.clock.Now().Add(time.Hour)
		e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"name": "short", "expires_at": expires}).
			decode(t, http.StatusCreated, &expiring)
		var revoked token
		e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"name": "gone"}).decode(t, http.StatusCreated, &revoked)
		if r := e.do("DELETE", "/api/v1/tokens/"+itoa(revoked.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("revoke: status %d, body %s", r.status, r.body)
		}
		if r := e.do("GET", "/api/v1/users", expiring.Token, nil); r.status != http.StatusOK {
			t.Fatalf("token before expiry: status %d, want 200", r.status)
		}
		e.clock.Advance(time.Hour)

		tests := []struct {
			name    string
			header  string
			status  int
			code    string
			message string
		}{
			{"no header", "", 401, "unauthorized", "missing Authorization: Bearer token"},
			{"basic scheme", "Basic YWRtaW46YWRtaW4=", 401, "unauthorized", `the Authorization header must be "Bearer <token>"`},
			{"empty bearer", "Bearer ", 401, "unauthorized", `the Authorization header must be "Bearer <token>"`},
			{"unknown token", "Bearer tsn_notatokenatall", 401, "unauthorized", "unknown or revoked token"},
			{"revoked token", "Bearer " + revoked.Token, 401, "unauthorized", "unknown or revoked token"},
			{"expired token", "Bearer " + expiring.Token, 401, "unauthorized", "token expired"},
			{"wrong role", "Bearer " + responderToken, 403, "forbidden", "this needs the admin role"},
			{"admin", "Bearer " + e.admin, 200, "", ""},
			{"lower-case scheme", "bearer " + e.admin, 200, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do("GET", "/api/v1/users", "", nil, "Authorization", tt.header)
				if tt.status == http.StatusOK {
					r.decode(t, http.StatusOK, nil)
					return
				}
				got := r.wantError(t, tt.status, tt.code, "")
				if got.Error.Message != tt.message {
					t.Errorf("message %q, want %q", got.Error.Message, tt.message)
				}
				if tt.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != `Bearer realm="tocsin"` {
					t.Errorf("WWW-Authenticate %q, want the Bearer challenge", r.header.Get("WWW-Authenticate"))
				}
			})
		}
	})
}

func TestDeletedUserTokensStopWorking(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		u, tok := e.newResponder("leaver")
		if r := e.do("GET", "/api/v1/users/"+itoa(u.ID), tok, nil); r.status != http.StatusOK {
			t.Fatalf("before delete: status %d", r.status)
		}
		if r := e.do("DELETE", "/api/v1/users/"+itoa(u.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/users/"+itoa(u.ID), tok, nil).wantError(t, 401, "unauthorized", "")
	})
}
