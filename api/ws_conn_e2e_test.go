package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/push"
)

// End-to-end tests of a WebSocket connection's lifecycle: heartbeat,
// Origin, bad and oversized frames, revoked and expired tokens, shutdown,
// metrics and logs; the helpers are in ws_e2e_test.go and wsclient_test.go.

// A peer that answers no ping is closed once two ping intervals pass
// without a frame from it; one that answers stays open.
func TestWSHeartbeat(t *testing.T) {
	const interval = 100 * time.Millisecond
	forEachPush(t, func(o *push.Options) { o.PingInterval = interval }, nil, func(t *testing.T, e *env) {
		ana, tok := e.newUser("ana", "responder")
		e.routeByTo(ana)
		am := e.newBearerSource("am", "alertmanager")

		began := time.Now()
		conn, _, err := e.dialWS(wsDial{token: tok.Token})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		pings := 0
		conn.SetPingHandler(func(string) error { // no pong
			mu.Lock()
			pings++
			mu.Unlock()
			return nil
		})
		silent := newWSClient(t, "silent", conn)
		silent.start()
		answering := e.connectWS(t, "answering", wsDial{token: tok.Token})
		silent.nextOf("hello")
		err = silent.closeErr(wsWait)
		closedAfter := time.Since(began)
		if err == nil {
			t.Fatalf("a silent peer is still open after %s", wsWait)
		}
		mu.Lock()
		t.Logf("silent peer: %d pings, closed after %s with %v", pings, closedAfter, err)
		if pings == 0 {
			t.Errorf("the silent peer got no ping in %s", closedAfter)
		}
		mu.Unlock()
		if closedAfter < 2*interval-20*time.Millisecond {
			t.Errorf("the silent peer was closed after %s, before two ping intervals (%s)", closedAfter, 2*interval)
		}
		if closedAfter > 2*interval+wsWait/2 {
			t.Errorf("the silent peer was closed after %s, long after two ping intervals (%s)", closedAfter, 2*interval)
		}
		// The answering peer outlives several intervals and still gets rows.
		time.Sleep(time.Until(began.Add(5 * interval)))
		e.fire(am, map[string]string{"alertname": "A", "to": "ana"})
		if m := answering.nextOf("notification"); m.Seq != 1 {
			t.Errorf("answering peer: %s, want seq 1", m)
		}
	})
}

// A browser page of another origin is refused with 403 before the upgrade,
// unless push.allowed_origins lists it; a page of tocsin's own origin, and
// a client that sends no Origin, are let in.
func TestWSOrigin(t *testing.T) {
	forEachPush(t, nil, func(o *api.Options) { o.AllowedOrigins = []string{"https://console.example.com"} }, func(t *testing.T, e *env) {
		_, tok := e.newUser("ana", "responder")
		origin := func(o string) wsDial {
			return wsDial{token: tok.Token, header: http.Header{"Origin": {o}}}
		}
		for _, o := range []string{"https://evil.example.com", "null", "http://console.example.com", "https://console.example.com.evil.example"} {
			body := e.refusedWS(t, origin(o), http.StatusForbidden)
			var ae apiError
			if err := json.Unmarshal(body, &ae); err != nil || ae.Error.Code != "forbidden" {
				t.Errorf("origin %s: body %s, want the JSON error shape with code forbidden", o, body)
			}
		}
		e.connectWS(t, "allowed", origin("https://console.example.com"))
		e.connectWS(t, "own origin", origin(e.url))
		e.connectWS(t, "no origin", wsDial{token: tok.Token})
	})
}

