package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
)

// pushMessage is a server message of the WebSocket protocol, the fields
// these tests read.
type pushMessage struct {
	Type   string `json:"type"`
	User   int64  `json:"user"`
	Seq    int64  `json:"seq"`
	Event  string `json:"event"`
	Change string `json:"change"`
	Alert  struct {
		Labels map[string]string `json:"labels"`
	} `json:"alert"`
}

// dialPush opens a WebSocket to the app as the token's user.
func dialPush(t *testing.T, r *running, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(r.url, "http")+"/api/v1/ws",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial the WebSocket: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readPush reads the next message, waiting up to wait.
func readPush(t *testing.T, conn *websocket.Conn) pushMessage {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	var m pushMessage
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("message %s: %v", data, err)
	}
	return m
}

// Through the whole app: the admin's connection hears of a route change as
// a config message, and of an alert posted to a webhook that the route
// sends it as a notification. Stopping the app closes WebSockets with 1001
// (going away), a peer that never answers the close included, within
// server.shutdown_timeout, and Run returns nil.
func TestPushThroughApp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		cfg := withAlertmanagerSource(testConfig(target))
		cfg.Server.ShutdownTimeout = 5 * time.Second
		r := start(t, cfg)
		admin := testlog.WaitFor(t, r.log, regexp.MustCompile(`level=WARN .*`+tokenLine.String()), nil)[1]
		client := newClient(t)

		conn := dialPush(t, r, admin)
		hello := readPush(t, conn)
		if hello.Type != "hello" || hello.Seq != 0 || hello.User == 0 {
			t.Fatalf("first message %+v, want a hello of seq 0", hello)
		}
		// A peer that reads nothing, and so never answers a close.
		dialPush(t, r, admin)

		body := `{"name": "everything", "matchers": ["alertname=~\".+\""], "users": [` + strconv.FormatInt(hello.User, 10) + `]}`
		if status, b := send(t, client, http.MethodPost, r.url+"/api/v1/routes", admin, body); status != http.StatusCreated {
			t.Fatalf("create a route: %d %s", status, b)
		}
		if m := readPush(t, conn); m.Type != "config" || m.Change != "route.create" {
			t.Fatalf("after a route change the admin got %+v, want a config route.create", m)
		}
		hook := `{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency"},
			"startsAt": "2026-11-24T08:01:12.345Z", "endsAt": "0001-01-01T00:00:00Z"}]}`
		if status, b := send(t, client, http.MethodPost, r.url+"/hooks/prod-am", amSecret, hook); status != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", status, b)
		}
		if m := readPush(t, conn); m.Type != "notification" || m.Seq != 1 || m.Event != "fired" || m.Alert.Labels["alertname"] != "HighLatency" {
			t.Fatalf("after the webhook the admin got %+v, want the notification of HighLatency fired, seq 1", m)
		}

		closed := make(chan error, 1)
		go func() {
			conn.SetReadDeadline(time.Now().Add(wait))
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					closed <- err
					return
				}
			}
		}()
		began := time.Now()
		if err := r.stop(t); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if d := time.Since(began); d > cfg.Server.ShutdownTimeout {
			t.Errorf("Run returned %s after cancel, past server.shutdown_timeout (%s)", d, cfg.Server.ShutdownTimeout)
		}
		var ce *websocket.CloseError
		if err := <-closed; !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Errorf("the WebSocket ended with %v, want close 1001", err)
		}
		checkStoreClosed(t, target)
	})
}

// send sends a request with a bearer token and a JSON body, and returns the
// status and the answer's body.
func send(t *testing.T, client *http.Client, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
