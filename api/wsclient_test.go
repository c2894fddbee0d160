package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsWait bounds every wait for something the server should do promptly.
const wsWait = 10 * time.Second

// wsMessage is a server message as a client decodes it: the union of the
// fields of every type.
type wsMessage struct {
	Type string `json:"type"`
	// hello
	User int64 `json:"user"`
	// hello (the user's inbox head), notification (its inbox seq), config
	// (the routing snapshot's version), error since_expired (the oldest
	// seq kept).
	Seq int64 `json:"seq"`
	// notification
	Event string    `json:"event"`
	Alert *alert    `json:"alert"`
	At    time.Time `json:"at"`
	// config
	Change string `json:"change"`
	ID     int64  `json:"id"`
	// error
	Code    string `json:"code"`
	Message string `json:"message"`
	AlertID int64  `json:"alert_id"`
	State   string `json:"state"`

	// raw is the frame as received.
	raw []byte
}

func (m wsMessage) String() string { return string(m.raw) }

// wsDial is how a test client dials GET /api/v1/ws.
type wsDial struct {
	// token is sent as Authorization: Bearer; none when "".
	token string
	// query is the URL's query, without "?".
	query string
	// header is sent as well (Origin, say).
	header http.Header
	// rcvbuf, when not 0, is the client socket's receive buffer (SO_RCVBUF):
	// small, it makes a client that stops reading back up the server at once.
	rcvbuf int
}

// wsURL is the WebSocket URL of the endpoint with a query.
func (e *env) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialWS dials the WebSocket endpoint; on a refused handshake it returns
// the response (its body holds up to 1 KiB of the answer) and an error.
func (e *env) dialWS(d wsDial) (*websocket.Conn, *http.Response, error) {
	dialer := websocket.Dialer{HandshakeTimeout: wsWait}
	if d.rcvbuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}}
		dialer.NetDialContext = nd.DialContext
	}
	h := http.Header{}
	for k, v := range d.header {
		h[k] = v
	}
	if d.token != "" {
		h.Set("Authorization", "Bearer "+d.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	return dialer.DialContext(ctx, e.wsURL(d.query), h)
}

// refusedWS dials, expects the handshake to be refused with status, and
// returns the answer's body.
func (e *env) refusedWS(t testing.TB, d wsDial, status int) []byte {
	t.Helper()
	conn, resp, err := e.dialWS(d)
	if err == nil {
		conn.Close()
		t.Fatalf("dial with %+v: upgraded, want %d", d, status)
	}
	if resp == nil {
		t.Fatalf("dial with %+v: %v, want a %d answer", d, err, status)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("dial with %+v: status %d, want %d; body %s", d, resp.StatusCode, status, body)
	}
	return body.Bytes()
}

// wsClient is a test's WebSocket connection. Once started, a reader
// goroutine, which the client owns, reads every frame into an unbounded
// list, so that the client never stops reading unless the test wants it to.
type wsClient struct {
	t    testing.TB
	name string
	conn *websocket.Conn
	// hello is the connection's hello, once connectWS has read it.
	hello wsMessage

	mu   sync.Mutex
	msgs []wsMessage // received and not taken yet
	// kick has room for one signal: sent after each arrival and at the end.
	kick chan struct{}
	// done is closed when the reader returns; err is then its error.
	done    chan struct{}
	err     error
	started bool
}

// newWSClient wraps a dialled connection; it is closed, and its reader
// waited for, when the test ends.
func newWSClient(t testing.TB, name string, conn *websocket.Conn) *wsClient {
	c := &wsClient{t: t, name: name, conn: conn, kick: make(chan struct{}, 1), done: make(chan struct{})}
	t.Cleanup(c.close)
	return c
}

// connectWS dials with d, starts reading and returns the client once its
// hello has come: the first message must be a hello. It fails the test
// (from the test's goroutine only) when any of that fails.
func (e *env) connectWS(t testing.TB, name string, d wsDial) *wsClient {
	t.Helper()
	c, _, err := e.tryConnectWS(t, name, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryConnectWS is connectWS returning its error, for test goroutines; the
// hello is returned too.
func (e *env) tryConnectWS(t testing.TB, name string, d wsDial) (*wsClient, wsMessage, error) {
	conn, resp, err := e.dialWS(d)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, wsMessage{}, fmt.Errorf("%s: dial: %v (status %d)", name, err, status)
	}
	c := newWSClient(t, name, conn)
	c.start()
	hello, err := c.nextErr(wsWait)
	if err != nil {
		return c, hello, err
	}
	if hello.Type != "hello" {
		return c, hello, fmt.Errorf("%s: first message %s, want a hello", name, hello)
	}
	c.hello = hello
	return c, hello, nil
}

// start starts the reader.
func (c *wsClient) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	go c.read()
}

// read reads frames until the connection fails or closes.
func (c *wsClient) read() {
	defer close(c.done)
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.signal()
			return
		}
		m := wsMessage{raw: data}
		if kind != websocket.TextMessage {
			m.Type = fmt.Sprintf("(frame type %d)", kind)
		} else if err := json.Unmarshal(data, &m); err != nil {
			m.Type = "(not JSON: " + err.Error() + ")"
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
		c.signal()
	}
}