// Bad frames get an error bad_frame each and leave the connection open;
// five in a row close it with 1008. A command that fails is no bad frame.
func TestWSBadFrames(t *testing.T) {
	forEachPush(t, func(o *push.Options) { o.MaxMessageBytes = 1024 }, nil, func(t *testing.T, e *env) {
		_, tok := e.newUser("ana", "responder")
		c := e.connectWS(t, "ana", wsDial{token: tok.Token})
		bad := []struct {
			name  string
			kind  int
			frame string
		}{
			{"not JSON", websocket.TextMessage, "ack 41"},
			{"a binary frame", websocket.BinaryMessage, `{"type":"ack","alert_id":41}`},
			{"unknown type", websocket.TextMessage, `{"type":"subscribe","user":1}`},
			{"unknown field", websocket.TextMessage, `{"type":"ack","alert_id":41,"user":1}`},
			{"missing alert_id", websocket.TextMessage, `{"type":"resolve"}`},
			{"no type", websocket.TextMessage, `{"alert_id":41}`},
			{"alert_id a string", websocket.TextMessage, `{"type":"ack","alert_id":"41"}`},
			{"two objects", websocket.TextMessage, `{"type":"ack","alert_id":41}{"type":"ack","alert_id":42}`},
			{"big but under the limit", websocket.TextMessage, `{"type":"ack","alert_id":41,"pad":"` + strings.Repeat("x", 900) + `"}`},
		}
		for i, b := range bad {
			c.sendFrame(b.kind, []byte(b.frame))
			if m := c.next(); m.Type != "error" || m.Code != "bad_frame" || m.Message == "" {
				t.Errorf("%s: got %s, want an error bad_frame with a message", b.name, m)
			}
			if i%4 == 3 {
				// A good command ends the run of bad frames.
				c.send(map[string]any{"type": "ack", "alert_id": 999999})
				if m := c.next(); m.Type != "error" || m.Code != "not_found" || m.AlertID != 999999 {
					t.Errorf("ack of a missing alert: %s, want error not_found with its alert_id", m)
				}
			}
		}
		c.send(map[string]any{"type": "resolve", "alert_id": 999999})
		if m := c.next(); m.Type != "error" || m.Code != "not_found" || m.AlertID != 999999 {
			t.Errorf("resolve of a missing alert: %s, want error not_found with its alert_id", m)
		}
		for i := range 4 {
			c.sendFrame(websocket.TextMessage, []byte("nonsense"))
			if m := c.next(); m.Type != "error" || m.Code != "bad_frame" {
				t.Errorf("bad frame %d in a row: got %s, want an error bad_frame", i+1, m)
			}
		}
		c.sendFrame(websocket.TextMessage, []byte("nonsense"))
		for _, m := range c.wantClosed(websocket.ClosePolicyViolation, "too many bad frames") {
			if m.Type != "error" || m.Code != "bad_frame" {
				t.Errorf("before the close got %s, want nothing but an error bad_frame", m)
			}
		}
	})
}

// A frame over push.max_message_bytes closes the connection with 1009.
func TestWSOversizedFrame(t *testing.T) {
	forEachPush(t, func(o *push.Options) { o.MaxMessageBytes = 1024 }, nil, func(t *testing.T, e *env) {
		_, tok := e.newUser("ana", "responder")
		c := e.connectWS(t, "ana", wsDial{token: tok.Token})
		c.sendFrame(websocket.TextMessage, []byte(`{"type":"ack","alert_id":1,"pad":"`+strings.Repeat("x", 2000)+`"}`))
		c.wantClosed(websocket.CloseMessageTooBig, "")
	})
}

