package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTokenShownOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		var created token
		e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ci"}).decode(t, http.StatusCreated, &created)
		if !regexp.MustCompile(`^tsn_[A-Za-z0-9_-]{43}$`).MatchString(created.Token) {
			t.Fatalf("token %q is not 256 random bits with the tsn_ prefix", created.Token)
		}
		for _, path := range []string{"/api/v1/tokens/" + itoa(created.ID), "/api/v1/tokens", "/api/v1/audit"} {
			r := e.do("GET", path, e.admin, nil)
			r.decode(t, http.StatusOK, nil)
			if strings.Contains(string(r.body), created.Token) {
				t.Errorf("GET %s shows the token again", path)
			}
		}
		if r := e.do("GET", "/api/v1/users", created.Token, nil); r.status != http.StatusOK {
			t.Errorf("the new token does not work: status %d", r.status)
		}
	})
}

func TestRespondersManageOnlyTheirOwnTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, ritaTok := e.newResponder("rita")
		sam, samTok := e.newResponder("sam")

		var own token
		e.do("POST", "/api/v1/tokens", ritaTok, map[string]any{"name": "phone"}).decode(t, http.StatusCreated, &own)
		if own.UserID != rita.ID {
			t.Fatalf("token for %d, want rita (%d)", own.UserID, rita.ID)
		}
		var mine list[token]
		e.do("GET", "/api/v1/tokens", ritaTok, nil).decode(t, http.StatusOK, &mine)
		for _, tk := range mine.Items {
			if tk.UserID != rita.ID {
				t.Errorf("rita's list holds token %d of user %d", tk.ID, tk.UserID)
			}
		}
		if len(mine.Items) != 2 {
			t.Errorf("rita lists %d tokens, want 2", len(mine.Items))
		}

		var renamed token
		e.do("PUT", "/api/v1/tokens/"+itoa(own.ID), ritaTok, map[string]any{"name": "old phone", "expires_at": nil, "version": own.Version}).
			decode(t, http.StatusOK, &renamed)
		if renamed.Name != "old phone" || renamed.Version != own.Version+1 {
			t.Errorf("renamed %+v", renamed)
		}
		e.do("PUT", "/api/v1/tokens/"+itoa(own.ID), ritaTok, map[string]any{"name": "x", "expires_at": nil, "user_id": sam.ID, "version": renamed.Version}).
			wantError(t, 400, "invalid", "user_id")

		e.do("GET", "/api/v1/tokens?user_id="+itoa(sam.ID), ritaTok, nil).wantError(t, 403, "forbidden", "")
		e.do("POST", "/api/v1/tokens", ritaTok, map[string]any{"name": "for sam", "user_id": sam.ID}).wantError(t, 403, "forbidden", "")
		// Another user's token is as invisible as a missing one.
		e.do("GET", "/api/v1/tokens/"+itoa(own.ID), samTok, nil).wantError(t, 404, "not_found", "")
		e.do("DELETE", "/api/v1/tokens/"+itoa(own.ID), samTok, nil).wantError(t, 404, "not_found", "")
		e.do("GET", "/api/v1/tokens/"+itoa(own.ID), ritaTok, nil).decode(t, http.StatusOK, nil)

		var all list[token]
		e.do("GET", "/api/v1/tokens", e.admin, nil).decode(t, http.StatusOK, &all)
		if len(all.Items) != 4 {
			t.Errorf("admin lists %d tokens, want 4 (bootstrap, rita x2, sam)", len(all.Items))
		}

		if r := e.do("DELETE", "/api/v1/tokens/"+itoa(own.ID), ritaTok, nil); r.status != http.StatusNoContent {
			t.Fatalf("rita revokes her own token: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/tokens/"+itoa(own.ID), e.admin, nil).wantError(t, 404, "not_found", "")
	})
}

func TestTokenValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		past := e.clock.Now().Add(-1e9).Format("2006-01-02T15:04:05Z07:00")
		tests := []struct {
			name  string
			body  string
			field string
			code  string
			want  int
		}{
			{"blank name", `{"name":"  "}`, "name", "invalid", 400},
			{"long name", `{"name":"` + strings.Repeat("n", 129) + `"}`, "name", "invalid", 400},
			{"expiry in the past", `{"name":"x","expires_at":"` + past + `"}`, "expires_at", "invalid", 400},
			{"expiry not a time", `{"name":"x","expires_at":"tomorrow"}`, "expires_at", "invalid", 400},
			{"unknown owner", `{"name":"x","user_id":999}`, "", "not_found", 404},
			{"negative owner", `{"name":"x","user_id":-5}`, "user_id", "invalid", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", "/api/v1/tokens", e.admin, tt.body).wantError(t, tt.want, tt.code, tt.field)
			})
		}
	})
}

// TestTokenUpdateNeedsExpiry checks that an update which leaves expires_at
// out is refused rather than taken as "never expires".
func TestTokenUpdateNeedsExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		var tk token
		expires := e.clock.Now().Add(24 * time.Hour)
		e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"name": "day", "expires_at": expires}).decode(t, http.StatusCreated, &tk)
		path := "/api/v1/tokens/" + itoa(tk.ID)
		e.do("PUT", path, e.admin, map[string]any{"name": "day", "version": tk.Version}).wantError(t, 400, "invalid", "expires_at")
		var got token
		e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &got)
		if got.ExpiresAt == nil || got.Version != tk.Version {
			t.Fatalf("after a refused update the token is %+v, want it unchanged with its expiry", got)
		}
		var cleared token
		e.do("PUT", path, e.admin, map[string]any{"name": "forever", "expires_at": nil, "version": tk.Version}).decode(t, http.StatusOK, &cleared)
		if cleared.ExpiresAt != nil {
			t.Errorf("explicit null kept the expiry: %+v", cleared)
		}
	})
}
