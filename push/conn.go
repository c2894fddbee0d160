package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket connection. The goroutine that runs Serve writes
// the hello and the replay, then starts the reader goroutine, which reads
// it; a writer goroutine, started when a message is queued, writes the
// queue; a closer goroutine sends the close frame when the server closes
// it. The reader waits for both before the connection leaves its group.
type conn struct {
	hub     *Hub
	ws      *websocket.Conn
	session Session
	log     *slog.Logger
	opened  time.Time
	// group is the user's group, set by register before anything else
	// sees the connection.
	group *group
	// ctx ends when the connection does, cancelling its store reads and
	// actions.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the writer and closer goroutines; Add only under mu while
	// not closing, so that Serve may Wait once closing is set.
	wg sync.WaitGroup
	// badFrames counts the bad frames received in a row; only the reader
	// uses it.
	badFrames int

	mu sync.Mutex
	// replaying is set until the replay is done: messages go to held,
	// and no writer runs.
	replaying bool
	held      []*message
	// queue is what the writer has yet to write; pingQueued says whether
	// it holds a ping.
	queue      []*message
	pingQueued bool
	// writing is set while a writer goroutine runs.
	writing bool
	// lastSeq is the seq of the last notification sent or queued.
	lastSeq int64
	// closing is set once the connection is closing, for cause: nothing
	// more is queued or written.
	closing bool
	cause   closeCause
}

// newConn returns a connection, in replay mode, for ws, which the hub
// upgraded from r for s.
func newConn(h *Hub, ws *websocket.Conn, s Session, r *http.Request) *conn {
	// Not derived from r's context: the connection outlives the request,
	// and holding r's context would keep the HTTP server's state of the
	// request alive as long as the connection.
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		hub:     h,
		ws:      ws,
		session: s,
		log: h.log.With(slog.Uint64("conn_id", h.lastConnID.Add(1)), slog.Int64("user_id", s.User.ID),
			slog.String("remote", r.RemoteAddr)),
		opened:    time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		replaying: true,
	}
}

// replay sends hello and, when since >= 0, the rows after since from the
// store, then switches the connection to live delivery. On failure it
// closes the connection.
func (c *conn) replay(since int64) {
	h, userID := c.hub, c.session.User.ID
	readCtx, cancel := context.WithTimeout(c.ctx, storeTimeout)
	oldest, newest, err := h.store.InboxBounds(readCtx, userID)
	cancel()
	if err != nil {
		c.failed("read the inbox bounds", err)
		return
	}
	replayTo := c.group.start(newest, time.Now())
	if !c.writeFrame(helloFrame{Type: "hello", User: userID, Seq: replayTo}) {
		return
	}
	if since >= 0 {
		from := min(since, replayTo)
		// Rows up to newest are kept from oldest on; rows after newest are
		// newer than the bounds and not pruned.
		if from < newest && (oldest == 0 || oldest > from+1) {
			kept := oldest
			if kept == 0 {
				kept = newest + 1
			}
			if !c.writeFrame(errorFrame{Type: "error", Code: codeSinceExpired, Seq: kept,
				Message: fmt.Sprintf("the rows after seq %d are no longer kept: the oldest kept is seq %d; live notifications follow from seq %d", from, kept, replayTo+1)}) {
				return
			}
		} else if !c.replayRows(from, replayTo) {
			return
		}
	}
	c.goLive(replayTo)
}

// replayRows writes the user's rows after from, up to to, from the store.
// It reports false when the connection failed or is closing.
func (c *conn) replayRows(from, to int64) bool {
	for from < to {
		readCtx, cancel := context.WithTimeout(c.ctx, storeTimeout)
		ns, err := c.hub.store.Inbox(readCtx, c.session.User.ID, from, int(min(to-from, replayPage)))
		cancel()
		if err != nil {
			c.failed("replay the inbox", err)
			return false
		}
		if len(ns) == 0 {
			break // the rest were deleted meanwhile
		}
		for _, n := range ns {
			if n.Seq > to {
				return true
			}
			m, err := encodeNotification(n)
			if err != nil {
				c.failed("replay the inbox", err)
				return false
			}
			m.at = time.Time{} // a replayed row is not live: no delivery lag
			if !c.writeNow(m) {
				return false
			}
			from = n.Seq
		}
	}
	return true
}

