package push_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/push"
	"github.com/tocsinhq/tocsin/storage"
)

// TestHeartbeat: a peer that answers pings stays, one that answers nothing
// for two intervals is cut, without a close frame.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{push: func(o *push.Options) { o.PingInterval = 100 * time.Millisecond }}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		alive := e.dial(alice, "")
		alive.hello(alice, 0)
		// A client that reads nothing answers no ping.
		silent, _, err := e.dialRaw(alice, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		testlog.WaitFor(t, e.log, regexp.MustCompile(`reason="no pong"`), nil)
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Fatalf("the silent peer was cut after %s, before two intervals", took)
		}
		silent.SetReadDeadline(time.Now().Add(readWait))
		if f, err := readFrame(silent); err != nil || f.Type != "hello" {
			t.Fatalf("silent client's first message %s, %v; want hello", f.raw, err)
		}
		_, err = readFrame(silent)
		var ce *websocket.CloseError
		if err == nil || (errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure) {
			t.Fatalf("silent client read %v, want the connection cut with no close frame", err)
		}

		// The reading client answered ten pings meanwhile, and is still here.
		time.Sleep(time.Until(start.Add(time.Second)))
		want := e.publish(alice.ID)[0].Seq
		if got := alive.notifications(1); got[0] != want {
			t.Fatalf("the live client got seq %d, want %d", got[0], want)
		}
		if got := e.counter("tocsin_ws_closes_total", "reason", "timeout"); got != 1 {
			t.Fatalf("timeout closes %v, want 1", got)
		}
	})
}

func TestBadFrames(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		c := e.dial(alice, "")
		c.hello(alice, 0)
		bad := []struct {
			name  string
			typ   int
			frame string
			says  string
		}{
			{"not JSON", websocket.TextMessage, `ack 41`, "JSON"},
			{"binary", websocket.BinaryMessage, `{"type":"ack","alert_id":41}`, "text"},
			{"unknown field", websocket.TextMessage, `{"type":"ack","alert_id":41,"user":2}`, "user"},
			{"field in another case", websocket.TextMessage, `{"type":"ack","Alert_ID":41}`, "Alert_ID"},
			{"duplicate field", websocket.TextMessage, `{"type":"ack","alert_id":41,"alert_id":42}`, "duplicate"},
			{"unknown type", websocket.TextMessage, `{"type":"subscribe","alert_id":41}`, "subscribe"},
			{"missing alert_id", websocket.TextMessage, `{"type":"resolve"}`, "missing alert_id"},
			{"alert_id zero", websocket.TextMessage, `{"type":"ack","alert_id":0}`, "positive"},
			{"alert_id a string", websocket.TextMessage, `{"type":"ack","alert_id":"41"}`, "JSON"},
			{"an array", websocket.TextMessage, `[{"type":"ack","alert_id":41}]`, "JSON"},
		}
		for i, b := range bad {
			c.sendFrame(b.typ, []byte(b.frame))
			f := c.next()
			if f.Type != "error" || f.Code != "bad_frame" || !strings.Contains(f.Message, b.says) {
				t.Fatalf("%s: got %s, want error bad_frame saying %q", b.name, f.raw, b.says)
			}
			if i%3 == 2 {
				// A good frame in between resets the count.
				c.send(`{"type":"ack","alert_id":999999}`)
				if f := c.next(); f.Type != "error" || f.Code != "not_found" || f.AlertID != 999999 {
					t.Fatalf("ack of a missing alert: got %s, want error not_found for alert 999999", f.raw)
				}
			}
		}
		// Five bad frames in a row close the connection: after a good frame,
		// four errors, then the close.
		c.send(`{"type":"resolve","alert_id":999999}`)
		if f := c.next(); f.Code != "not_found" {
			t.Fatalf("got %s, want error not_found", f.raw)
		}
		for range 4 {
			c.send(`{}`)
			if f := c.next(); f.Code != "bad_frame" {
				t.Fatalf("got %s, want error bad_frame", f.raw)
			}
		}
		c.send(`{}`)
		c.wantClose(websocket.ClosePolicyViolation, "too many bad frames")
	})
}

func TestOversizedFrame(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{push: func(o *push.Options) { o.MaxMessageBytes = 100 }}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		ok := e.dial(alice, "")
		ok.hello(alice, 0)
		// A frame of the limit is read.
		ok.send(`{"type":"ack","alert_id":999999}` + strings.Repeat(" ", 100-len(`{"type":"ack","alert_id":999999}`)))
		if f := ok.next(); f.Code != "not_found" {
			t.Fatalf("a frame of 100 bytes: got %s, want error not_found", f.raw)
		}
		for _, size := range []int{101, 64 << 10} {
			c := e.dial(alice, "")
			c.hello(alice, 0)
			// The write of a big frame may fail when the close comes first.
			c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","alert_id":1}`+strings.Repeat(" ", size-len(`{"type":"ack","alert_id":1}`))))
			c.wantClose(websocket.CloseMessageTooBig, "")
		}
	})
}