// Revoking a token over REST closes its connections at once with 1008, and
// no other; deleting a user, or changing its role, closes all of its.
func TestWSTokenRevokedAndUserChanged(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, laptopTok := e.newUser("ana", "responder")
		bob, bobTok := e.newUser("bob", "responder")
		phoneTok := e.newToken(ana.ID, "phone", nil)
		e.routeByTo(ana)
		am := e.newBearerSource("am", "alertmanager")
		laptop := e.connectWS(t, "ana-laptop", wsDial{token: laptopTok.Token})
		laptop2 := e.connectWS(t, "ana-laptop-2", wsDial{query: "access_token=" + laptopTok.Token})
		phone := e.connectWS(t, "ana-phone", wsDial{token: phoneTok.Token})
		bobWS := e.connectWS(t, "bob", wsDial{token: bobTok.Token})

		// The default ping interval (25s) is far off: the REST call itself
		// must close them.
		revoked := time.Now()
		e.do("DELETE", "/api/v1/tokens/"+itoa(laptopTok.ID), laptopTok.Token, nil).decode(t, http.StatusNoContent, nil)
		laptop.wantClosed(websocket.ClosePolicyViolation, "token revoked")
		laptop2.wantClosed(websocket.ClosePolicyViolation, "token revoked")
		if d := time.Since(revoked); d > 2*time.Second {
			t.Errorf("connections closed %s after the revoke, want at once", d)
		}
		e.refusedWS(t, wsDial{token: laptopTok.Token}, http.StatusUnauthorized)
		e.marker(t, am, "M", "ana", phone)

		var read map[string]any
		e.do("GET", "/api/v1/users/"+itoa(ana.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["name"] = "ana2"
		e.do("PUT", "/api/v1/users/"+itoa(ana.ID), e.admin, read).decode(t, http.StatusOK, &read)
		if m, err := phone.nextErr(200 * time.Millisecond); err == nil || errors.Is(err, errClosed) {
			t.Errorf("a rename reached the phone as %s / %v, want nothing", m, err)
		}
		read["role"] = "admin"
		e.do("PUT", "/api/v1/users/"+itoa(ana.ID), e.admin, read).decode(t, http.StatusOK, nil)
		phone.wantClosed(websocket.ClosePolicyViolation, "user changed")

		e.do("DELETE", "/api/v1/users/"+itoa(bob.ID), e.admin, nil).decode(t, http.StatusNoContent, nil)
		bobWS.wantClosed(websocket.ClosePolicyViolation, "user changed")
	})
}

// A connection closes with 1008 when its token expires, and when its token
// disappears from the store behind the API's back (another node revoked
// it): the hub's sweep finds it within a ping interval or so.
func TestWSTokenExpiredAndSwept(t *testing.T) {
	const interval = 100 * time.Millisecond
	forEachPush(t, func(o *push.Options) { o.PingInterval = interval }, nil, func(t *testing.T, e *env) {
		ana, tok := e.newUser("ana", "responder")
		expires := time.Now().Add(700 * time.Millisecond)
		short := e.newToken(ana.ID, "short", &expires)
		gone := e.newToken(ana.ID, "gone", nil)
		expiring := e.connectWS(t, "expiring", wsDial{token: short.Token})
		swept := e.connectWS(t, "swept", wsDial{token: gone.Token})
		stays := e.connectWS(t, "stays", wsDial{token: tok.Token})

		deleted := time.Now()
		if _, err := e.raw().ExecContext(context.Background(), "DELETE FROM tokens WHERE id = ?", gone.ID); err != nil {
			t.Fatal(err)
		}
		swept.wantClosed(websocket.ClosePolicyViolation, "token revoked")
		if d := time.Since(deleted); d > 2*time.Second {
			t.Errorf("a token deleted in the store closed its connection after %s, want within about an interval (%s)", d, interval)
		}
		// The store's clock, which decides whether a token is live (its
		// expiry may have been moved), reaches the expiry too.
		time.Sleep(time.Until(expires))
		e.clock.Advance(expires.Add(time.Millisecond).Sub(e.clock.Now()))
		expiring.wantClosed(websocket.ClosePolicyViolation, "token expired")
		if early := time.Until(expires); early > 50*time.Millisecond {
			t.Errorf("closed for expiry %s before the token expired", early)
		}
		if m, err := stays.nextErr(interval); err == nil || errors.Is(err, errClosed) {
			t.Errorf("the connection of a live token: %s / %v, want it open and quiet", m, err)
		}
	})
}

