package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// The e2e mode's clients: WebSocket connections, each read by one
// goroutine that records every notification, and the check that each
// connection received what it should have.

// delivery is one notification as a connection received it.
type delivery struct {
	seq   int64 // its inbox seq
	fired bool  // its event is "fired"
	alert int64 // the alert's bench_seq label; -1 when it has none
}

// wsConn is one client connection. Its reader goroutine alone touches
// records, lat, others, lastRecv and err until it returns; the atomics and
// seen are read meanwhile by the progress line and the drain.
type wsConn struct {
	user, index int // the user (its bench_user) and the connection's number among the user's
	users       int // how many users the run has: alert n is user n % users's
	ws          *websocket.Conn
	hello       int64 // the hello's seq: notifications start after it
	seen        alertSet

	records  []delivery
	lat      latencies // of fired notifications carrying their send time
	others   int       // notifications of other events than "fired"
	lastRecv time.Time // when the last notification arrived
	err      error     // why reading ended before the run closed the connection

	fired  atomic.Int64 // fired notifications so far
	maxLag atomic.Int64 // the longest latency, in ns, since the progress line took it
	ended  atomic.Bool  // the reader has returned
}

// frame holds the members of a server frame that the clients use; the
// others are skipped unread, so that decoding stays cheap.
type frame struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq"`
	Event   string `json:"event"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Alert   struct {
		Labels struct {
			Seq string `json:"bench_seq"`
		} `json:"labels"`
		Annotations struct {
			Sent string `json:"bench_sent_unix_nano"`
		} `json:"annotations"`
	} `json:"alert"`
}

// fleet is every connection of a run, and the reader goroutines it owns.
type fleet struct {
	conns    []*wsConn
	wg       sync.WaitGroup
	stopping atomic.Bool // set before the run closes the connections
	once     sync.Once
}

// dialFleet opens per connections for each user to the WebSocket of the
// tocsin at base, reads each hello, and starts a reader on each. alerts
// is how many the run sends, over all users. On an error it closes what
// it opened.
func dialFleet(ctx context.Context, base string, users []e2eUser, per int, alerts int64) (*fleet, error) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
	dialer := &websocket.Dialer{NetDialContext: loopbackDialer(5 * time.Second).DialContext, HandshakeTimeout: 10 * time.Second}
	perUser := alerts/int64(len(users)) + 1
	fl := &fleet{conns: make([]*wsConn, len(users)*per)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range fl.conns {
		g.Go(func() error {
			c := &wsConn{user: i / per, index: i % per, users: len(users)}
			if err := c.dial(gctx, dialer, url, users[c.user].token); err != nil {
				return fmt.Errorf("connect user %d conn %d: %w", c.user, c.index, err)
			}
			c.records = make([]delivery, 0, perUser+16)
			c.seen = newAlertSet(perUser)
			fl.conns[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for _, c := range fl.conns {
			if c != nil {
				c.ws.Close()
			}
		}
		return nil, err
	}
	for _, c := range fl.conns {
		fl.wg.Go(func() { c.read(&fl.stopping) })
	}
	return fl, nil
}

// dial opens the connection with token and reads its hello.
func (c *wsConn) dial(ctx context.Context, dialer *websocket.Dialer, url, token string) error {
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	var f frame
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err == nil && f.Type != "hello" {
		err = fmt.Errorf("the first frame is a %q, not a hello", f.Type)
	}
	if err != nil {
		ws.Close()
		return fmt.Errorf("read hello: %w", err)
	}
	ws.SetReadDeadline(time.Time{})
	c.ws, c.hello = ws, f.Seq
	return nil
}

// read records every frame until the connection ends; gorilla answers the
// server's pings meanwhile. An end the run did not ask for (stopping not
// set), an undecodable frame or an error frame is kept in c.err.
func (c *wsConn) read(stopping *atomic.Bool) {
	defer c.ended.Store(true)
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		now := time.Now()
		if err != nil {
			if !stopping.Load() {
				c.err = fmt.Errorf("connection lost after %d notifications: %w", len(c.records), err)
			}
			return
		}
		var f frame
		if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
			c.err = fmt.Errorf("undecodable frame after %d notifications: %w", len(c.records), err)
			return
		}
		switch f.Type {
		case "notification":
			c.record(&f, now)
		case "error":
			c.err = fmt.Errorf("error frame after %d notifications: %s: %s", len(c.records), f.Code, f.Message)
			return
		}
	}
}

// record keeps a notification received at now and, for a fired one with
// its send time, the latency.
func (c *wsConn) record(f *frame, now time.Time) {
	c.lastRecv = now
	if f.Event != "fired" {
		c.records = append(c.records, delivery{seq: f.Seq, alert: -1})
		c.others++
		return
	}
	alert, err := strconv.ParseInt(f.Alert.Labels.Seq, 10, 64)
	if err != nil {
		alert = -1
	}
	c.records = append(c.records, delivery{seq: f.Seq, fired: true, alert: alert})
	if alert >= 0 && alert%int64(c.users) == int64(c.user) {
		c.seen.add(alert / int64(c.users))
	}
	if sent, err := strconv.ParseInt(f.Alert.Annotations.Sent, 10, 64); err == nil {
		lag := now.UnixNano() - sent
		c.lat = append(c.lat, time.Duration(lag))
		for old := c.maxLag.Load(); lag > old && !c.maxLag.CompareAndSwap(old, lag); old = c.maxLag.Load() {
		}
	}
	c.fired.Add(1)
}

// firstAlerts returns, by connection, the first alert of its user: where
// received starts looking.
func (fl *fleet) firstAlerts() []int64 {
	next := make([]int64, len(fl.conns))
	for i, c := range fl.conns {
		next[i] = int64(c.user)
	}
	return next
}

// received reports whether every connection has received each of its
// user's alerts that sent says were accepted, or has ended. next[i] is
// where the search of connection i stands: its user's alerts before it
// were received or not accepted. Each call goes on from there, and moves
// it on.
func (fl *fleet) received(sent sentAlerts, next []int64) bool {
	total, users := sent.total(), int64(sent.users)
	done := true
	for i, c := range fl.conns {
		if c.ended.Load() {
			continue
		}
		n := next[i]
		for n < total && (sent.outcome(n) != accepted || c.seen.has(n/users)) {
			n += users
		}
		next[i] = n
		done = done && n >= total
	}
	return done
}

// alertSet is a set of one user's alerts, each by its number among the
// user's (alert / users), that one goroutine adds to while another reads.
type alertSet []atomic.Uint64

// newAlertSet returns an empty set for numbers below n.
func newAlertSet(n int64) alertSet { return make(alertSet, (n+63)/64) }

// add puts i in the set; a number out of its range is left out.
func (s alertSet) add(i int64) {
	if i >= 0 && i/64 < int64(len(s)) {
		s[i/64].Or(1 << (i % 64))
	}
}

// has reports whether i is in the set.
func (s alertSet) has(i int64) bool {
	return i >= 0 && i/64 < int64(len(s)) && s[i/64].Load()&(1<<(i%64)) != 0
}

// stop closes every connection and waits for the readers; it may be
// called more than once.
func (fl *fleet) stop() {
	fl.once.Do(func() {
		fl.stopping.Store(true)
		closing := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		for _, c := range fl.conns {
			c.ws.WriteControl(websocket.CloseMessage, closing, time.Now().Add(time.Second))
			c.ws.Close()
		}
		fl.wg.Wait()
	})
}

// connLog is what one connection received, for checkDeliveries.
type connLog struct {
	user, index int
	hello       int64
	records     []delivery
}

// maxShown is how many findings a run prints; the rest are counted.
const maxShown = 20

// findings are the problems a check found: every one is counted, and the
// first maxShown kept.
type findings struct {
	total int
	shown []string
}

// add records a problem.
func (f *findings) add(format string, args ...any) {
	f.total++
	if len(f.shown) < maxShown {
		f.shown = append(f.shown, fmt.Sprintf(format, args...))
	}
}

// checkDeliveries checks each connection's log against what was sent:
// seqs strictly increasing by one from the hello's; every accepted alert of
// the connection's user received once, as a fired notification; no fired
// notification of an alert that is not the user's, or that the webhook
// refused or never sent. Alerts whose request got no clear answer may be
// received or not. Notifications of other events count in the seq order
// only.
func checkDeliveries(logs []connLog, sent sentAlerts) findings {
	var f findings
	total := sent.total()
	users := int64(sent.users)
	for _, l := range logs {
		who := fmt.Sprintf("user %d conn %d", l.user, l.index)
		seen := make([]bool, total/users+1) // by alert / users
		next := l.hello + 1
		for _, d := range l.records {
			switch {
			case d.seq < next:
				f.add("%s: seq %d again or out of order, after seq %d", who, d.seq, next-1)
			case d.seq > next:
				f.add("%s: seq %d after seq %d: seq %d to %d missing or late", who, d.seq, next-1, next, d.seq-1)
			}
			next = max(next, d.seq+1)
			if !d.fired {
				continue
			}
			switch {
			case d.alert < 0 || d.alert >= total || d.alert%users != int64(l.user):
				f.add("%s: seq %d: alert %d is not one sent to this user", who, d.seq, d.alert)
			case seen[d.alert/users]:
				f.add("%s: seq %d: alert %d received again", who, d.seq, d.alert)
			default:
				seen[d.alert/users] = true
				if o := sent.outcome(d.alert); o != accepted && o != uncertain {
					f.add("%s: seq %d: alert %d received, but the webhook did not take it", who, d.seq, d.alert)
				}
			}
		}
		missing, first := 0, int64(-1)
		for n := int64(l.user); n < total; n += users {
			if sent.outcome(n) == accepted && !seen[n/users] {
				if missing == 0 {
					first = n
				}
				missing++
			}
		}
		if missing > 0 {
			f.add("%s: %d accepted alerts never received (the first: alert %d)", who, missing, first)
		}
	}
	return f
}
