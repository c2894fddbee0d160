package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/fakeclock"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/push"
	"github.com/tocsinhq/tocsin/storage"
)

// maxBody is the body limit the test servers run with.
const maxBody = 4096

// env is a running API on a real listener, over a real store.
type env struct {
	t      testing.TB
	target testdb.Target
	url    string
	client *http.Client
	store  *storage.DB
	clock  *fakeclock.Clock
	admin  string // the bootstrap admin's token
	log    *testlog.Buffer
	// hub is the live push hub the server runs, and metrics the registry
	// that the server, the queues and the hub register on.
	hub     *push.Hub
	metrics *prometheus.Registry
}

// startOptions configure the pipeline a test server runs.
type startOptions struct {
	// alertQueue sets the alert queue's options after the defaults.
	alertQueue func(*alerts.AlertQueueOptions)
	// api sets the server's options after the defaults.
	api func(*api.Options)
	// push sets the hub's options after the defaults.
	push func(*push.Options)
}

// forEachStore runs fn against an API server on each test database.
func forEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		fn(t, start(t, target))
	})
}

// start serves the API on 127.0.0.1 over a fresh, bootstrapped store, with
// the config queue and the alert queue running as the app runs them.
func start(t testing.TB, target testdb.Target, options ...func(*api.Options)) *env {
	t.Helper()
	o := startOptions{}
	if len(options) > 0 {
		o.api = func(opts *api.Options) {
			for _, f := range options {
				f(opts)
			}
		}
	}
	return startWith(t, target, o)
}

// startWith is start with the pipeline's options.
func startWith(t testing.TB, target testdb.Target, o startOptions) *env {
	t.Helper()
	ctx := context.Background()
	clk := fakeclock.New(time.Now().UTC())
	store, err := storage.Open(ctx, storage.Options{Driver: target.Driver, DSN: target.DSN, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	token, _, err := store.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// The queues and the push hub run as the app runs them, over the same
	// store and clock, in goroutines the test owns: the hub is the alert
	// queue's Notifier and the config queue's Subscriber, and acts for
	// clients through the alert queue. They are stopped, and waited for,
	// after the hub has closed its connections and the server has closed,
	// and before the store closes.
	metrics := prometheus.NewRegistry()
	actor := &lateActor{}
	pushOpts := push.Options{Store: store, Alerts: actor, Logger: logger, Metrics: metrics}
	if o.push != nil {
		o.push(&pushOpts)
	}
	hub := push.NewHub(pushOpts)
	queue := alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: store, Size: 16, Subscriber: hub, Logger: logger, Now: clk.Now})
	aqOpts := alerts.AlertQueueOptions{Store: store, Routing: queue, Notifier: hub, Size: 1000, Workers: 4, MaxBatch: 100, Logger: logger, Metrics: metrics}
	if o.alertQueue != nil {
		o.alertQueue(&aqOpts)
	}
	alertQueue := alerts.NewAlertQueue(aqOpts)
	actor.q = alertQueue
	queueCtx, stopQueues := context.WithCancel(ctx)
	queueDone := make(chan error, 3)
	go func() { queueDone <- queue.Run(queueCtx) }()
	go func() { queueDone <- alertQueue.Run(queueCtx) }()
	go func() { queueDone <- hub.Run(queueCtx) }()
	var srv *httptest.Server
	t.Cleanup(func() {
		shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		hub.Shutdown(shutdownCtx)
		cancel()
		if srv != nil {
			srv.Close()
		}
		stopQueues()
		for range 3 {
			if err := <-queueDone; err != nil {
				t.Errorf("queue or hub: %v", err)
			}
		}
		store.Close()
	})

	opts := api.Options{
		Store:        store,
		Logger:       logger,
		Metrics:      metrics,
		MaxBodyBytes: maxBody,
		Rules:        queue,
		Alerts:       alertQueue,
		Now:          clk.Now,
		Push:         hub,
	}
	if o.api != nil {
		o.api(&opts)
	}
	srv = httptest.NewServer(api.New(opts).Handler())
	return &env{t: t, target: target, url: srv.URL, client: srv.Client(), store: store, clock: clk, admin: token, log: log, hub: hub, metrics: metrics}
}

// lateActor is the hub's Actor: the alert queue, which is built after the
// hub because the hub is its Notifier. q is set before anything runs.
type lateActor struct{ q *alerts.AlertQueue }

func (a *lateActor) Act(ctx context.Context, act alerts.Action) (alerts.Alert, error) {
	return a.q.Act(ctx, act)
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with a bearer token (none when token is "") and a JSON
// body (none when body is nil; a string or []byte is sent as is).
func (e *env) do(method, path, token string, body any, header ...string) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode decodes the response body into v, failing on a status other than want.
func (r response) decode(t testing.TB, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// apiError is the JSON error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// wantError checks that r is an error response in the JSON error shape with
// the given status, code and field.
func (r response) wantError(t testing.TB, status int, code, field string) apiError {
	t.Helper()
	var e apiError
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s is not the JSON error shape: %v", r.body, err)
	}
	if e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		t.Errorf("error %+v, want code %q field %q and a message", e.Error, code, field)
	}
	return e
}

// user is a user as the API shows it.
type user struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Version int64  `json:"version"`
}

