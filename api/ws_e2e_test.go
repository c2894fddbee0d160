package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/push"
)

// End-to-end tests of live push (issue 5): real listeners, real stores on
// SQLite and MariaDB, the hub wired into the pipeline as the app wires it
// (startWith), and clients that speak the wire protocol of docs/protocol.md.

// forEachPush runs fn against an API server on each test database, with the
// hub's options set by p (nil keeps the defaults) and the API's by a. Once
// the server, the hub and the clients are closed, no goroutine may be left.
func forEachPush(t *testing.T, p func(*push.Options), a func(*api.Options), fn func(t *testing.T, e *env)) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		fn(t, startWith(t, target, startOptions{push: p, api: a}))
	})
}

// newUser creates a user of the role as the admin, and a token for it.
func (e *env) newUser(name, role string) (user, token) {
	e.t.Helper()
	var u user
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"name": name, "role": role}).decode(e.t, http.StatusCreated, &u)
	return u, e.newToken(u.ID, "laptop", nil)
}

// newToken creates a token for the user as the admin, expiring at expires
// (never when nil).
func (e *env) newToken(userID int64, name string, expires *time.Time) token {
	e.t.Helper()
	var tk token
	e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"user_id": userID, "name": name, "expires_at": expires}).
		decode(e.t, http.StatusCreated, &tk)
	return tk
}

// routeByTo routes the alerts whose label "to" holds the name to the user,
// and lets them go on to the next routes.
func (e *env) routeByTo(u user) {
	e.t.Helper()
	e.newRoute(map[string]any{"name": "to-" + u.Name, "matchers": []string{`to=~"(.* )?` + u.Name + `( .*)?"`},
		"users": []int64{u.ID}, "continue": true})
}

// fire posts one firing alert per label set to the source and waits for the
// 202: its rows are committed, and handed to the hub, when it returns.
func (e *env) fire(src source, labelSets ...map[string]string) {
	e.t.Helper()
	e.post("/hooks/"+src.Name, src, amPayload("firing", labelSets...)).decode(e.t, http.StatusAccepted, nil)
}

// wantRows fails the test unless ms are notifications of the inbox rows
// want, in their order: same seq, event and alert; and each frame a JSON
// object with "type" first.
func wantRows(t testing.TB, who string, ms []wsMessage, want []notification) {
	t.Helper()
	if len(ms) != len(want) {
		t.Fatalf("%s got %d notifications %v, want %d", who, len(ms), ms, len(want))
	}
	for i, m := range ms {
		w := want[i]
		if m.Type != "notification" || m.Seq != w.Seq || m.Event != w.Event || m.Alert == nil || m.Alert.ID != w.Alert.ID {
			t.Errorf("%s: message %d is %s, want seq %d %s of alert %d", who, i, m, w.Seq, w.Event, w.Alert.ID)
		}
		if !bytes.HasPrefix(m.raw, []byte(`{"type":`)) {
			t.Errorf("%s: message %d does not start with its type: %s", who, i, m)
		}
	}
}

// marker fires an alert routed to everyone in to and checks that it is the
// next message of each client: nothing else came before it.
func (e *env) marker(t testing.TB, src source, name, to string, clients ...*wsClient) {
	t.Helper()
	e.fire(src, map[string]string{"alertname": name, "to": to})
	for _, c := range clients {
		m := c.next()
		if m.Type != "notification" || m.Alert == nil || m.Alert.Labels["alertname"] != name {
			t.Errorf("%s: got %s, want the notification of %s: something came before it", c.name, m, name)
		}
	}
}

