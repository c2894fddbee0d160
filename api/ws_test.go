package api_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/push"
)

// The hub the app runs, and the fake these tests run, are PushHubs.
var (
	_ api.PushHub = (*push.Hub)(nil)
	_ api.PushHub = (*fakeHub)(nil)
)

// fakeHub is a PushHub that upgrades, sends the session it was given as one
// frame, and closes; and records whom it was told to close.
type fakeHub struct {
	mu     sync.Mutex
	served int
	tokens []int64 // CloseToken calls
	users  []int64 // CloseUser calls
}

// servedSession is the frame fakeHub sends.
type servedSession struct {
	User      int64      `json:"user"`
	Role      string     `json:"role"`
	TokenID   int64      `json:"token_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	Since     int64      `json:"since"`
}

func (h *fakeHub) Serve(w http.ResponseWriter, r *http.Request, s push.Session, since int64) {
	h.mu.Lock()
	h.served++
	h.mu.Unlock()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.WriteJSON(servedSession{User: s.User.ID, Role: string(s.User.Role), TokenID: s.TokenID, ExpiresAt: s.ExpiresAt, Since: since})
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

func (h *fakeHub) CloseToken(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens = append(h.tokens, id)
}

func (h *fakeHub) CloseUser(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users = append(h.users, id)
}

// calls returns how many connections were served and whom the hub was told
// to close.
func (h *fakeHub) calls() (served int, tokens, users []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served, slices.Clone(h.tokens), slices.Clone(h.users)
}

// forEachWS runs fn on each store, with a server whose hub is a fakeHub and
// that allows origins.
func forEachWS(t *testing.T, origins []string, fn func(t *testing.T, e *env, hub *fakeHub)) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		hub := &fakeHub{}
		e := start(t, target, func(o *api.Options) {
			o.Push = hub
			o.AllowedOrigins = origins
		})
		fn(t, e, hub)
	})
}

// upgradeHeader is the header of a WebSocket upgrade request, as header
// pairs for env.do, followed by extra.
func upgradeHeader(extra ...string) []string {
	return append([]string{
		"Connection", "Upgrade", "Upgrade", "websocket",
		"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
	}, extra...)
}

// dialFakeHub opens /api/v1/ws with query and header and reads the
// session the fake hub sends.
func dialFakeHub(t *testing.T, e *env, query string, header http.Header) servedSession {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/ws" + query
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	defer conn.Close()
	var got servedSession
	if err := conn.ReadJSON(&got); err != nil {
		t.Fatalf("read the session: %v", err)
	}
	return got
}

func TestWSRefusedBeforeUpgrade(t *testing.T) {
	forEachWS(t, []string{"https://ok.example"}, func(t *testing.T, e *env, hub *fakeHub) {
		_, tk := e.newResponder("rita")
		tests := []struct {
			name   string
			query  string
			token  string
			header []string
			status int
			code   string
			field  string
		}{
			{"no token", "", "", upgradeHeader(), 401, "unauthorized", ""},
			{"empty access_token", "?access_token=", "", upgradeHeader(), 401, "unauthorized", ""},
			{"unknown token", "?access_token=tsn_nope", "", upgradeHeader(), 401, "unauthorized", ""},
			{"unknown bearer", "", "tsn_nope", upgradeHeader(), 401, "unauthorized", ""},
			{"not bearer", "", "", upgradeHeader("Authorization", "Basic "+tk), 401, "unauthorized", ""},
			{"header and query", "?access_token=" + tk, tk, upgradeHeader(), 400, "invalid", "access_token"},
			{"access_token twice", "?access_token=" + tk + "&access_token=" + tk, "", upgradeHeader(), 400, "invalid", "access_token"},
			{"negative since", "?since=-1", tk, upgradeHeader(), 400, "invalid", "since"},
			{"empty since", "?since=", tk, upgradeHeader(), 400, "invalid", "since"},
			{"since not a number", "?since=4x", tk, upgradeHeader(), 400, "invalid", "since"},
			{"since twice", "?since=1&since=2", tk, upgradeHeader(), 400, "invalid", "since"},
			{"not an upgrade", "", tk, nil, 400, "invalid", ""},
			{"other origin", "", tk, upgradeHeader("Origin", "https://evil.example"), 403, "forbidden", ""},
			{"other port", "", tk, upgradeHeader("Origin", strings.Replace(e.url, "127.0.0.1:", "127.0.0.1:1", 1)), 403, "forbidden", ""},
			{"other scheme", "", tk, upgradeHeader("Origin", strings.Replace(e.url, "http:", "https:", 1)), 403, "forbidden", ""},
			{"null origin", "", tk, upgradeHeader("Origin", "null"), 403, "forbidden", ""},
			{"origin with a path", "", tk, upgradeHeader("Origin", "https://ok.example/x"), 403, "forbidden", ""},
			{"listed origin's subdomain", "", tk, upgradeHeader("Origin", "https://a.ok.example"), 403, "forbidden", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _, _ := hub.calls()
				e.do("GET", "/api/v1/ws"+tt.query, tt.token, nil, tt.header...).wantError(t, tt.status, tt.code, tt.field)
				if after, _, _ := hub.calls(); after != before {
					t.Errorf("the hub served the refused request")
				}
			})
		}
		// Origin header given twice.
		req, err := http.NewRequest("GET", e.url+"/api/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		h := upgradeHeader("Authorization", "Bearer "+tk)
		for i := 0; i < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		req.Header.Add("Origin", e.url)
		req.Header.Add("Origin", "https://evil.example")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("two Origin headers: status %d, want 403", resp.StatusCode)
		}
	})
}

func TestWSWithoutHub(t *testing.T) {
	e := start(t, testdb.SQLite(t), func(o *api.Options) { o.Push = nil })
	e.do("GET", "/api/v1/ws", e.admin, nil, upgradeHeader()...).wantError(t, http.StatusServiceUnavailable, "unavailable", "")
}

func TestWSServesTheTokensUser(t *testing.T) {
	forEachWS(t, []string{"https://ok.example"}, func(t *testing.T, e *env, hub *fakeHub) {
		rita, _ := e.newResponder("rita")
		expires := e.clock.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		var tk token
		e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"user_id": rita.ID, "name": "phone", "expires_at": expires}).
			decode(t, http.StatusCreated, &tk)
		bearer := http.Header{"Authorization": {"Bearer " + tk.Token}}
		tests := []struct {
			name   string
			query  string
			header http.Header
			since  int64
		}{
			{"bearer, no since", "", bearer, -1},
			{"access_token and since", "?access_token=" + tk.Token + "&since=0", nil, 0},
			{"another user asked for", "?since=42&user=1&user_id=1&group=1", bearer, 42},
			{"own origin", "", http.Header{"Authorization": {"Bearer " + tk.Token}, "Origin": {e.url}}, -1},
			{"own origin, default port and case", "", http.Header{"Authorization": {"Bearer " + tk.Token},
				"Origin": {strings.ToUpper(strings.Replace(e.url, "http://", "HTTP://", 1))}}, -1},
			{"listed origin", "", http.Header{"Authorization": {"Bearer " + tk.Token}, "Origin": {"https://ok.example"}}, -1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := dialFakeHub(t, e, tt.query, tt.header)
				if got.User != rita.ID || got.Role != "responder" || got.TokenID != tk.ID || got.Since != tt.since {
					t.Errorf("session %+v, want user %d (responder), token %d, since %d", got, rita.ID, tk.ID, tt.since)
				}
				if got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) {
					t.Errorf("session expires at %v, want %v", got.ExpiresAt, expires)
				}
			})
		}
		// The request log and metrics say 101, not 200, once the handlers
		// have returned.
		want := `tocsin_http_requests_total{code="101",method="GET",route="/api/v1/ws"} ` + strconv.Itoa(len(tests))
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			r := e.do("GET", "/metrics", "", nil)
			if strings.Contains(string(r.body), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics does not count %d upgrades as 101:\n%s", len(tests), r.body)
			}
		}
	})
}

func TestWSAnyOrigin(t *testing.T) {
	forEachWS(t, []string{"*"}, func(t *testing.T, e *env, hub *fakeHub) {
		for _, origin := range []string{"https://anything.example", "null"} {
			got := dialFakeHub(t, e, "", http.Header{"Authorization": {"Bearer " + e.admin}, "Origin": {origin}})
			if got.Role != "admin" {
				t.Errorf("origin %s: session %+v, want the admin's", origin, got)
			}
		}
	})
}

func TestWSClosedOnRevokeAndUserChange(t *testing.T) {
	forEachWS(t, nil, func(t *testing.T, e *env, hub *fakeHub) {
		rita, ritaToken := e.newResponder("rita")
		var tk token
		e.do("POST", "/api/v1/tokens", ritaToken, map[string]any{"name": "phone"}).decode(t, http.StatusCreated, &tk)
		want := func(step string, tokens, users []int64) {
			t.Helper()
			_, gotTokens, gotUsers := hub.calls()
			if !slices.Equal(gotTokens, tokens) || !slices.Equal(gotUsers, users) {
				t.Errorf("after %s: closed tokens %v and users %v, want %v and %v", step, gotTokens, gotUsers, tokens, users)
			}
		}
		id := func(n int64) string { return strconv.FormatInt(n, 10) }

		e.do("DELETE", "/api/v1/tokens/"+id(tk.ID), ritaToken, nil, "If-Match", `"7"`).wantError(t, http.StatusConflict, "conflict", "version")
		e.do("DELETE", "/api/v1/tokens/999", ritaToken, nil).wantError(t, http.StatusNotFound, "not_found", "")
		want("refused token deletes", nil, nil)
		e.do("DELETE", "/api/v1/tokens/"+id(tk.ID), ritaToken, nil).decode(t, http.StatusNoContent, nil)
		want("a token revoked", []int64{tk.ID}, nil)

		e.do("PUT", "/api/v1/users/"+id(rita.ID), e.admin, map[string]any{"name": "rita2", "role": "responder", "version": rita.Version}).
			decode(t, http.StatusOK, &rita)
		want("a rename", []int64{tk.ID}, nil)
		e.do("PUT", "/api/v1/users/"+id(rita.ID), e.admin, map[string]any{"name": "rita2", "role": "admin", "version": rita.Version - 1}).
			wantError(t, http.StatusConflict, "conflict", "version")
		want("a stale role change", []int64{tk.ID}, nil)
		e.do("PUT", "/api/v1/users/"+id(rita.ID), e.admin, map[string]any{"name": "rita2", "role": "admin", "version": rita.Version}).
			decode(t, http.StatusOK, &rita)
		want("a role change", []int64{tk.ID}, []int64{rita.ID})

		e.do("DELETE", "/api/v1/users/"+id(rita.ID), e.admin, nil, "If-Match", `"1"`).wantError(t, http.StatusConflict, "conflict", "version")
		want("a refused user delete", []int64{tk.ID}, []int64{rita.ID})
		e.do("DELETE", "/api/v1/users/"+id(rita.ID), e.admin, nil).decode(t, http.StatusNoContent, nil)
		want("a user deleted", []int64{tk.ID}, []int64{rita.ID, rita.ID})
	})
}
