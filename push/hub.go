package push

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
)

// Store is what the hub reads: *storage.DB implements it.
type Store interface {
	// InboxBounds returns the oldest and newest seq of the user's inbox rows
	// kept (0, 0 when it has none; newest is the user's inbox head, oldest
	// the lowest seq still stored).
	InboxBounds(ctx context.Context, userID int64) (oldest, newest int64, err error)
	// Inbox returns up to limit of the user's inbox rows with a seq above
	// since, in ascending seq.
	Inbox(ctx context.Context, userID, since int64, limit int) ([]alerts.Notification, error)
	// LiveTokens returns which of ids are tokens that still exist, are not
	// expired at the store's clock, and whose users exist.
	LiveTokens(ctx context.Context, ids []int64) (map[int64]bool, error)
}

// alertReader is what a Store may also do: read one alert. When it can, a
// command refused with a conflict tells the client the alert's state.
// *storage.DB can.
type alertReader interface {
	Alert(ctx context.Context, id int64) (alerts.Alert, error)
}

// Actor acts on alerts for a person: *alerts.AlertQueue implements it.
type Actor interface {
	// Act acknowledges or resolves an alert, as the REST API does, and
	// hands the inbox rows it writes to the alert queue's Notifier. It
	// returns alerts.ErrNotFound, alerts.ErrConflict (the alert's state does
	// not allow the action) or the store's error.
	Act(ctx context.Context, act alerts.Action) (alerts.Alert, error)
}

// Options configure a Hub.
type Options struct {
	// Store is where inbox rows are replayed from and tokens checked.
	// Required.
	Store Store
	// Alerts applies the ack and resolve commands clients send; nil answers
	// them with an "unavailable" error.
	Alerts Actor
	// SendQueue is push.send_queue: how many messages may wait on one
	// connection before it is closed as a slow consumer; 0 means 256.
	SendQueue int
	// PingInterval is push.ping_interval: how often each connection is
	// pinged; a peer silent for two intervals is cut. 0 means 25s.
	PingInterval time.Duration
	// MaxMessageBytes is push.max_message_bytes: the largest frame a client
	// may send; a larger one closes the connection with 1009. 0 means 4096.
	MaxMessageBytes int64
	// WriteTimeout is the deadline of one frame write; 0 means 10s.
	WriteTimeout time.Duration
	// Logger logs the connections' lifecycle; nil discards.
	Logger *slog.Logger
	// Metrics, when not nil, is where the hub registers its metrics.
	Metrics prometheus.Registerer
}

// Session is who a connection acts for: the authenticated user and the
// token it used.
type Session struct {
	User    auth.User
	TokenID int64
	// ExpiresAt is the token's expiry, if it has one; the connection is
	// closed (1008 "token expired") when it passes.
	ExpiresAt *time.Time
}

// Defaults and bounds.
const (
	defaultSendQueue       = 256
	defaultPingInterval    = 25 * time.Second
	defaultMaxMessageBytes = 4096
	defaultWriteTimeout    = 10 * time.Second

	// heldPerQueue times SendQueue is how many early rows a group holds
	// while it waits for a missing one, before it gives up and closes its
	// connections with 1013 (the clients resume).
	heldPerQueue = 4
	// gapBound is how long a group waits for a missing row's Notify before
	// Run reads the row from the store; gapCheck is how often Run looks.
	gapBound = 250 * time.Millisecond
	gapCheck = 100 * time.Millisecond
	// storeTimeout bounds each store read.
	storeTimeout = 10 * time.Second
	// replayPage is how many rows a replay reads at a time.
	replayPage = 500
	// actTimeout bounds a command's action.
	actTimeout = 10 * time.Second
	// maxBadFrames bad frames in a row close the connection.
	maxBadFrames = 5
	// closeWait is how long a connection waits for the peer's close frame
	// after sending its own, before it cuts the connection.
	closeWait = time.Second
)

// Hub is the live push server: subscriber groups keyed by user ID, each
// holding that user's connections. See the package doc for its concurrency
// contract and lock order.
type Hub struct {
	store        Store
	actor        Actor
	sendQueue    int
	maxHeld      int
	pingInterval time.Duration
	maxMessage   int64
	writeTimeout time.Duration
	log          *slog.Logger
	metrics      *metrics

	upgrader websocket.Upgrader
	// writeBuffers lends write buffers to connections while they write a
	// message, so that an idle connection holds none.
	writeBuffers sync.Pool
	// ping is the message that queues a ping.
	ping *message

	lastConnID atomic.Uint64
	// connections and queued count the open connections and the messages
	// waiting in their queues, for the gauges.
	connections atomic.Int64
	queued      atomic.Int64
	// started guards against a second Run.
	started atomic.Bool

	mu     sync.RWMutex
	groups map[int64]*group
	// closing is set by Shutdown: Serve refuses new connections.
	closing bool
	// serving counts the connections registered and not yet gone; Add only
	// under mu while not closing, so that Shutdown may Wait.
	serving sync.WaitGroup
}