// Two users, three connections: each gets its own user's notifications and
// no one else's, whatever the query says; a connection is always its
// token's user's.
func TestWSOwnNotificationsOnly(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, anaTok := e.newUser("ana", "responder")
		bob, bobTok := e.newUser("bob", "responder")
		e.routeByTo(ana)
		e.routeByTo(bob)
		am := e.newBearerSource("am", "alertmanager")

		anaID, bobID := itoa(ana.ID), itoa(bob.ID)
		laptop := e.connectWS(t, "ana-laptop", wsDial{token: anaTok.Token})
		// The token in the query, and parameters naming another user.
		phone := e.connectWS(t, "ana-phone", wsDial{query: "access_token=" + anaTok.Token + "&user=" + bobID + "&user_id=" + bobID + "&group=" + bobID})
		bobWS := e.connectWS(t, "bob", wsDial{token: bobTok.Token, query: "user=" + anaID + "&user_id=" + anaID})
		for c, want := range map[*wsClient]int64{laptop: ana.ID, phone: ana.ID, bobWS: bob.ID} {
			if c.hello.User != want || c.hello.Seq != 0 {
				t.Errorf("%s: hello %s, want user %d seq 0", c.name, c.hello, want)
			}
		}
		// Both ways of giving a token at once are refused.
		e.refusedWS(t, wsDial{token: anaTok.Token, query: "access_token=" + bobTok.Token}, http.StatusBadRequest)

		for i, to := range []string{"ana", "bob", "ana bob", "nobody", "ana", "bob", "bob ana"} {
			e.fire(am, map[string]string{"alertname": fmt.Sprintf("A%d", i), "to": to})
		}
		anaRows, bobRows := e.inbox(anaTok.Token), e.inbox(bobTok.Token)
		if len(anaRows) != 4 || len(bobRows) != 4 {
			t.Fatalf("inboxes have %d and %d rows, want 4 and 4", len(anaRows), len(bobRows))
		}
		wantRows(t, laptop.name, laptop.notifications(4), anaRows)
		wantRows(t, phone.name, phone.notifications(4), anaRows)
		wantRows(t, bobWS.name, bobWS.notifications(4), bobRows)
		e.marker(t, am, "M1", "ana bob", laptop, phone, bobWS)

		// A replay is of the token's user's rows, whoever the query names.
		replay := e.connectWS(t, "bob-replay", wsDial{query: "since=0&access_token=" + bobTok.Token + "&user=" + anaID})
		if replay.hello.User != bob.ID || replay.hello.Seq != 5 {
			t.Errorf("replay hello %s, want user %d seq 5", replay.hello, bob.ID)
		}
		wantRows(t, replay.name, replay.notifications(5), e.inbox(bobTok.Token))
		e.marker(t, am, "M2", "ana bob", laptop, phone, bobWS, replay)
	})
}

// The resume rules at their edges: since at the head, past it, absent,
// from the start, just inside and just outside what the store keeps.
func TestWSResumeEdges(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, tok := e.newUser("ana", "responder")
		e.routeByTo(ana)
		am := e.newBearerSource("am", "alertmanager")
		for i := range 5 {
			e.fire(am, map[string]string{"alertname": fmt.Sprintf("A%d", i), "to": "ana"})
		}
		dial := func(query string) wsDial { return wsDial{token: tok.Token, query: query} }
		// live fires one alert and checks that c gets it, with seq, next.
		live := func(c *wsClient, seq int64) {
			t.Helper()
			e.fire(am, map[string]string{"alertname": fmt.Sprintf("L%d", seq), "to": "ana"})
			if m := c.nextOf("notification"); m.Seq != seq {
				t.Fatalf("%s: live notification %s, want seq %d", c.name, m, seq)
			}
		}

		atHead := e.connectWS(t, "since=5", dial("since=5"))
		if atHead.hello.Seq != 5 {
			t.Errorf("hello %s, want seq 5", atHead.hello)
		}
		live(atHead, 6)
		past := e.connectWS(t, "since=100", dial("since=100"))
		if past.hello.Seq != 6 {
			t.Errorf("hello %s, want seq 6", past.hello)
		}
		none := e.connectWS(t, "no since", dial(""))
		live(past, 7)
		if m := none.nextOf("notification"); m.Seq != 7 {
			t.Errorf("without since: %s, want seq 7 live", m)
		}
		all := e.connectWS(t, "since=0", dial("since=0"))
		wantRows(t, all.name, all.notifications(7), e.inbox(tok.Token))
		live(all, 8)
		for _, q := range []string{"since=-1", "since=x", "since=1&since=2"} {
			body := e.refusedWS(t, dial(q), http.StatusBadRequest)
			if !strings.Contains(string(body), `"since"`) {
				t.Errorf("%s: body %s, want an error on since", q, body)
			}
		}

		// The store keeps seqs 4 and up: since=3 loses nothing; since=2
		// would, and says so, then goes on live.
		if _, err := e.raw().ExecContext(context.Background(), "DELETE FROM inbox WHERE user_id = ? AND seq <= 3", ana.ID); err != nil {
			t.Fatal(err)
		}
		kept := e.inbox(tok.Token)
		inside := e.connectWS(t, "since=3", dial("since=3"))
		wantRows(t, inside.name, inside.notifications(len(kept)), kept)
		outside := e.connectWS(t, "since=2", dial("since=2"))
		if m := outside.next(); m.Type != "error" || m.Code != "since_expired" || m.Seq != 4 {
			t.Errorf("since=2: %s, want error since_expired with seq 4", m)
		}
		live(outside, 9)
		if m := inside.nextOf("notification"); m.Seq != 9 {
			t.Errorf("since=3: %s, want seq 9 live", m)
		}
	})
}

