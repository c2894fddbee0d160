package push_test

// The push tests run a real hub behind a real listener on 127.0.0.1, over a
// real store on every database testdb offers, and talk to it with gorilla
// clients. Inbox rows are committed with storage.CommitEvents and handed to
// the hub with Notify, as the alert queue does, so that a test chooses the
// order and the moment of each Notify.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/push"
	"github.com/tocsinhq/tocsin/storage"
)

// The hub is what the alert queue notifies and the config queue tells.
var (
	_ alerts.Notifier         = (*push.Hub)(nil)
	_ alerts.ConfigSubscriber = (*push.Hub)(nil)
	_ push.Store              = (*storage.DB)(nil)
	_ push.Actor              = (*alerts.AlertQueue)(nil)
)

// Intervals the tests run with: short, so that heartbeats and sweeps
// happen within a test.
const (
	pingInterval = 250 * time.Millisecond
	writeTimeout = 2 * time.Second
	// readWait bounds each read of a test client.
	readWait = 10 * time.Second
)

// env is a hub serving WebSockets on a real listener, over a migrated store.
type env struct {
	t       *testing.T
	target  testdb.Target
	db      *storage.DB
	hub     *push.Hub
	url     string // ws://127.0.0.1:port/ws
	log     *testlog.Buffer
	metrics *prometheus.Registry
	// actor is the hub's Actor; set its users to route actions.
	actor *actor
	// alerts counts the alerts the env made, to name them.
	alerts atomic.Int64
	// shrink, with envOptions.smallBuffers, shrinks the send buffers of
	// the connections accepted while it is set.
	shrink atomic.Bool
}

// envOptions change how an env runs.
type envOptions struct {
	// push sets the hub's options after the defaults.
	push func(*push.Options)
	// smallBuffers makes the server shrink the socket send buffers of the
	// connections it accepts while env.shrink is set, so that a client
	// that stops reading blocks the server's writes soon.
	smallBuffers bool
}

// forEachEnv runs fn, as a parallel subtest per database, on an env of its
// own.
func forEachEnv(t *testing.T, o envOptions, fn func(t *testing.T, e *env)) {
	t.Helper()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		fn(t, newEnv(t, target, o))
	})
}

// newEnv starts a hub, its Run and a server for it, and stops them when the
// test ends: the hub shuts down first, closing its connections, then Run
// stops and the store closes.
func newEnv(t *testing.T, target testdb.Target, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: target.Driver, DSN: target.DSN, MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatal(err)
	}
	e := &env{t: t, target: target, db: db, log: &testlog.Buffer{}, metrics: prometheus.NewRegistry()}
	e.actor = &actor{db: db, notify: func(ns []alerts.Notification) { e.hub.Notify(ns) }}
	opts := push.Options{
		Store:        db,
		Alerts:       e.actor,
		PingInterval: pingInterval,
		WriteTimeout: writeTimeout,
		Logger:       slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      e.metrics,
	}
	if o.push != nil {
		o.push(&opts)
	}
	e.hub = push.NewHub(opts)
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.hub.Run(runCtx) }()

	srv := httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	if o.smallBuffers {
		srv.Listener = smallBufferListener{srv.Listener, &e.shrink}
	}
	srv.Start()
	e.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		e.hub.Shutdown(shutdownCtx)
		cancel()
		srv.Close()
		stopRun()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		db.Close()
		if t.Failed() {
			t.Logf("hub log:\n%s", e.log)
		}
	})
	return e
}

// serve is the test server's handler: it authenticates the bearer token and
// hands the connection to the hub, with ?since= when given.
func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u, tok, err := e.db.Authenticate(r.Context(), token)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	since := int64(-1)
	if s := r.URL.Query().Get("since"); s != "" {
		if since, err = strconv.ParseInt(s, 10, 64); err != nil {
			http.Error(w, "bad since", http.StatusBadRequest)
			return
		}
	}
	e.hub.Serve(w, r, push.Session{User: u, TokenID: tok.ID, ExpiresAt: tok.ExpiresAt}, since)
}