func TestCloseTokenAndUser(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		alicePhone := alice.withToken(e, nil)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		laptop, phone, desk := e.dial(alice, ""), e.dial(alicePhone, ""), e.dial(bob, "")
		laptop.hello(alice, 0)
		phone.hello(alice, 0)
		desk.hello(bob, 0)

		e.hub.CloseToken(alice.tokenID)
		laptop.wantClose(websocket.ClosePolicyViolation, "token revoked")
		seq := e.publish(alice.ID)[0].Seq
		if got := phone.notifications(1); got[0] != seq {
			t.Fatalf("the phone got seq %d, want %d", got[0], seq)
		}

		e.hub.CloseUser(alice.ID)
		phone.wantClose(websocket.ClosePolicyViolation, "user changed")
		e.hub.CloseUser(alice.ID) // no connection left: nothing to do
		seq = e.publish(bob.ID)[0].Seq
		if got := desk.notifications(1); got[0] != seq {
			t.Fatalf("bob got seq %d, want %d", got[0], seq)
		}
		eventually(t, "the closes counted", func() bool {
			return e.counter("tocsin_ws_closes_total", "reason", "token_revoked") == 1 &&
				e.counter("tocsin_ws_closes_total", "reason", "user_changed") == 1 &&
				e.counter("tocsin_ws_connections") == 1 && e.counter("tocsin_ws_users_online") == 1
		})
	})
}

// TestTokenSweep: a token that expires, or is deleted from the store behind
// the hub's back (by another node, or its user deleted), closes its
// connections within an interval or two.
func TestTokenSweep(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{push: func(o *push.Options) { o.PingInterval = 100 * time.Millisecond }}, func(t *testing.T, e *env) {
		ctx := context.Background()
		expires := time.Now().Add(500 * time.Millisecond)
		alice := e.newUser("alice", auth.RoleResponder, &expires)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		carol := e.newUser("carol", auth.RoleResponder, nil)
		dave := e.newUser("dave", auth.RoleResponder, &expires)
		a, b, c, d := e.dial(alice, ""), e.dial(bob, ""), e.dial(carol, ""), e.dial(dave, "")
		a.hello(alice, 0)
		b.hello(bob, 0)
		c.hello(carol, 0)
		d.hello(dave, 0)
		// Dave's token is renewed while his connection is open: the
		// store's expiry, not the one the connection began with, counts.
		renewed, err := e.db.Token(ctx, dave.tokenID)
		if err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		renewed.ExpiresAt = &later
		if _, err := e.db.UpdateToken(ctx, storage.CLIActor(), renewed); err != nil {
			t.Fatal(err)
		}

		a.wantClose(websocket.ClosePolicyViolation, "token expired")
		if late := time.Since(expires); late < 0 || late > time.Second {
			t.Fatalf("the expired token's connection closed %s after expiry", late)
		}
		time.Sleep(300 * time.Millisecond) // three sweeps past the old expiry
		seq := e.publish(dave.ID)[0].Seq
		if got := d.notifications(1); got[0] != seq {
			t.Fatalf("dave, whose token was renewed, got seq %d, want %d", got[0], seq)
		}
		if err := e.db.DeleteToken(ctx, storage.CLIActor(), bob.tokenID, 0); err != nil {
			t.Fatal(err)
		}
		b.wantClose(websocket.ClosePolicyViolation, "token revoked")
		if err := e.db.DeleteUser(ctx, storage.CLIActor(), carol.ID, 0); err != nil {
			t.Fatal(err)
		}
		c.wantClose(websocket.ClosePolicyViolation, "token revoked")
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		a, b := e.dial(alice, ""), e.dial(bob, "")
		a.hello(alice, 0)
		b.hello(bob, 0)
		// A client that reads nothing never answers the close: it is cut
		// once the shutdown's context ends.
		deaf, _, err := e.dialRaw(alice, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = deaf

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		e.hub.Shutdown(ctx)
		if took := time.Since(start); took > 900*time.Millisecond {
			t.Fatalf("Shutdown took %s with a context of 300ms", took)
		}
		a.wantClose(websocket.CloseGoingAway, "going away")
		b.wantClose(websocket.CloseGoingAway, "going away")
		if got := e.counter("tocsin_ws_connections"); got != 0 {
			t.Fatalf("%v connections after Shutdown, want 0", got)
		}

		// New connections are refused before the upgrade.
		_, resp, err := e.dialRaw(alice, "", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("dial after Shutdown: %v, %v; want 503", err, resp)
		}
		e.hub.Notify(e.commit("", alice.ID)) // nobody to tell
	})
}