// goLive ends the replay, which sent the rows up to replayTo: the messages
// held meanwhile are queued, except the rows replayed.
func (c *conn) goLive(replayTo int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := c.held
	c.replaying, c.held, c.lastSeq = false, nil, replayTo
	for _, m := range held {
		c.sendLocked(m)
	}
}

// send queues m, unless the connection is closing or m is a notification
// already sent. A full queue closes the connection (slow consumer).
func (c *conn) send(m *message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendLocked(m)
}

// sendLocked is send, called with c.mu held.
func (c *conn) sendLocked(m *message) {
	switch {
	case c.closing:
		return
	case c.replaying:
		if m.kind == kindPing {
			return // the replay writes; the peer is busy reading it
		}
		if len(c.held) >= c.hub.sendQueue {
			c.closeLocked(causeSlowConsumer)
			return
		}
		c.held = append(c.held, m)
		return
	case m.kind == kindPing:
		if c.pingQueued {
			return
		}
		c.pingQueued = true
	case m.seq != 0 && m.seq <= c.lastSeq:
		return // replayed
	case len(c.queue) >= c.hub.sendQueue+btoi(c.pingQueued):
		c.closeLocked(causeSlowConsumer)
		return
	}
	if m.seq != 0 {
		c.lastSeq = m.seq
	}
	c.queue = append(c.queue, m)
	c.hub.queued.Add(1)
	if !c.writing {
		c.writing = true
		c.wg.Add(1)
		go c.writeLoop()
	}
}

// btoi is 1 for true.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeLoop writes the queue until it is empty or the connection closes.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if c.closing || len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		m := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = nil // an idle connection holds no queue
		}
		if m.kind == kindPing {
			c.pingQueued = false
		}
		c.hub.queued.Add(-1)
		c.mu.Unlock()
		if !c.writeNow(m) {
			return // writing stays set: the connection is closing
		}
	}
}

// writeFrame encodes v and writes it at once: for the replay only.
func (c *conn) writeFrame(v any) bool {
	m, err := encode(v)
	if err != nil {
		c.failed("encode a frame", err)
		return false
	}
	return c.writeNow(m)
}

// writeNow writes m with the write deadline. On failure it closes the
// connection and reports false.
func (c *conn) writeNow(m *message) bool {
	h := c.hub
	deadline := time.Now().Add(h.writeTimeout)
	var err error
	if m.kind == kindPing {
		err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	} else {
		c.ws.SetWriteDeadline(deadline)
		err = c.ws.WriteMessage(websocket.TextMessage, m.data)
	}
	if err != nil {
		c.writeFailed(err)
		return false
	}
	if m.kind == kindData {
		h.metrics.sent.Inc()
		h.metrics.bytes.Add(float64(len(m.data)))
		if !m.at.IsZero() {
			h.metrics.lag.Observe(time.Since(m.at).Seconds())
		}
	}
	return true
}

// writeFailed handles a failed write: unless a close frame was sent (the
// close handshake goes on), the connection is lost, and cut.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, websocket.ErrCloseSent) {
		return
	}
	c.mu.Lock()
	if !c.closing {
		c.closing, c.cause = true, causeGone
		c.dropQueue()
		c.log.Info("push: write failed", slog.Any("error", err))
	}
	c.mu.Unlock()
	c.cut()
}

// failed closes the connection with 1011 after an internal error.
func (c *conn) failed(what string, err error) {
	if c.ctx.Err() == nil {
		c.log.Error("push: "+what+"; closing the connection", slog.Any("error", err))
	}
	c.close(causeInternal)
}

// close starts closing the connection for cause: nothing more is sent but
// the close frame, which a goroutine of the connection sends, so that close
// never blocks. A connection closes once.
func (c *conn) close(cause closeCause) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(cause)
}

// closeLocked is close, called with c.mu held.
func (c *conn) closeLocked(cause closeCause) {
	if c.closing {
		return
	}
	c.closing, c.cause = true, cause
	queued := len(c.queue) + len(c.held)
	c.dropQueue()
	// The reader waits for the peer's close frame while the close frame
	// is sent, and then closeWait; sendClose cuts that short if it fails.
	c.ws.SetReadDeadline(time.Now().Add(c.hub.writeTimeout + closeWait))
	c.wg.Add(1)
	go c.sendClose(cause, queued)
}