// smallBufferListener gives the connections it accepts while shrink is set
// a small send buffer.
type smallBufferListener struct {
	net.Listener
	shrink *atomic.Bool
}

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && l.shrink.Load() {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// actor is the hub's Actor: it acts through the store, with every alert
// routed to users, and notifies the hub as the alert queue does.
type actor struct {
	db     *storage.DB
	users  []int64
	notify func([]alerts.Notification)
	// fail, when set, is what Act returns.
	fail error
	// panics, when set, makes Act panic: a bug behind a command.
	panics bool
}

func (a *actor) Act(ctx context.Context, act alerts.Action) (alerts.Alert, error) {
	if a.panics {
		panic("a bug behind the command")
	}
	if a.fail != nil {
		return alerts.Alert{}, a.fail
	}
	changed, ns, err := a.db.ActOnAlert(ctx, act, router(a.users))
	if err != nil {
		return alerts.Alert{}, err
	}
	a.notify(ns)
	return changed, nil
}

// router routes every alert to its users.
type router []int64

func (r router) Resolve(alerts.Labels) ([]int64, bool) { return slices.Clone(r), false }

// user is a user of the store with a token.
type user struct {
	auth.User
	token   string
	tokenID int64
}

// newUser creates a user with a token that expires at expires (nil: never).
func (e *env) newUser(name string, role auth.Role, expires *time.Time) user {
	e.t.Helper()
	u, err := e.db.CreateUser(context.Background(), storage.CLIActor(), auth.User{Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return user{User: u}.withToken(e, expires)
}

// withToken returns u with a new token.
func (u user) withToken(e *env, expires *time.Time) user {
	e.t.Helper()
	plain, hash, err := auth.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.db.CreateToken(context.Background(), storage.CLIActor(), auth.Token{UserID: u.ID, Name: "t", Hash: hash, ExpiresAt: expires})
	if err != nil {
		e.t.Fatal(err)
	}
	u.token, u.tokenID = plain, tok.ID
	return u
}

// commit commits a new alert firing, routed to users, and returns its inbox
// rows, without telling the hub. annotation, when not empty, is its summary.
func (e *env) commit(annotation string, users ...int64) []alerts.Notification {
	e.t.Helper()
	ls := alerts.Labels{"alertname": fmt.Sprintf("alert-%d", e.alerts.Add(1))}
	if annotation == "" {
		annotation = ls["alertname"] + " fires"
	}
	ev := alerts.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Annotations: map[string]string{"summary": annotation},
		Status: alerts.StatusFiring, Source: "test"}
	c, err := e.db.CommitEvents(context.Background(), []alerts.Event{ev}, router(users))
	if err != nil {
		e.t.Errorf("CommitEvents: %v", err)
		return nil
	}
	return c.Notifications
}

// publish commits a new alert routed to users and notifies the hub.
func (e *env) publish(users ...int64) []alerts.Notification {
	e.t.Helper()
	ns := e.commit("", users...)
	e.hub.Notify(ns)
	return ns
}

// raw opens the env's database directly, to change what the store would not.
func (e *env) raw() *sql.DB {
	e.t.Helper()
	dsn := e.target.DSN
	if e.target.Driver == storage.DriverSQLite {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(e.target.Driver, dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// counter returns the value of a counter or gauge of the hub, with labels
// given as name, value pairs.
func (e *env) counter(name string, labels ...string) float64 {
	e.t.Helper()
	families, err := e.metrics.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			matches := true
			for i := 0; i+1 < len(labels); i += 2 {
				matches = matches && have[labels[i]] == labels[i+1]
			}
			if !matches {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	e.t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a test's WebSocket client. A goroutine of its own reads the
// connection all the time, as a real client does, so that it answers pings
// while the test does something else; the test takes what it read with next.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	// frames carries what the reader read; the reader closes it after
	// the read that failed, whose error is then err.
	frames chan frame
	err    error
	done   chan struct{}
}

// frame is any message the server sends, decoded; raw is its bytes.
type frame struct {
	Type  string `json:"type"`
	User  int64  `json:"user"`
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
	Alert *struct {
		ID     int64             `json:"id"`
		State  string            `json:"state"`
		Labels map[string]string `json:"labels"`
	} `json:"alert"`
	At      time.Time `json:"at"`
	Change  string    `json:"change"`
	ID      int64     `json:"id"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	AlertID int64     `json:"alert_id"`
	State   string    `json:"state"`
	Field   string    `json:"field"`
	raw     []byte
}

// dial opens a WebSocket as u, with its reader; query, when not empty, is
// the URL's query. The connection is closed when the test ends.
func (e *env) dial(u user, query string) *client {
	e.t.Helper()
	ws, resp, err := e.dialRaw(u, query, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial as %s (%s): %v (status %d)", u.Name, query, err, status)
	}
	c := &client{t: e.t, ws: ws, frames: make(chan frame, 10000), done: make(chan struct{})}
	go c.readAll()
	e.t.Cleanup(func() {
		ws.Close()
		<-c.done
	})
	return c
}

// dialRaw opens a WebSocket as u with dialer (nil: the default one), with
// no reader: the test reads it, or does not. It is closed when the test
// ends.
func (e *env) dialRaw(u user, query string, dialer *websocket.Dialer) (*websocket.Conn, *http.Response, error) {
	e.t.Helper()
	if dialer == nil {
		dialer = &websocket.Dialer{HandshakeTimeout: readWait}
	}
	url := e.url
	if query != "" {
		url += "?" + query
	}
	ws, resp, err := dialer.Dial(url, http.Header{"Authorization": {"Bearer " + u.token}})
	if err != nil {
		return nil, resp, err
	}
	e.t.Cleanup(func() { ws.Close() })
	return ws, resp, nil
}

// readAll is the client's reader: it reads until the connection fails.
func (c *client) readAll() {
	defer close(c.done)
	defer close(c.frames)
	for {
		f, err := readFrame(c.ws)
		if err != nil {
			c.err = err
			return
		}
		c.frames <- f
	}
}

// readFrame reads and decodes the next message of ws.
func readFrame(ws *websocket.Conn) (frame, error) {
	typ, data, err := ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if typ != websocket.TextMessage {
		return frame{}, fmt.Errorf("a frame of type %d", typ)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		return frame{}, fmt.Errorf("bad JSON %q: %w", data, err)
	}
	f.raw = data
	return f, nil
}

// read returns the next message, or the error that ended the connection.
func (c *client) read() (frame, error) {
	select {
	case f, ok := <-c.frames:
		if !ok {
			return frame{}, c.err
		}
		return f, nil
	case <-time.After(readWait):
		return frame{}, fmt.Errorf("no message within %s", readWait)
	}
}

// next returns the next message, failing the test if none comes.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// quiet checks that no message comes for a while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("got %s, want nothing", f.raw)
		}
		c.t.Fatalf("the connection ended (%v), want it open", c.err)
	case <-time.After(d):
	}
}

// hello reads the hello message, and checks it is for u at seq.
func (c *client) hello(u user, seq int64) {
	c.t.Helper()
	f := c.next()
	if f.Type != "hello" || f.User != u.ID || f.Seq != seq {
		c.t.Fatalf("first message %s, want hello for user %d at seq %d", f.raw, u.ID, seq)
	}
	if !strings.HasPrefix(string(f.raw), `{"type":"hello",`) {
		c.t.Fatalf("hello %s does not start with its type", f.raw)
	}
}

// notifications reads n notifications and returns their seqs.
func (c *client) notifications(n int) []int64 {
	c.t.Helper()
	seqs := make([]int64, 0, n)
	for range n {
		f := c.next()
		if f.Type != "notification" {
			c.t.Fatalf("got %s, want a notification", f.raw)
		}
		seqs = append(seqs, f.Seq)
	}
	return seqs
}

// closed reads until the connection ends and returns the close frame's
// code and text; code is 0 when the connection ended without one.
func (c *client) closed() (code int, text string) {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if c.err == nil {
			c.t.Fatalf("the connection did not close: %v", err)
		}
		return 0, err.Error()
	}
}

// wantClose reads until the connection ends, and checks its close frame.
func (c *client) wantClose(code int, text string) {
	c.t.Helper()
	if gotCode, gotText := c.closed(); gotCode != code || gotText != text {
		c.t.Fatalf("closed with %d %q, want %d %q", gotCode, gotText, code, text)
	}
}

// send writes a text frame.
func (c *client) send(s string) {
	c.t.Helper()
	c.sendFrame(websocket.TextMessage, []byte(s))
}

// sendFrame writes a frame of type typ.
func (c *client) sendFrame(typ int, data []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(typ, data); err != nil {
		c.t.Fatalf("send %q: %v", data, err)
	}
}

// span returns the seqs from, from+1, ..., to.
func span(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}