// TestRunStops: when Run's context ends, it closes the connections left
// with 1001 and returns once they are gone.
func TestRunStops(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		// A hub of its own, run by the test.
		hub := push.NewHub(push.Options{Store: e.db, PingInterval: pingInterval})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, tok, err := e.db.Authenticate(r.Context(), strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			hub.Serve(w, r, push.Session{User: u, TokenID: tok.ID}, -1)
		}))
		defer srv.Close()
		alice := e.newUser("alice", auth.RoleResponder, nil)
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{"Authorization": {"Bearer " + alice.token}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- hub.Run(ctx) }()
		if f, err := readFrame(ws); err != nil || f.Type != "hello" {
			t.Fatalf("first message %s, %v; want hello", f.raw, err)
		}
		cancel()
		// The client reads on, answering the close.
		_, err = readFrame(ws)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("read after Run stopped: %v, want close 1001", err)
		}
		select {
		case err := <-ran:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
		if err := hub.Run(context.Background()); err == nil {
			t.Fatal("a second Run returned nil")
		}
	})
}

func TestConfigToAdminsOnly(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		root := e.newUser("root", auth.RoleAdmin, nil)
		alice := e.newUser("alice", auth.RoleResponder, nil)
		admin, admin2, responder := e.dial(root, ""), e.dial(root, ""), e.dial(alice, "")
		admin.hello(root, 0)
		admin2.hello(root, 0)
		responder.hello(alice, 0)

		e.hub.ConfigApplied(alerts.ConfigChange{Object: "route", ID: 5, Action: "update", Version: 3},
			alerts.NewSnapshot(12, alerts.Rules{}, time.Now()))
		want := `{"type":"config","seq":12,"change":"route.update","id":5}`
		for _, c := range []*client{admin, admin2} {
			if f := c.next(); string(f.raw) != want {
				t.Fatalf("admin got %s, want %s", f.raw, want)
			}
		}
		// The responder's next message is its next notification.
		seq := e.publish(alice.ID)[0].Seq
		if f := responder.next(); f.Type != "notification" || f.Seq != seq {
			t.Fatalf("the responder got %s, want notification %d", f.raw, seq)
		}
	})
}

// TestCommands: ack and resolve over WebSocket reach the sender's other
// devices and the other users routed, and the sender's own device; errors
// come back as REST would give them.
func TestCommands(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		e.actor.users = []int64{alice.ID, bob.ID}
		laptop, phone, desk := e.dial(alice, ""), e.dial(alice, ""), e.dial(bob, "")
		laptop.hello(alice, 0)
		phone.hello(alice, 0)
		desk.hello(bob, 0)
		alertID := e.publish(alice.ID, bob.ID)[0].Alert.ID
		for _, c := range []*client{laptop, phone, desk} {
			c.notifications(1)
		}

		for _, step := range []struct{ command, event, state string }{
			{"ack", "acknowledged", "acknowledged"},
			{"resolve", "resolved", "resolved"},
		} {
			laptop.send(`{"type":"` + step.command + `","alert_id":` + itoa(alertID) + `}`)
			for name, c := range map[string]*client{"the sender": laptop, "alice's phone": phone, "bob": desk} {
				f := c.next()
				if f.Type != "notification" || f.Event != step.event || f.Alert.ID != alertID || f.Alert.State != step.state {
					t.Fatalf("%s after %s: got %s, want notification %s of alert %d", name, step.command, f.raw, step.event, alertID)
				}
			}
		}

		// Acting again is a conflict that names the state.
		phone.send(`{"type":"ack","alert_id":` + itoa(alertID) + `}`)
		f := phone.next()
		if f.Type != "error" || f.Code != "conflict" || f.AlertID != alertID || f.Field != "state" || f.State != "resolved" ||
			!strings.Contains(f.Message, "resolved") {
			t.Fatalf("ack of a resolved alert: got %s, want error conflict naming state resolved", f.raw)
		}
		phone.send(`{"type":"resolve","alert_id":` + itoa(alertID+1000) + `}`)
		if f := phone.next(); f.Code != "not_found" || f.AlertID != alertID+1000 {
			t.Fatalf("resolve of a missing alert: got %s, want error not_found", f.raw)
		}
		laptop.quiet(100 * time.Millisecond)
	})
}