func (c *wsClient) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// errClosed is what nextErr wraps when the connection ended before a
// message came.
var errClosed = errors.New("connection closed")

// nextErr returns the next message, waiting up to d. It returns an error
// wrapping errClosed when the connection ends first (the reader's error is
// then c.closeErr()), or a timeout error.
func (c *wsClient) nextErr(d time.Duration) (wsMessage, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.msgs) > 0 {
			m := c.msgs[0]
			c.msgs = c.msgs[1:]
			c.mu.Unlock()
			return m, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return wsMessage{}, fmt.Errorf("%s: %w: %v", c.name, errClosed, err)
		}
		select {
		case <-c.kick:
		case <-timer.C:
			return wsMessage{}, fmt.Errorf("%s: no message within %s", c.name, d)
		}
	}
}

// next returns the next message, failing the test when none comes within
// wsWait.
func (c *wsClient) next() wsMessage {
	c.t.Helper()
	m, err := c.nextErr(wsWait)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// nextOf returns the next message, failing the test unless it is of type
// typ.
func (c *wsClient) nextOf(typ string) wsMessage {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("%s: got %s, want a %s message", c.name, m, typ)
	}
	return m
}

// notifications returns the next n messages, failing the test unless each
// is a notification.
func (c *wsClient) notifications(n int) []wsMessage {
	c.t.Helper()
	var ms []wsMessage
	for range n {
		ms = append(ms, c.nextOf("notification"))
	}
	return ms
}

// send writes v as a JSON text frame.
func (c *wsClient) send(v any) {
	c.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	c.sendFrame(websocket.TextMessage, b)
}

// sendFrame writes one frame of the type.
func (c *wsClient) sendFrame(kind int, b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(wsWait))
	if err := c.conn.WriteMessage(kind, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// closeErr waits up to d for the connection to end, and returns the
// reader's error; nil if it did not end in time.
func (c *wsClient) closeErr(d time.Duration) error {
	select {
	case <-c.done:
	case <-time.After(d):
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// wantClosed waits for the connection to end (after any messages still
// pending, which it returns), and fails the test unless the server closed
// it with code and a reason containing reason.
func (c *wsClient) wantClosed(code int, reason string) []wsMessage {
	c.t.Helper()
	err := c.closeErr(wsWait)
	if err == nil {
		c.t.Fatalf("%s: still open after %s, want closed with %d %q", c.name, wsWait, code, reason)
	}
	c.mu.Lock()
	rest := c.msgs
	c.msgs = nil
	c.mu.Unlock()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Text, reason) {
		c.t.Fatalf("%s: ended with %v, want close %d %q", c.name, err, code, reason)
	}
	return rest
}

// closeHandshake sends a normal close frame and waits (briefly) for the
// server's answer before cutting the connection.
func (c *wsClient) closeHandshake() {
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	c.closeErr(time.Second)
	c.close()
}

// close cuts the connection and waits for the reader.
func (c *wsClient) close() {
	c.conn.Close()
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.done
	}
}