// NewHub returns a hub with no connections; Run must run for pings, token
// sweeps and gap fills. It registers the hub's metrics on opts.Metrics, and
// panics if they are registered already.
func NewHub(opts Options) *Hub {
	if opts.SendQueue <= 0 {
		opts.SendQueue = defaultSendQueue
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultPingInterval
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = defaultMaxMessageBytes
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		store:        opts.Store,
		actor:        opts.Alerts,
		sendQueue:    opts.SendQueue,
		maxHeld:      heldPerQueue * opts.SendQueue,
		pingInterval: opts.PingInterval,
		maxMessage:   opts.MaxMessageBytes,
		writeTimeout: opts.WriteTimeout,
		log:          opts.Logger,
		ping:         &message{kind: kindPing},
		groups:       make(map[int64]*group),
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  512,
		WriteBufferSize: 4096,
		WriteBufferPool: &h.writeBuffers,
		// The HTTP edge checks the Origin before it calls Serve.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	h.metrics = newMetrics(h, opts.Metrics)
	return h
}

// Serve upgrades the request to a WebSocket (the caller has authenticated
// it and checked its Origin), sends the hello and the replay from since
// (< 0 means "no since given"), and returns, leaving the connection to a
// reader goroutine of the hub's, which Shutdown waits for. The handler's
// goroutine, deep in the HTTP server's stack, and the HTTP server's state
// of the request are so freed while the connection lasts: an idle
// connection costs one shallow goroutine. Upgrade failures are answered by
// gorilla (400); once Shutdown has begun it answers 503 before upgrading.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, s Session, since int64) {
	if h.isClosing() {
		refuse(w)
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("push: websocket upgrade failed", slog.Any("error", err), slog.String("remote", r.RemoteAddr))
		return
	}
	c := newConn(h, ws, s, r)
	if !h.register(c) {
		// Shutdown began during the upgrade.
		ws.WriteControl(websocket.CloseMessage, causeGoingAway.frame(), time.Now().Add(h.writeTimeout))
		c.cut()
		return
	}
	c.log.Info("push: connection opened", slog.Int64("since", since))
	c.replay(since)
	go func() {
		defer h.serving.Done()
		c.readRecovering()
		c.finish()
	}()
}

// refuse answers a request with 503 in the API's JSON error shape.
func refuse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"error":{"code":"unavailable","message":"the server is shutting down; retry later"}}` + "\n"))
}

// isClosing reports whether Shutdown has begun.
func (h *Hub) isClosing() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closing
}

// register adds c to its user's group, making the group if it is the
// user's first connection. It returns false, adding nothing, once Shutdown
// has begun.
func (h *Hub) register(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.serving.Add(1)
	g := h.groups[c.session.User.ID]
	if g == nil {
		g = newGroup(h, c.session.User.ID)
		h.groups[g.userID] = g
	}
	g.mu.Lock()
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	c.group = g
	h.connections.Add(1)
	return true
}

// unregister removes c from its group, and the group from the hub when c
// was its last connection.
func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := c.group
	g.mu.Lock()
	delete(g.conns, c)
	if len(g.conns) == 0 {
		g.dead = true
		if h.groups[g.userID] == g {
			delete(h.groups, g.userID)
		}
	}
	g.mu.Unlock()
	h.connections.Add(-1)
}

// group returns the user's group, or nil when the user has no connection.
func (h *Hub) group(userID int64) *group {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.groups[userID]
}

// conns returns every connection the hub has, with keep, when not nil,
// choosing which.
func (h *Hub) conns(keep func(*conn) bool) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var all []*conn
	for _, g := range h.groups {
		g.mu.Lock()
		for c := range g.conns {
			if keep == nil || keep(c) {
				all = append(all, c)
			}
		}
		g.mu.Unlock()
	}
	return all
}

// Notify queues committed inbox rows on the connections of their users, in
// each user's seq order whatever order the calls come in. It implements
// alerts.Notifier: it never blocks on a connection. Rows of users with no
// connection are dropped: they replay from the store.
func (h *Hub) Notify(ns []alerts.Notification) {
	now := time.Now()
	for _, n := range ns {
		g := h.group(n.UserID)
		if g == nil {
			continue
		}
		m, err := encodeNotification(n)
		if err != nil {
			h.log.Error("push: drop a notification", slog.Any("error", err), slog.Int64("user_id", n.UserID), slog.Int64("seq", n.Seq))
			continue
		}
		g.offer(m, now)
	}
}

// ConfigApplied queues a config message on every connection of an admin.
// It implements alerts.ConfigSubscriber: it never blocks on a connection.
func (h *Hub) ConfigApplied(change alerts.ConfigChange, snap *alerts.Snapshot) {
	var version uint64
	if snap != nil {
		version = snap.Version()
	}
	m, err := encode(configFrame{Type: "config", Seq: version, Change: change.Object + "." + change.Action, ID: change.ID})
	if err != nil {
		h.log.Error("push: drop a config message", slog.Any("error", err))
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, g := range h.groups {
		g.mu.Lock()
		for c := range g.conns {
			if c.session.User.IsAdmin() {
				c.send(m)
			}
		}
		g.mu.Unlock()
	}
}

// CloseToken closes at once (1008 "token revoked") every connection opened
// with the token. The close frames are sent in the background.
func (h *Hub) CloseToken(tokenID int64) {
	for _, c := range h.conns(func(c *conn) bool { return c.session.TokenID == tokenID }) {
		c.close(causeTokenRevoked)
	}
}

// CloseUser closes at once (1008 "user changed") every connection of the
// user: call it when the user is deleted or its role changes. The close
// frames are sent in the background.
func (h *Hub) CloseUser(userID int64) {
	g := h.group(userID)
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.close(causeUserChanged)
	}
}

// Shutdown refuses new connections (Serve answers 503) and closes every
// open one with 1001 "going away", then waits for them to go, at most until
// ctx ends; then it cuts what is left, and returns once every connection's
// goroutines have returned (which cutting makes quick).
func (h *Hub) Shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	for _, c := range h.conns(nil) {
		c.close(causeGoingAway)
	}
	gone := make(chan struct{})
	go func() {
		h.serving.Wait()
		close(gone)
	}()
	select {
	case <-gone:
		return
	case <-ctx.Done():
	}
	left := h.conns(nil)
	h.log.Warn("push: shutdown timed out; cutting the connections left", slog.Int("connections", len(left)))
	for _, c := range left {
		c.cut()
	}
	<-gone
}