// TestCommandErrors: what the actor returns becomes the error code the
// client sees; internal errors say nothing of themselves.
func TestCommandErrors(t *testing.T) {
	t.Parallel()
	errs := map[string]error{
		"forbidden":   &alerts.Error{Kind: alerts.ErrForbidden, Message: "no"},
		"invalid":     alerts.Invalid("alert_id", "bad"),
		"unavailable": alerts.ErrAlertQueueStopped,
		"internal":    errors.New("disk on fire"),
	}
	testDB := func(t *testing.T) (*env, user) {
		e := newEnv(t, testdb.SQLite(t), envOptions{})
		return e, e.newUser("alice", auth.RoleResponder, nil)
	}
	for code, err := range errs {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			e, alice := testDB(t)
			e.actor.fail = err
			c := e.dial(alice, "")
			c.hello(alice, 0)
			c.send(`{"type":"ack","alert_id":7}`)
			f := c.next()
			if f.Code != code || f.AlertID != 7 || strings.Contains(f.Message, "disk") {
				t.Fatalf("got %s, want error %s for alert 7", f.raw, code)
			}
		})
	}
	t.Run("no actor", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testdb.SQLite(t), envOptions{push: func(o *push.Options) { o.Alerts = nil }})
		alice := e.newUser("alice", auth.RoleResponder, nil)
		c := e.dial(alice, "")
		c.hello(alice, 0)
		c.send(`{"type":"resolve","alert_id":7}`)
		if f := c.next(); f.Code != "unavailable" {
			t.Fatalf("got %s, want error unavailable", f.raw)
		}
	})
}

// TestSinceExpired: since older than the rows kept gets since_expired, with
// the oldest seq kept, then live from the head.
func TestSinceExpired(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		for range 5 {
			e.commit("", alice.ID)
		}
		if _, err := e.raw().Exec(`DELETE FROM inbox WHERE user_id = ? AND seq <= 3`, alice.ID); err != nil {
			t.Fatal(err)
		}
		head := int64(5)
		for _, since := range []int64{0, 1, 2} {
			c := e.dial(alice, "since="+itoa(since))
			c.hello(alice, head)
			if f := c.next(); f.Type != "error" || f.Code != "since_expired" || f.Seq != 4 {
				t.Fatalf("since=%d: got %s, want error since_expired with seq 4", since, f.raw)
			}
			head = e.publish(alice.ID)[0].Seq
			if got := c.notifications(1); got[0] != head {
				t.Fatalf("since=%d: after since_expired got seq %d, want the live %d", since, got[0], head)
			}
			c.ws.Close()
		}
		// since=3 needs nothing pruned.
		c := e.dial(alice, "since=3")
		c.hello(alice, 8)
		if got := c.notifications(5); got[0] != 4 || got[4] != 8 {
			t.Fatalf("since=3: replayed %v, want 4..8", got)
		}
	})
}

// TestHeldOverflow: when too many rows come while one is missing, the
// user's connections are closed with 1013, and resume from the store.
func TestHeldOverflow(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{push: func(o *push.Options) { o.SendQueue = 2 }}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		c := e.dial(alice, "")
		c.hello(alice, 0)
		var ns []alerts.Notification
		for range 10 {
			ns = append(ns, e.commit("", alice.ID)...)
		}
		e.hub.Notify(ns[1:]) // 9 held waiting for seq 1: more than 4 x 2
		c.wantClose(websocket.CloseTryAgainLater, "try again")
		again := e.dial(alice, "since=0")
		again.hello(alice, 10)
		if got := again.notifications(10); got[0] != 1 || got[9] != 10 {
			t.Fatalf("resumed with %v, want 1..10", got)
		}
		// The group starts afresh: live rows flow.
		seq := e.publish(alice.ID)[0].Seq
		if got := again.notifications(1); got[0] != seq {
			t.Fatalf("got seq %d, want %d", got[0], seq)
		}
	})
}

// TestUpgradeRefused: a request that is no WebSocket upgrade is answered
// 400 by the hub, and no connection is left behind.
func TestUpgradeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testdb.SQLite(t), envOptions{})
	alice := e.newUser("alice", auth.RoleResponder, nil)
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(e.url, "ws"), nil)
	req.Header.Set("Authorization", "Bearer "+alice.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET: status %d, want 400", resp.StatusCode)
	}
	if got := e.counter("tocsin_ws_connections"); got != 0 {
		t.Fatalf("%v connections, want 0", got)
	}
	http.DefaultClient.CloseIdleConnections()
}

// itoa formats an ID.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A panic behind a command ends that connection with 1011 (internal
// error), not the server: the reader runs outside any HTTP handler's
// recovery, and recovers on its own.
func TestReaderPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testdb.SQLite(t), envOptions{})
	alice := e.newUser("alice", auth.RoleResponder, nil)
	e.actor.panics = true
	c := e.dial(alice, "")
	c.hello(alice, 0)
	c.send(`{"type":"ack","alert_id":7}`)
	c.wantClose(websocket.CloseInternalServerErr, "internal error")
	testlog.WaitFor(t, e.log, regexp.MustCompile(`push: the reader panicked`), nil)

	e.actor.panics = false
	again := e.dial(alice, "")
	again.hello(alice, 0)
}