// Shutdown closes every connection with 1001, promptly, and refuses new
// ones with 503.
func TestWSShutdown(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		_, anaTok := e.newUser("ana", "responder")
		_, bobTok := e.newUser("bob", "responder")
		clients := []*wsClient{
			e.connectWS(t, "ana-1", wsDial{token: anaTok.Token}),
			e.connectWS(t, "ana-2", wsDial{token: anaTok.Token}),
			e.connectWS(t, "bob", wsDial{token: bobTok.Token}),
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		began := time.Now()
		e.hub.Shutdown(ctx)
		if d := time.Since(began); d > 2*time.Second {
			t.Errorf("Shutdown took %s with three live clients", d)
		}
		for _, c := range clients {
			c.wantClosed(websocket.CloseGoingAway, "going away")
		}
		e.refusedWS(t, wsDial{token: anaTok.Token}, http.StatusServiceUnavailable)
	})
}

// metric returns the value of a metric of the hub's registry, summed over
// its series: a counter's or gauge's value, a histogram's sample count.
func (e *env) metric(name string) float64 {
	e.t.Helper()
	families, err := e.metrics.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// waitMetric polls the metric until ok accepts its value, failing the test
// after wsWait.
func (e *env) waitMetric(name string, ok func(float64) bool, want string) {
	e.t.Helper()
	deadline := time.Now().Add(wsWait)
	for {
		v := e.metric(name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s = %v after %s, want %s", name, v, wsWait, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equals(want float64) func(float64) bool  { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// The hub's metrics count connections, users online, messages, bytes,
// delivery lag and closes; its log has each connection's open and close
// with conn_id, user_id and remote.
func TestWSMetricsAndLog(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, anaTok := e.newUser("ana", "responder")
		_, bobTok := e.newUser("bob", "responder")
		e.routeByTo(ana)
		am := e.newBearerSource("am", "alertmanager")
		clients := []*wsClient{
			e.connectWS(t, "ana-1", wsDial{token: anaTok.Token}),
			e.connectWS(t, "ana-2", wsDial{token: anaTok.Token, query: "since=0"}),
			e.connectWS(t, "bob", wsDial{token: bobTok.Token}),
		}
		e.waitMetric("tocsin_ws_connections", equals(3), "3")
		e.waitMetric("tocsin_ws_users_online", equals(2), "2")

		e.fire(am, map[string]string{"alertname": "A", "to": "ana"})
		clients[0].nextOf("notification")
		clients[1].nextOf("notification")
		e.waitMetric("tocsin_ws_messages_sent_total", atLeast(5), "5 or more: 3 hellos, 2 notifications")
		e.waitMetric("tocsin_ws_delivery_lag_seconds", atLeast(2), "2 or more live notifications timed")
		if b := e.metric("tocsin_ws_bytes_sent_total"); b < 200 {
			t.Errorf("tocsin_ws_bytes_sent_total = %v, want the bytes of 5 messages", b)
		}
		e.waitMetric("tocsin_ws_send_queue_depth", equals(0), "0 once the clients have read all")

		for _, c := range clients {
			c.closeHandshake()
		}
		e.waitMetric("tocsin_ws_connections", equals(0), "0")
		e.waitMetric("tocsin_ws_users_online", equals(0), "0")
		e.waitMetric("tocsin_ws_closes_total", equals(3), "3")

		log := e.log.String()
		opened := regexp.MustCompile(`msg="push: connection opened".* conn_id=\d+ user_id=` + itoa(ana.ID) + ` remote=127\.0\.0\.1:\d+ since=0`)
		closed := regexp.MustCompile(`msg="push: connection closed".* conn_id=\d+ user_id=` + itoa(ana.ID) + ` remote=127\.0\.0\.1:\d+ code=1000`)
		for _, re := range []*regexp.Regexp{opened, closed} {
			if !re.MatchString(log) {
				t.Errorf("no log line matching %s in:\n%s", re, log)
			}
		}
	})
}