// ack and resolve over WebSocket act as the sender, with the REST rules;
// the resulting rows reach every device of every routed user, the sender's
// own too, and refusals come back as errors naming the alert.
func TestWSAckResolve(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, anaTok := e.newUser("ana", "responder")
		bob, bobTok := e.newUser("bob", "responder")
		carlUser, carlTok := e.newUser("carl", "responder")
		phoneTok := e.newToken(ana.ID, "phone", nil)
		e.routeByTo(ana)
		e.routeByTo(bob)
		e.routeByTo(carlUser)
		am := e.newBearerSource("am", "alertmanager")
		laptop := e.connectWS(t, "ana-laptop", wsDial{token: anaTok.Token})
		phone := e.connectWS(t, "ana-phone", wsDial{token: phoneTok.Token})
		bobWS := e.connectWS(t, "bob", wsDial{token: bobTok.Token})
		carl := e.connectWS(t, "carl", wsDial{token: carlTok.Token}) // routed none of Disk and Net

		e.fire(am, map[string]string{"alertname": "Disk", "to": "ana bob"})
		routed := []*wsClient{laptop, phone, bobWS}
		var id int64
		for _, c := range routed {
			m := c.nextOf("notification")
			if m.Event != "fired" || m.Alert.Labels["alertname"] != "Disk" {
				t.Fatalf("%s: %s, want Disk fired", c.name, m)
			}
			id = m.Alert.ID
		}
		// wantEvent checks that each client's next message tells of the
		// event, by who.
		wantEvent := func(event, state, by string, clients ...*wsClient) {
			t.Helper()
			for _, c := range clients {
				m := c.nextOf("notification")
				actor := m.Alert.AckedBy
				if event == "resolved" {
					actor = m.Alert.ResolvedBy
				}
				if m.Event != event || m.Alert.ID != id || m.Alert.State != state || actor != by {
					t.Errorf("%s: %s, want alert %d %s by %s", c.name, m, id, event, by)
				}
			}
		}
		// wantRefused checks the client's next message is the error.
		wantRefused := func(c *wsClient, code, state string, alertID int64) {
			t.Helper()
			m := c.next()
			if m.Type != "error" || m.Code != code || m.AlertID != alertID || m.State != state || m.Message == "" {
				t.Errorf("%s: %s, want error %s with alert_id %d and state %q", c.name, m, code, alertID, state)
			}
		}

		laptop.send(map[string]any{"type": "ack", "alert_id": id})
		wantEvent("acknowledged", "acknowledged", "ana", routed...)
		phone.send(map[string]any{"type": "ack", "alert_id": id})
		wantRefused(phone, "conflict", "acknowledged", id)
		bobWS.send(map[string]any{"type": "resolve", "alert_id": id})
		wantEvent("resolved", "resolved", "bob", routed...)
		bobWS.send(map[string]any{"type": "resolve", "alert_id": id})
		wantRefused(bobWS, "conflict", "resolved", id)
		laptop.send(map[string]any{"type": "ack", "alert_id": id})
		wantRefused(laptop, "conflict", "resolved", id)
		carl.send(map[string]any{"type": "ack", "alert_id": 999999})
		wantRefused(carl, "not_found", "", 999999)

		// Someone routed nothing acts too, as over REST; the rows reach the
		// routed users, and not the sender.
		e.fire(am, map[string]string{"alertname": "Net", "to": "ana"})
		id = laptop.nextOf("notification").Alert.ID
		phone.nextOf("notification")
		carl.send(map[string]any{"type": "ack", "alert_id": id})
		wantEvent("acknowledged", "acknowledged", "carl", laptop, phone)
		e.marker(t, am, "M", "ana bob carl", laptop, phone, bobWS, carl)

		// What the devices saw is what the inboxes hold.
		for _, c := range []struct {
			tok    string
			client *wsClient
		}{{anaTok.Token, laptop}, {bobTok.Token, bobWS}} {
			rows := e.inbox(c.tok)
			replay := e.connectWS(t, c.client.name+"-replay", wsDial{token: c.tok, query: "since=0"})
			wantRows(t, replay.name, replay.notifications(len(rows)), rows)
		}
	})
}