// token is a token as the API shows it; Token only in the create response.
type token struct {
	ID        int64      `json:"id"`
	UserID    int64      `json:"user_id"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
	Version   int64      `json:"version"`
	Token     string     `json:"token"`
}

// list is a page of a list.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// newResponder creates a responder and a token for it, returning both.
func (e *env) newResponder(name string) (user, string) {
	e.t.Helper()
	var u user
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"name": name, "role": "responder"}).decode(e.t, http.StatusCreated, &u)
	var tk token
	e.do("POST", "/api/v1/tokens", e.admin, map[string]any{"user_id": u.ID, "name": "laptop"}).decode(e.t, http.StatusCreated, &tk)
	return u, tk.Token
}

// t_ctx is the context of store calls made by tests.
func t_ctx() context.Context { return context.Background() }

// pageAfter is a page of up to 1000 after cursor.
func pageAfter(cursor int64) storage.Page { return storage.Page{Cursor: cursor, Limit: 1000} }

// team is a team as the API shows it.
type team struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Members   []int64 `json:"members"`
	ManagedBy string  `json:"managed_by"`
	Version   int64   `json:"version"`
}

// route is a route as the API shows it.
type route struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Matchers  []string `json:"matchers"`
	Users     []int64  `json:"users"`
	Teams     []int64  `json:"teams"`
	Continue  bool     `json:"continue"`
	Enabled   bool     `json:"enabled"`
	Position  int64    `json:"position"`
	ManagedBy string   `json:"managed_by"`
	Version   int64    `json:"version"`
}

// silence is a silence as the API shows it.
type silence struct {
	ID          int64     `json:"id"`
	Matchers    []string  `json:"matchers"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	CreatedBy   string    `json:"created_by"`
	CreatedByID int64     `json:"created_by_id"`
	Comment     string    `json:"comment"`
	State       string    `json:"state"`
	Version     int64     `json:"version"`
}

// source is a source as the API shows it; Secret only in a create response,
// when tocsin made the secret.
type source struct {
	ID              int64          `json:"id"`
	Name            string         `json:"name"`
	Kind            string         `json:"kind"`
	Auth            string         `json:"auth"`
	Username        string         `json:"username"`
	SignatureHeader string         `json:"signature_header"`
	Mapping         map[string]any `json:"mapping"`
	ManagedBy       string         `json:"managed_by"`
	Version         int64          `json:"version"`
	Secret          string         `json:"secret"`
}

// resolution is the answer to POST /routes/test.
type resolution struct {
	SnapshotVersion uint64 `json:"snapshot_version"`
	Routes          []struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Continue bool   `json:"continue"`
	} `json:"routes"`
	Users    []int64 `json:"users"`
	Silenced bool    `json:"silenced"`
	Silences []int64 `json:"silences"`
}

// routeIDs returns the IDs of the routes that matched.
func (r resolution) routeIDs() []int64 {
	ids := []int64{}
	for _, m := range r.Routes {
		ids = append(ids, m.ID)
	}
	return ids
}

// test asks POST /routes/test, as the admin, what the rules decide for labels.
func (e *env) test(labels map[string]string) resolution {
	e.t.Helper()
	var res resolution
	e.do("POST", "/api/v1/routes/test", e.admin, map[string]any{"labels": labels}).decode(e.t, http.StatusOK, &res)
	return res
}

// newTeam creates a team as the admin.
func (e *env) newTeam(name string, members ...int64) team {
	e.t.Helper()
	var t team
	e.do("POST", "/api/v1/teams", e.admin, map[string]any{"name": name, "members": members}).decode(e.t, http.StatusCreated, &t)
	return t
}

// newRoute creates a route as the admin from the fields in body.
func (e *env) newRoute(body map[string]any) route {
	e.t.Helper()
	var r route
	e.do("POST", "/api/v1/routes", e.admin, body).decode(e.t, http.StatusCreated, &r)
	return r
}

// auditOf returns the audit entries about one object, newest first.
func (e *env) auditOf(objectType string, id int64) []storage.AuditEntry {
	e.t.Helper()
	entries, err := e.store.AuditLog(t_ctx(), pageAfter(0))
	if err != nil {
		e.t.Fatal(err)
	}
	var of []storage.AuditEntry
	for _, a := range entries {
		if a.ObjectType == objectType && a.ObjectID == id {
			of = append(of, a)
		}
	}
	return of
}

// refusal is a body that a create must refuse, and the error it must get.
type refusal struct {
	name   string
	body   any
	status int
	code   string
	field  string
}

// wantCreatesRefused posts each refusal's body to path as the admin, in a
// subtest of its name, and checks the error and that no audit row was
// written: a refused request changes nothing.
func (e *env) wantCreatesRefused(t *testing.T, path string, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.auditCount()
			e.do("POST", path, e.admin, tt.body).wantError(t, tt.status, tt.code, tt.field)
			if after := e.auditCount(); after != before {
				t.Errorf("audit rows went from %d to %d: a refused request changed something", before, after)
			}
		})
	}
}

// wantStaleWritesRefused checks that writes at a stale version of the object
// at path are refused with a conflict on version: a PUT of read, which holds
// the stale version, and a PUT of read without it and a DELETE, both with
// If-Match naming it. It deletes read's version.
func (e *env) wantStaleWritesRefused(t *testing.T, path string, read map[string]any) {
	t.Helper()
	stale := fmt.Sprintf(`"%v"`, read["version"])
	e.do("PUT", path, e.admin, read).wantError(t, 409, "conflict", "version")
	delete(read, "version")
	e.do("PUT", path, e.admin, read, "If-Match", stale).wantError(t, 409, "conflict", "version")
	e.do("DELETE", path, e.admin, nil, "If-Match", stale).wantError(t, 409, "conflict", "version")
}