// dropQueue forgets every message waiting. Called with c.mu held.
func (c *conn) dropQueue() {
	c.hub.queued.Add(-int64(len(c.queue)))
	c.queue, c.held, c.pingQueued = nil, nil, false
}

// sendClose sends the close frame for cause, with the write deadline, and
// gives the peer closeWait to answer it, after which the reader gives up
// and cuts the connection. If the frame cannot be sent it cuts at once.
func (c *conn) sendClose(cause closeCause, queued int) {
	defer c.wg.Done()
	if cause == causeSlowConsumer {
		c.log.Warn("push: slow consumer; closing the connection", slog.Int("queued", queued))
	}
	if err := c.ws.WriteControl(websocket.CloseMessage, cause.frame(), time.Now().Add(c.hub.writeTimeout)); err != nil {
		c.cut()
		return
	}
	c.ws.SetReadDeadline(time.Now().Add(closeWait))
}

// cut closes the socket with no more ado, and ends the connection's
// context: every read, write and store call of the connection fails soon.
func (c *conn) cut() {
	c.cancel()
	c.ws.Close()
}

// extendRead moves the read deadline to two ping intervals from now, unless
// the connection is closing (its deadline is the close handshake's).
func (c *conn) extendRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.ws.SetReadDeadline(time.Now().Add(2 * c.hub.pingInterval))
	}
}

// isClosing reports whether the connection is closing.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// readRecovering runs readLoop, and turns a panic in it (a bug behind a
// frame's handling) into the end of this connection, with 1011 (internal
// error), logged with its stack: the reader runs outside the HTTP
// handler's recovery, and a panic must not end the server.
func (c *conn) readRecovering() {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("push: the reader panicked; closing the connection",
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			c.close(causeInternal)
			// Wait for the peer's close frame, as readLoop would: the
			// close's read deadline bounds the wait.
			for {
				if _, _, err := c.ws.NextReader(); err != nil {
					return
				}
			}
		}
	}()
	c.readLoop()
}

// readLoop reads and handles the client's frames until the connection
// fails or closes.
func (c *conn) readLoop() {
	c.ws.SetReadLimit(c.hub.maxMessage)
	c.ws.SetPongHandler(func(string) error {
		c.extendRead()
		return nil
	})
	c.extendRead()
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.extendRead()
		c.handle(typ, data)
		// The peer was not silent while the command ran.
		c.extendRead()
	}
}

// readFailed records why the read failed, unless the connection was closing
// already (then the failure is the close handshake's end).
func (c *conn) readFailed(err error) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.cause = true, readCause(err)
		c.dropQueue()
		if c.cause.label != "peer" {
			c.log.Info("push: receive failed", slog.Any("error", err))
		}
	}
	cause := c.cause
	c.mu.Unlock()
	if cause == causeTooBig {
		c.linger()
	}
}

// maxLinger is how much a closing connection reads and discards of what the
// peer still sends.
const maxLinger = 1 << 20

// linger reads and discards what the peer still sends, for closeWait at
// most, after gorilla sent 1009: closing a socket with unread data resets
// the connection, and the peer might lose the close frame.
func (c *conn) linger() {
	nc := c.ws.NetConn()
	nc.SetReadDeadline(time.Now().Add(closeWait))
	io.Copy(io.Discard, io.LimitReader(nc, maxLinger))
}

// finish ends the connection once its reader has returned: it cuts the
// socket, waits for the writer and closer, leaves the group, and logs and
// counts the close.
func (c *conn) finish() {
	c.cut()
	c.wg.Wait()
	c.hub.unregister(c)
	c.mu.Lock()
	cause, lastSeq := c.cause, c.lastSeq
	c.mu.Unlock()
	c.hub.metrics.closes.WithLabelValues(cause.label).Inc()
	c.log.Info("push: connection closed", slog.Int("code", cause.code), slog.String("reason", cause.reason),
		slog.Duration("duration", time.Since(c.opened)), slog.Int64("last_seq", lastSeq))
}