// Config changes reach connected admins as config messages, and no
// responder.
func TestWSConfigToAdminsOnly(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		rita, ritaTok := e.newUser("rita", "responder")
		e.routeByTo(rita)
		am := e.newBearerSource("am", "alertmanager")
		admin := e.connectWS(t, "admin", wsDial{token: e.admin})
		responder := e.connectWS(t, "rita", wsDial{token: ritaTok.Token})

		r := e.newRoute(map[string]any{"name": "db", "matchers": []string{`team="db"`}, "users": []int64{rita.ID}})
		version := e.test(map[string]string{"team": "db"}).SnapshotVersion
		m := admin.nextOf("config")
		if m.Change != "route.create" || m.ID != r.ID || m.Seq != int64(version) {
			t.Errorf("admin got %s, want config route.create of route %d at snapshot %d", m, r.ID, version)
		}
		if !bytes.HasPrefix(m.raw, []byte(`{"type":"config"`)) {
			t.Errorf("config message %s does not start with its type", m)
		}
		e.do("DELETE", "/api/v1/routes/"+itoa(r.ID), e.admin, nil).decode(t, http.StatusNoContent, nil)
		if m := admin.nextOf("config"); m.Change != "route.delete" || m.ID != r.ID {
			t.Errorf("admin got %s, want config route.delete of route %d", m, r.ID)
		}
		e.marker(t, am, "M", "rita", responder)
	})
}

// fixedRouter routes every alert to its users.
type fixedRouter []int64

func (r fixedRouter) Resolve(alerts.Labels) ([]int64, bool) { return r, false }

// A row committed without a Notify (by another node, or by a commit whose
// answer was lost) leaves a gap that the next live row reveals: the hub
// holds the later row, reads the missing one from the store, and delivers
// both in order, promptly.
func TestWSGapFilledFromStore(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, tok := e.newUser("ana", "responder")
		e.routeByTo(ana)
		am := e.newBearerSource("am", "alertmanager")
		c := e.connectWS(t, "ana", wsDial{token: tok.Token})
		e.fire(am, map[string]string{"alertname": "A1", "to": "ana"})
		if m := c.nextOf("notification"); m.Seq != 1 {
			t.Fatalf("got %s, want seq 1", m)
		}

		labels := alerts.Labels{"alertname": "Elsewhere", "to": "ana"}
		ev := alerts.Event{Fingerprint: labels.Fingerprint(), Labels: labels, Status: alerts.StatusFiring, Source: "am"}
		if _, err := e.store.CommitEvents(context.Background(), []alerts.Event{ev}, fixedRouter{ana.ID}); err != nil {
			t.Fatal(err)
		}
		fired := time.Now()
		e.fire(am, map[string]string{"alertname": "A3", "to": "ana"})
		ms := c.notifications(2)
		if ms[0].Seq != 2 || ms[0].Alert.Labels["alertname"] != "Elsewhere" || ms[1].Seq != 3 || ms[1].Alert.Labels["alertname"] != "A3" {
			t.Errorf("after a row committed without a Notify got %v, want seq 2 Elsewhere then seq 3 A3", ms)
		}
		if d := time.Since(fired); d > 2*time.Second {
			t.Errorf("the gap was filled %s after the next row, want within about a second", d)
		}
		e.marker(t, am, "M", "ana", c)
	})
}
