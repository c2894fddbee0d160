package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
)

// readiness is the part of /readyz these tests read.
type readiness struct {
	Pollers struct {
		Node    string `json:"node"`
		Leading bool   `json:"leading"`
		Leader  string `json:"leader"`
	} `json:"pollers"`
}

// ready reads a node's /readyz.
func ready(t *testing.T, client *http.Client, r *running) readiness {
	t.Helper()
	status, body := get(t, client, r.url+"/readyz", "")
	if status != http.StatusOK {
		t.Fatalf("/readyz: %d %s", status, body)
	}
	var rd readiness
	if err := json.Unmarshal(body, &rd); err != nil {
		t.Fatalf("/readyz %s: %v", body, err)
	}
	return rd
}

// checksRun sums a node's tocsin_poller_checks_total.
func checksRun(t *testing.T, client *http.Client, r *running) int {
	t.Helper()
	_, body := get(t, client, r.url+"/metrics", "")
	total := 0
	for _, m := range regexp.MustCompile(`(?m)^tocsin_poller_checks_total\{[^}]*\} (\d+)$`).FindAllSubmatch(body, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		total += n
	}
	return total
}

// eventually polls cond every 50ms until it holds, failing after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two tocsin nodes share one MariaDB. An admin adds an http poller over
// REST on one; exactly one node runs it. When the target goes down the
// routed user gets the alert over WebSocket, and when it comes back the
// resolve, each once. When the leader stops, the other node takes over.
func TestPollersOnTwoNodes(t *testing.T) {
	target := testdb.MySQL(t)
	cfg := testConfig(target)
	cfg.Pollers.ReloadInterval = 200 * time.Millisecond
	cfg.Cluster.NodeID = "node-a"
	nodeA := start(t, cfg)
	admin := testlog.WaitFor(t, nodeA.log, regexp.MustCompile(`level=WARN .*`+tokenLine.String()), nil)[1]
	cfg.Cluster.NodeID = "node-b"
	nodeB := start(t, cfg)
	client := newClient(t)

	var leader, follower *running
	eventually(t, wait, "one node to lead", func() bool {
		a, b := ready(t, client, nodeA), ready(t, client, nodeB)
		switch {
		case a.Pollers.Leading && !b.Pollers.Leading && b.Pollers.Leader == "node-a":
			leader, follower = nodeA, nodeB
		case b.Pollers.Leading && !a.Pollers.Leading && a.Pollers.Leader == "node-b":
			leader, follower = nodeB, nodeA
		}
		return leader != nil
	})

	var down atomic.Bool
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer web.Close()

	// Routes take effect on the node that changed them at once, and on
	// the others at their resync: the route goes to the leader, which
	// commits the poller's alerts; the poller goes to the follower.
	conn := dialPush(t, leader, admin)
	hello := readPush(t, conn)
	route := `{"name": "web", "matchers": ["poller=\"web\""], "users": [` + strconv.FormatInt(hello.User, 10) + `]}`
	if status, b := send(t, client, http.MethodPost, leader.url+"/api/v1/routes", admin, route); status != http.StatusCreated {
		t.Fatalf("create the route: %d %s", status, b)
	}
	if m := readPush(t, conn); m.Type != "config" {
		t.Fatalf("after the route change got %+v", m)
	}
	poller := `{"name": "web", "kind": "http", "schedule": "* * * * * *", "url": "` + web.URL + `",
		"fail_after": 2, "recover_after": 2, "labels": {"severity": "critical"}}`
	status, body := send(t, client, http.MethodPost, follower.url+"/api/v1/pollers", admin, poller)
	if status != http.StatusCreated {
		t.Fatalf("create the poller: %d %s", status, body)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	pollerURL := follower.url + "/api/v1/pollers/" + strconv.FormatInt(created.ID, 10)
	eventually(t, wait, "a passing run", func() bool {
		_, body := get(t, client, pollerURL, admin)
		return strings.Contains(string(body), `"outcome":"success"`)
	})

	down.Store(true)
	if m := readPush(t, conn); m.Type != "notification" || m.Event != "fired" || m.Alert.Labels["poller"] != "web" {
		t.Fatalf("after the target went down got %+v, want the poller's alert fired", m)
	}
	down.Store(false)
	if m := readPush(t, conn); m.Type != "notification" || m.Event != "resolved" || m.Alert.Labels["poller"] != "web" {
		t.Fatalf("after the target came back got %+v, want the poller's alert resolved", m)
	}

	// Two more passing runs: still exactly one alert, fired and resolved
	// once, and two inbox rows.
	_, body = get(t, client, pollerURL, admin)
	var before struct {
		Status struct {
			Successes int `json:"consecutive_successes"`
		} `json:"status"`
	}
	json.Unmarshal(body, &before)
	eventually(t, wait, "two more passing runs", func() bool {
		_, body := get(t, client, pollerURL, admin)
		var now struct {
			Status struct {
				Successes int `json:"consecutive_successes"`
			} `json:"status"`
		}
		json.Unmarshal(body, &now)
		return now.Status.Successes >= before.Status.Successes+2
	})
	_, body = get(t, client, follower.url+"/api/v1/alerts?source=poller:web", admin)
	var list struct {
		Items []struct {
			State string `json:"state"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Items) != 1 || list.Items[0].State != "resolved" {
		t.Fatalf("alerts of the poller = %s, want one, resolved", body)
	}
	_, body = get(t, client, follower.url+"/api/v1/inbox", admin)
	var inbox struct {
		Items []struct {
			Event string `json:"event"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &inbox); err != nil || len(inbox.Items) != 2 {
		t.Fatalf("inbox = %s, want two rows: fired and resolved", body)
	}
	if n := checksRun(t, client, follower); n != 0 {
		t.Errorf("the follower ran %d checks, want 0", n)
	}
	if n := checksRun(t, client, leader); n < 4 {
		t.Errorf("the leader ran %d checks, want at least 4", n)
	}

	// The leader stops: the follower takes over within seconds.
	if err := leader.stop(t); err != nil {
		t.Errorf("stop the leader: %v", err)
	}
	eventually(t, 5*time.Second, "the follower to lead", func() bool { return ready(t, client, follower).Pollers.Leading })
	eventually(t, 5*time.Second, "the follower to run checks", func() bool { return checksRun(t, client, follower) > 0 })
}
