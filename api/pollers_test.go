package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// The checker and the election are what the app gives the server.
var (
	_ api.PollerChecker = (*sources.Checker)(nil)
	_ api.Leadership    = (*storage.Election)(nil)
)

// poller is a poller as the API shows it.
type poller struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	Schedule     string            `json:"schedule"`
	Timeout      string            `json:"timeout"`
	URL          string            `json:"url"`
	Method       string            `json:"method"`
	ExpectStatus []string          `json:"expect_status"`
	ExpectBody   string            `json:"expect_body"`
	Address      string            `json:"address"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	FailAfter    int               `json:"fail_after"`
	RecoverAfter int               `json:"recover_after"`
	Enabled      bool              `json:"enabled"`
	ManagedBy    string            `json:"managed_by"`
	Version      int64             `json:"version"`
	Status       pollerStatus      `json:"status"`
}

// pollerStatus is a poller's status object.
type pollerStatus struct {
	LastRunAt            *time.Time `json:"last_run_at"`
	Outcome              string     `json:"outcome"`
	Latency              string     `json:"latency"`
	LastError            string     `json:"last_error"`
	ConsecutiveFailures  int        `json:"consecutive_failures"`
	ConsecutiveSuccesses int        `json:"consecutive_successes"`
	Firing               int        `json:"firing"`
	NextRunAt            *time.Time `json:"next_run_at"`
	Node                 string     `json:"node"`
}

// checkResult is the answer of POST /pollers/{id}/run.
type checkResult struct {
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
	Latency    string    `json:"latency"`
	Error      string    `json:"error"`
	StatusCode int       `json:"status_code"`
}

// newPoller creates a poller as the admin from the fields in body.
func (e *env) newPoller(body map[string]any) poller {
	e.t.Helper()
	var p poller
	e.do("POST", "/api/v1/pollers", e.admin, body).decode(e.t, http.StatusCreated, &p)
	return p
}

// pollerCount counts the pollers the API lists.
func (e *env) pollerCount() int {
	e.t.Helper()
	var l list[poller]
	e.do("GET", "/api/v1/pollers?limit=1000", e.admin, nil).decode(e.t, http.StatusOK, &l)
	return len(l.Items)
}

func TestPollersCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		// Left out, fail_after, recover_after, enabled and the http
		// defaults are filled in; a new poller has not run.
		r := e.do("POST", "/api/v1/pollers", e.admin, map[string]any{
			"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/healthz",
		})
		var shop poller
		r.decode(t, http.StatusCreated, &shop)
		if shop.ID == 0 || shop.Version != 1 || shop.FailAfter != 3 || shop.RecoverAfter != 2 || !shop.Enabled ||
			shop.Timeout != "10s" || shop.Method != "GET" || strings.Join(shop.ExpectStatus, ",") != "200-299" ||
			shop.ManagedBy != "" || shop.Labels == nil || shop.Annotations == nil {
			t.Fatalf("created %s", r.body)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}
		for _, want := range []string{`"last_run_at":null`, `"next_run_at":null`, `"outcome":""`, `"firing":0`} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("a new poller's answer %s lacks %s", r.body, want)
			}
		}

		db := e.newPoller(map[string]any{
			"name": "db", "kind": "tcp", "schedule": "*/15 * * * * *", "address": "db.internal:5432",
			"fail_after": 1, "recover_after": 5, "enabled": false, "timeout": "2s",
			"labels": map[string]string{"severity": "critical"}, "annotations": map[string]string{"summary": "db down"},
		})
		if db.FailAfter != 1 || db.RecoverAfter != 5 || db.Enabled || db.Timeout != "2s" || db.Labels["severity"] != "critical" {
			t.Errorf("created %+v", db)
		}

		var page list[poller]
		e.do("GET", "/api/v1/pollers?limit=1", e.admin, nil).decode(t, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].ID != shop.ID || page.NextCursor == "" {
			t.Fatalf("first page %+v", page)
		}
		e.do("GET", "/api/v1/pollers?limit=1&cursor="+page.NextCursor, e.admin, nil).decode(t, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].ID != db.ID || page.NextCursor != "" {
			t.Fatalf("second page %+v", page)
		}

		// A poller sent back as it was read, status and all, with a change.
		var read map[string]any
		path := "/api/v1/pollers/" + itoa(shop.ID)
		e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &read)
		read["schedule"] = "0 */5 * * * *"
		read["expect_status"] = []string{"200", "301-302"}
		read["enabled"] = false
		var edited poller
		r = e.do("PUT", path, e.admin, read)
		r.decode(t, http.StatusOK, &edited)
		if edited.Version != 2 || edited.Schedule != "0 */5 * * * *" || edited.Enabled || strings.Join(edited.ExpectStatus, ",") != "200,301-302" ||
			r.header.Get("ETag") != `"2"` {
			t.Fatalf("edited %s", r.body)
		}
		// Left out on update, enabled is the default again.
		e.do("PUT", path, e.admin, map[string]any{
			"name": "shop", "kind": "http", "schedule": "@every 1m", "url": "https://shop.example.com/", "fail_after": 7,
		}, "If-Match", `"2"`).decode(t, http.StatusOK, &edited)
		if edited.Version != 3 || edited.FailAfter != 7 || !edited.Enabled {
			t.Fatalf("edited with If-Match: %+v", edited)
		}
		read["version"] = 2
		e.wantStaleWritesRefused(t, path, read)

		e.do("DELETE", path, e.admin, nil, "If-Match", `"3"`).decode(t, http.StatusNoContent, nil)
		e.do("GET", path, e.admin, nil).wantError(t, 404, "not_found", "")
		e.do("DELETE", path, e.admin, nil).wantError(t, 404, "not_found", "")
		e.do("GET", "/api/v1/pollers/x", e.admin, nil).wantError(t, 400, "invalid", "id")
		wantAudit(t, e, "poller", shop.ID, "create", "update", "update", "delete")
		wantAudit(t, e, "poller", db.ID, "create")
	})
}

// The status object is the state the leader stored of the poller's
// scheduled runs.
func TestPollerStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		p := e.newPoller(map[string]any{"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/"})
		idle := e.newPoller(map[string]any{"name": "idle", "kind": "tcp", "schedule": "@every 30s", "address": "db:5432"})
		ran := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
		ls := alerts.Labels{"alertname": "shop", "poller": "shop"}
		err := e.store.SavePollerState(t_ctx(), sources.PollerState{
			PollerID: p.ID, Name: "shop", LastRunAt: ran, NextRunAt: ran.Add(30 * time.Second),
			Outcome: sources.OutcomeFailure, Latency: 1500 * time.Millisecond, LastError: "status 503, want 200-299",
			Failures: 4, Series: []sources.SeriesState{{Fingerprint: ls.Fingerprint(), Labels: ls, Failures: 4, Since: ran, Firing: true}},
			Node: "node-a",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := pollerStatus{
			LastRunAt: &ran, Outcome: "failure", Latency: "1.5s", LastError: "status 503, want 200-299",
			ConsecutiveFailures: 4, Firing: 1, NextRunAt: ptr(ran.Add(30 * time.Second)), Node: "node-a",
		}
		var got poller
		e.do("GET", "/api/v1/pollers/"+itoa(p.ID), e.admin, nil).decode(t, http.StatusOK, &got)
		wantStatus(t, "GET one", got.Status, want)
		var all list[poller]
		e.do("GET", "/api/v1/pollers", e.admin, nil).decode(t, http.StatusOK, &all)
		if len(all.Items) != 2 || all.Items[1].ID != idle.ID {
			t.Fatalf("list %+v", all)
		}
		wantStatus(t, "listed", all.Items[0].Status, want)
		wantStatus(t, "listed without state", all.Items[1].Status, pollerStatus{Latency: "0s"})

		// A disabled poller has no next run, whatever the state says.
		var disabled poller
		e.do("PUT", "/api/v1/pollers/"+itoa(p.ID), e.admin, map[string]any{
			"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/", "enabled": false, "version": 1,
		}).decode(t, http.StatusOK, &disabled)
		want.NextRunAt = nil
		wantStatus(t, "disabled", disabled.Status, want)
	})
}

func ptr[T any](v T) *T { return &v }

// wantStatus compares a status with the one wanted, times by instant.
func wantStatus(t *testing.T, what string, got, want pollerStatus) {
	t.Helper()
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	g, w := got, want
	g.LastRunAt, g.NextRunAt, w.LastRunAt, w.NextRunAt = nil, nil, nil, nil
	if g != w || !sameTime(got.LastRunAt, want.LastRunAt) || !sameTime(got.NextRunAt, want.NextRunAt) {
		t.Errorf("%s: status %s, want %s", what, fmtStatus(got), fmtStatus(want))
	}
}

func fmtStatus(s pollerStatus) string {
	return fmt.Sprintf("%+v last_run_at=%v next_run_at=%v", s, s.LastRunAt, s.NextRunAt)
}

func TestPollerValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		web := func(fields map[string]any) map[string]any {
			body := map[string]any{"name": "p", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/"}
			for k, v := range fields {
				body[k] = v
			}
			return body
		}
		e.wantCreatesRefused(t, "/api/v1/pollers", []refusal{
			{"bad cron spec", web(map[string]any{"schedule": "every minute"}), 400, "invalid", "schedule"},
			{"time zone", web(map[string]any{"schedule": "CRON_TZ=Europe/Paris */5 * * * *"}), 400, "invalid", "schedule"},
			{"bad URL", web(map[string]any{"url": "shop.example.com/healthz"}), 400, "invalid", "url"},
			{"URL with credentials", web(map[string]any{"url": "https://u:p@shop.example.com/"}), 400, "invalid", "url"},
			{"bad regex", web(map[string]any{"expect_body": "(unclosed"}), 400, "invalid", "expect_body"},
			{"fail_after 0", web(map[string]any{"fail_after": 0}), 400, "invalid", "fail_after"},
			{"recover_after 0", web(map[string]any{"recover_after": 0}), 400, "invalid", "recover_after"},
			{"fail_after too big", web(map[string]any{"fail_after": 101}), 400, "invalid", "fail_after"},
			{"unknown kind", web(map[string]any{"kind": "ping"}), 400, "invalid", "kind"},
			{"field of another kind", map[string]any{"name": "p", "kind": "tcp", "schedule": "@every 30s", "address": "db:5432", "url": "https://x.example/"}, 400, "invalid", "url"},
			{"bad status range", web(map[string]any{"expect_status": []string{"299-200"}}), 400, "invalid", "expect_status[0]"},
			{"status out of range", web(map[string]any{"expect_status": []string{"200", "600"}}), 400, "invalid", "expect_status[1]"},
			{"bad duration", web(map[string]any{"timeout": "ten seconds"}), 400, "invalid", "timeout"},
			{"duration as a number", web(map[string]any{"timeout": 10}), 400, "invalid", "timeout"},
			{"timeout too long", web(map[string]any{"timeout": "1h"}), 400, "invalid", "timeout"},
			{"max_latency past the timeout", web(map[string]any{"max_latency": "20s"}), 400, "invalid", "max_latency"},
			{"labels set poller", web(map[string]any{"labels": map[string]string{"poller": "x"}}), 400, "invalid", `labels["poller"]`},
			{"bad label name", web(map[string]any{"labels": map[string]string{"0x": "a"}}), 400, "invalid", `labels["0x"]`},
			{"bad address", map[string]any{"name": "p", "kind": "tcp", "schedule": "@every 30s", "address": "db.internal"}, 400, "invalid", "address"},
			{"missing query", map[string]any{"name": "p", "kind": "prometheus", "schedule": "@every 30s", "url": "http://prometheus:9090"}, 400, "invalid", "query"},
			{"bad header", web(map[string]any{"headers": map[string]string{"Bad Header": "x"}}), 400, "invalid", `headers["Bad Header"]`},
			{"bad method", web(map[string]any{"method": "get"}), 400, "invalid", "method"},
			{"bad JSON path", web(map[string]any{"expect_json": map[string]string{"path": "a..b", "equals": "1"}}), 400, "invalid", "expect_json.path"},
			{"unknown JSON expectation field", web(map[string]any{"expect_json": map[string]string{"path": "a", "value": "1"}}), 400, "invalid", "expect_json.value"},
			{"bad name", web(map[string]any{"name": "My Poller"}), 400, "invalid", "name"},
			{"unknown field", web(map[string]any{"interval": "30s"}), 400, "invalid", "interval"},
		})
		if n := e.pollerCount(); n != 0 {
			t.Fatalf("%d pollers after refused creates, want none", n)
		}

		p := e.newPoller(web(nil))
		e.wantCreatesRefused(t, "/api/v1/pollers", []refusal{{"name taken", web(nil), 409, "conflict", "name"}})

		// A refused update changes nothing either.
		before := e.auditCount()
		path := "/api/v1/pollers/" + itoa(p.ID)
		e.do("PUT", path, e.admin, web(map[string]any{"fail_after": 0, "version": 1})).wantError(t, 400, "invalid", "fail_after")
		e.do("PUT", path, e.admin, web(map[string]any{"schedule": "nope", "version": 1})).wantError(t, 400, "invalid", "schedule")
		e.do("PUT", path, e.admin, web(nil)).wantError(t, 400, "invalid", "version")
		var got poller
		e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &got)
		if got.Version != 1 || got.FailAfter != 3 || e.auditCount() != before {
			t.Errorf("after refused updates: %+v, %d new audit rows", got, e.auditCount()-before)
		}
	})
}

// Only admins see or touch pollers.
func TestPollersAdminOnly(t *testing.T) {
	e := start(t, testdb.SQLite(t))
	_, responder := e.newResponder("rita")
	p := e.newPoller(map[string]any{"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/"})
	path := "/api/v1/pollers/" + itoa(p.ID)
	body := map[string]any{"name": "shop", "kind": "http", "schedule": "@every 1m", "url": "https://shop.example.com/", "version": 1}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/pollers", nil},
		{"POST", "/api/v1/pollers", body},
		{"GET", path, nil},
		{"PUT", path, body},
		{"DELETE", path, nil},
		{"POST", path + "/run", nil},
	} {
		e.do(req.method, req.path, responder, req.body).wantError(t, 403, "forbidden", "")
		e.do(req.method, req.path, "", req.body).wantError(t, 401, "unauthorized", "")
	}
	var got poller
	e.do("GET", path, e.admin, nil).decode(t, http.StatusOK, &got)
	if got.Version != 1 || e.pollerCount() != 1 {
		t.Errorf("after a responder's tries: %+v and %d pollers, want version 1 alone", got, e.pollerCount())
	}
}

// startWithChecker starts a server whose /run checks with a real checker.
func startWithChecker(t *testing.T, target testdb.Target) *env {
	checker := sources.NewChecker(sources.CheckerOptions{})
	t.Cleanup(checker.CloseIdleConnections)
	return start(t, target, func(o *api.Options) { o.Pollers = checker })
}

// POST /run runs the check now, against the real target, and changes no
// state.
func TestPollerRun(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		var down atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprint(w, `{"status":"ok"}`)
		}))
		t.Cleanup(srv.Close)
		e := startWithChecker(t, target)

		web := e.newPoller(map[string]any{"name": "web", "kind": "http", "schedule": "@every 30s", "url": srv.URL + "/healthz", "expect_body": `"ok"`})
		run := func(p poller) checkResult {
			t.Helper()
			var res checkResult
			e.do("POST", "/api/v1/pollers/"+itoa(p.ID)+"/run", e.admin, nil).decode(t, http.StatusOK, &res)
			return res
		}
		if res := run(web); res.Outcome != "success" || res.StatusCode != 200 || res.Error != "" || res.At.IsZero() || res.Latency == "" {
			t.Errorf("run against a healthy target: %+v", res)
		}
		down.Store(true)
		if res := run(web); res.Outcome != "failure" || res.StatusCode != 503 || !strings.Contains(res.Error, "503") {
			t.Errorf("run against a failing target: %+v", res)
		}

		// A closed port, over tcp and over http, and a disabled poller runs too.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		l.Close()
		port := e.newPoller(map[string]any{"name": "port", "kind": "tcp", "schedule": "@every 30s", "address": closed, "enabled": false})
		if res := run(port); res.Outcome != "failure" || res.Error == "" {
			t.Errorf("run against a closed port: %+v", res)
		}
		gone := e.newPoller(map[string]any{"name": "gone", "kind": "http", "schedule": "@every 30s", "url": "http://" + closed + "/"})
		if res := run(gone); res.Outcome != "failure" || res.Error == "" {
			t.Errorf("http run against a closed port: %+v", res)
		}
		open := e.newPoller(map[string]any{"name": "open", "kind": "tcp", "schedule": "@every 30s", "address": srv.Listener.Addr().String()})
		if res := run(open); res.Outcome != "success" {
			t.Errorf("run against an open port: %+v", res)
		}

		// A dry run: no state, no alert, no audit row.
		states, err := e.store.PollerStates(t_ctx(), nil)
		if err != nil || len(states) != 0 {
			t.Errorf("states after dry runs: %+v, %v; want none", states, err)
		}
		if got := e.alerts(""); len(got) != 0 {
			t.Errorf("alerts after dry runs: %+v, want none", got)
		}
		wantAudit(t, e, "poller", web.ID, "create")
		e.do("POST", "/api/v1/pollers/999/run", e.admin, nil).wantError(t, 404, "not_found", "")
	})
}

// Without a checker, /run is unavailable, as other 503s, with Retry-After.
func TestPollerRunWithoutChecker(t *testing.T) {
	e := start(t, testdb.SQLite(t))
	p := e.newPoller(map[string]any{"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/"})
	r := e.do("POST", "/api/v1/pollers/"+itoa(p.ID)+"/run", e.admin, nil)
	r.wantError(t, 503, "unavailable", "")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

// Poller changes go through the config-update queue, whose subscribers
// hear of them: connected admins get config messages.
func TestPollerChangesReachConfigQueue(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		admin := e.connectWS(t, "admin", wsDial{token: e.admin})
		p := e.newPoller(map[string]any{"name": "shop", "kind": "http", "schedule": "@every 30s", "url": "https://shop.example.com/"})
		if m := admin.nextOf("config"); m.Change != "poller.create" || m.ID != p.ID {
			t.Errorf("admin got %s, want config poller.create of poller %d", m, p.ID)
		}
		path := "/api/v1/pollers/" + itoa(p.ID)
		e.do("PUT", path, e.admin, map[string]any{
			"name": "shop", "kind": "http", "schedule": "@every 1m", "url": "https://shop.example.com/", "version": 1,
		}).decode(t, http.StatusOK, nil)
		if m := admin.nextOf("config"); m.Change != "poller.update" || m.ID != p.ID {
			t.Errorf("admin got %s, want config poller.update of poller %d", m, p.ID)
		}
		e.do("DELETE", path, e.admin, nil).decode(t, http.StatusNoContent, nil)
		if m := admin.nextOf("config"); m.Change != "poller.delete" || m.ID != p.ID {
			t.Errorf("admin got %s, want config poller.delete of poller %d", m, p.ID)
		}
	})
}

// readiness is the answer of /readyz.
type readiness struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Pollers *struct {
		Node        string     `json:"node"`
		Leading     bool       `json:"leading"`
		Leader      string     `json:"leader"`
		LeaderSince *time.Time `json:"leader_since"`
	} `json:"pollers"`
}

// /readyz says which node runs the pollers, from a real election on the
// store; readiness does not depend on leading.
func TestReadyzPollers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		var election *storage.Election
		e := start(t, target, func(o *api.Options) {
			// A lock of this test's own: MySQL's named locks are the
			// server's, shared by every database on it.
			name := fmt.Sprintf("tocsin.api-test.%d", time.Now().UnixNano())
			election = o.Store.(*storage.DB).NewElection(storage.ElectionOptions{Name: name, Node: "node-a", CheckInterval: 50 * time.Millisecond})
			o.Leadership = election
		})
		var ready readiness
		e.do("GET", "/readyz", "", nil).decode(t, http.StatusOK, &ready)
		if ready.Status != "ready" || ready.Checks["store"] != "ok" || ready.Pollers == nil ||
			ready.Pollers.Node != "node-a" || ready.Pollers.Leading || ready.Pollers.Leader != "" || ready.Pollers.LeaderSince != nil {
			t.Fatalf("readyz before the election: %+v %+v", ready, ready.Pollers)
		}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		led := make(chan struct{})
		go func() {
			done <- election.Run(ctx, func(ctx context.Context) {
				close(led)
				<-ctx.Done()
			})
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("election: %v", err)
			}
		})
		select {
		case <-led:
		case <-time.After(10 * time.Second):
			t.Fatal("the election's only node did not lead within 10s")
		}
		e.do("GET", "/readyz", "", nil).decode(t, http.StatusOK, &ready)
		if p := ready.Pollers; p == nil || p.Node != "node-a" || !p.Leading || p.Leader != "node-a" || p.LeaderSince == nil || p.LeaderSince.IsZero() {
			t.Errorf("readyz while leading: %+v", p)
		}
	})
}

// Without a Leadership, /readyz has no pollers detail.
func TestReadyzWithoutLeadership(t *testing.T) {
	e := start(t, testdb.SQLite(t))
	r := e.do("GET", "/readyz", "", nil)
	r.decode(t, http.StatusOK, nil)
	if strings.Contains(string(r.body), "pollers") {
		t.Errorf("readyz %s has a pollers detail without a Leadership", r.body)
	}
}
