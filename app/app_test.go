package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/tocsinhq/tocsin/app"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/storage"
)

// TestMain fails the package when a test leaves a goroutine behind: a store
// that New or Run did not close, a server goroutine Run did not wait for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for something the app should do promptly.
const wait = 10 * time.Second

// tokenLine matches the first-start admin token in a text log.
var tokenLine = regexp.MustCompile(`token=(tsn_[A-Za-z0-9_-]{43})`)

// testConfig is the default configuration on target, listening on a free
// loopback port.
func testConfig(target testdb.Target) config.Config {
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Storage.Driver, cfg.Storage.DSN = target.Driver, target.DSN
	return cfg
}

// newLogger returns a text logger at debug level into a fresh buffer.
func newLogger() (*slog.Logger, *testlog.Buffer) {
	buf := &testlog.Buffer{}
	return app.NewLogger(buf, config.Log{Level: "debug", Format: "text"}), buf
}

// running is an App serving in a goroutine.
type running struct {
	app    *app.App
	log    *testlog.Buffer
	url    string
	cancel context.CancelFunc
	done   chan error // receives Run's result
}

// start creates an App with cfg and runs it until the test ends or stop.
func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	logger, buf := newLogger()
	a, err := app.New(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, buf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, log: buf, url: "http://" + a.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Errorf("Run did not return within %s of the test's end", wait)
		}
	})
	return r
}

// stop cancels Run's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatalf("Run did not return within %s of cancel; log:\n%s", wait, r.log)
		return nil
	}
}

// newClient returns a client whose connections are closed when the test ends.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait}
}

// get sends a GET with a bearer token and returns the status and body.
func get(t *testing.T, client *http.Client, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, body
}

// userNames lists the names in a GET /api/v1/users answer.
func userNames(t *testing.T, body []byte) []string {
	t.Helper()
	var page struct {
		Items []auth.User `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("decode users page %s: %v", body, err)
	}
	var names []string
	for _, u := range page.Items {
		names = append(names, u.Name)
	}
	return names
}

// openStore opens target with the storage package, as a later tocsin would.
func openStore(t *testing.T, target testdb.Target) *storage.DB {
	t.Helper()
	store, err := storage.Open(t.Context(), storage.Options{Driver: target.Driver, DSN: target.DSN})
	if err != nil {
		t.Fatalf("reopen the store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// openRaw opens target with database/sql, bypassing the store.
func openRaw(t *testing.T, target testdb.Target) *sql.DB {
	t.Helper()
	raw, err := sql.Open(target.Driver, target.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// checkStoreClosed checks that nothing holds target open any more. The
// package's goroutine check catches a pool that was never closed; this
// catches it on the database's side too. SQLite deletes the write-ahead log
// when the last connection to a database in WAL mode closes; MySQL lists
// every open connection in its process list.
func checkStoreClosed(t *testing.T, target testdb.Target) {
	t.Helper()
	switch target.Driver {
	case storage.DriverSQLite:
		if _, err := os.Stat(target.DSN + "-wal"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s-wal still exists (stat: %v): a connection to the store is still open", target.DSN, err)
		}
	case storage.DriverMySQL:
		cfg, err := mysql.ParseDSN(target.DSN)
		if err != nil {
			t.Fatal(err)
		}
		dbName := cfg.DBName
		cfg.DBName = ""
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		deadline := time.Now().Add(wait)
		for {
			var n int
			if err := admin.QueryRowContext(t.Context(),
				`SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?`, dbName).Scan(&n); err != nil {
				t.Fatalf("read the process list: %v", err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d connection(s) to %s still open %s after the app stopped", n, dbName, wait)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitRefused polls addr until a dial is refused: the listener is closed.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			// Close at once: a connection that sends nothing would hold
			// Shutdown for up to 5 seconds.
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %s after cancel (last dial: %v)", addr, wait, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowPost is a POST whose JSON body the test writes piece by piece.
type slowPost struct {
	body    *io.PipeWriter
	reading chan struct{} // closed when the handler starts reading the body
	result  chan postResult
}

type postResult struct {
	status int
	body   []byte
	err    error
}

// startSlowPost sends POST url with an admin token and a body written later
// through the returned pipe. It asks for 100-continue, which the server
// sends when the handler first reads the body, so closing reading tells
// that the request got past routing and authentication and is in the
// handler.
func startSlowPost(t *testing.T, client *http.Client, url, token string) *slowPost {
	t.Helper()
	pr, pw := io.Pipe()
	p := &slowPost{body: pw, reading: make(chan struct{}), result: make(chan postResult, 1)}
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	var once sync.Once
	trace := &httptrace.ClientTrace{Got100Continue: func() { once.Do(func() { close(p.reading) }) }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			p.result <- postResult{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		p.result <- postResult{status: resp.StatusCode, body: body, err: err}
	}()
	select {
	case <-p.reading:
	case r := <-p.result:
		t.Fatalf("POST %s ended before the handler read its body: status %d, %s, %v", url, r.status, r.body, r.err)
	case <-time.After(wait):
		t.Fatalf("POST %s: no 100 Continue within %s", url, wait)
	}
	return p
}

// write writes s to the request body; it returns once the client took it.
func (p *slowPost) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.body, s); err != nil {
		t.Fatalf("write the request body: %v", err)
	}
}

// wait returns the request's outcome.
func (p *slowPost) wait(t *testing.T) postResult {
	t.Helper()
	select {
	case r := <-p.result:
		return r
	case <-time.After(wait):
		t.Fatalf("no answer to the POST within %s", wait)
		return postResult{}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		r := start(t, testConfig(target))
		addr := r.app.Addr().String()
		if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("Addr() = %q, want 127.0.0.1 and the port bound", addr)
		}
		logged := testlog.WaitFor(t, r.log, regexp.MustCompile(`msg="tocsin listening" addr=(\S+) store=(\S+)`), nil)
		if logged[1] != addr || logged[2] != target.Driver {
			t.Errorf("listening line says addr=%s store=%s, want addr=%s store=%s", logged[1], logged[2], addr, target.Driver)
		}
		client := newClient(t)
		if status, body := get(t, client, r.url+"/healthz", ""); status != http.StatusOK {
			t.Fatalf("GET /healthz = %d %s, want 200", status, body)
		}
		if status, body := get(t, client, r.url+"/readyz", ""); status != http.StatusOK {
			t.Fatalf("GET /readyz = %d %s, want 200", status, body)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		if !strings.Contains(r.log.String(), `msg="tocsin stopped"`) {
			t.Errorf("no stop line in the log:\n%s", r.log)
		}
		checkStoreClosed(t, target)
		if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s after Run returned: %v, want connection refused", addr, err)
		}
	})
}

// Run with a context cancelled before it starts still serves nothing,
// returns nil and releases the listener and the store.
func TestRunCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	target := testdb.SQLite(t)
	logger, buf := newLogger()
	a, err := app.New(t.Context(), testConfig(target), logger)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.Run(canceled()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run(cancelled context) = %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run(cancelled context) did not return within %s; log:\n%s", wait, buf)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s after Run returned: %v, want connection refused", addr, err)
	}
	checkStoreClosed(t, target)
}

// A request in flight when shutdown starts is answered, and what it wrote is
// committed before the store is closed.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		cfg := testConfig(target)
		cfg.Server.ShutdownTimeout = time.Minute
		r := start(t, cfg)
		admin := testlog.WaitFor(t, r.log, tokenLine, nil)[1]
		client := newClient(t)

		post := startSlowPost(t, client, r.url+"/api/v1/users", admin)
		const body = `{"name": "late", "role": "responder"}`
		post.write(t, body[:len(body)/2])
		r.cancel()
		waitRefused(t, r.app.Addr().String()) // Shutdown has begun
		post.write(t, body[len(body)/2:])
		post.body.Close()

		res := post.wait(t)
		if res.err != nil || res.status != http.StatusCreated {
			t.Fatalf("in-flight POST /api/v1/users = %d %s, %v; want 201\nlog:\n%s", res.status, res.body, res.err, r.log)
		}
		var created auth.User
		if err := json.Unmarshal(res.body, &created); err != nil || created.Name != "late" || created.ID == 0 {
			t.Fatalf("in-flight POST answered %s (%v), want the new user", res.body, err)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run after a graceful shutdown = %v, want nil", err)
		}
		checkStoreClosed(t, target)

		store := openStore(t, target)
		u, err := store.UserByName(t.Context(), "late")
		if err != nil {
			t.Fatalf("the user acknowledged with 201 is not in the store: %v", err)
		}
		if u.ID != created.ID || u.Role != auth.RoleResponder {
			t.Errorf("stored user %+v, want id %d role responder", u, created.ID)
		}
	})
}

// A request that does not finish within server.shutdown_timeout is cut, and
// Run returns anyway.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	target := testdb.SQLite(t)
	cfg := testConfig(target)
	cfg.Server.ShutdownTimeout = 50 * time.Millisecond
	r := start(t, cfg)
	admin := testlog.WaitFor(t, r.log, tokenLine, nil)[1]
	client := newClient(t)

	post := startSlowPost(t, client, r.url+"/api/v1/users", admin)
	post.write(t, `{"name": "never", `) // and never the rest
	began := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		t.Logf("Run returned %v after %s", err, time.Since(began))
	case <-time.After(wait):
		t.Fatalf("Run did not return within %s of cancel with a stuck request and shutdown_timeout %s", wait, cfg.Server.ShutdownTimeout)
	}
	if !strings.Contains(r.log.String(), "did not finish in time") {
		t.Errorf("the log does not say in-flight requests were cut:\n%s", r.log)
	}
	post.body.CloseWithError(errors.New("client gives up"))
	if res := post.wait(t); res.err == nil && res.status == http.StatusCreated {
		t.Errorf("the cut request was answered 201: %s", res.body)
	}
	checkStoreClosed(t, target)
	if _, err := openStore(t, target).UserByName(t.Context(), "never"); err == nil {
		t.Errorf("the cut request created its user")
	}
}

// The first start creates an admin and logs its token once; later starts on
// the same database log none.
func TestFirstStartLogsAdminToken(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		client := newClient(t)
		first := start(t, testConfig(target))
		m := testlog.WaitFor(t, first.log, regexp.MustCompile(`level=WARN .*`+tokenLine.String()), nil)
		admin := m[1]
		status, body := get(t, client, first.url+"/api/v1/users", admin)
		if status != http.StatusOK {
			t.Fatalf("GET /api/v1/users with the logged token = %d %s, want 200", status, body)
		}
		if names := userNames(t, body); len(names) != 1 || names[0] != "admin" {
			t.Errorf("users after the first start = %v, want [admin]", names)
		}
		if status, _ := get(t, client, first.url+"/api/v1/users", ""); status != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/users without a token = %d, want 401", status)
		}
		if err := first.stop(t); err != nil {
			t.Fatalf("first Run = %v", err)
		}

		second := start(t, testConfig(target))
		testlog.WaitFor(t, second.log, regexp.MustCompile(`msg="tocsin listening"`), nil)
		if strings.Contains(second.log.String(), "token=") {
			t.Errorf("the second start logged a token:\n%s", second.log)
		}
		if status, body := get(t, client, second.url+"/api/v1/users", admin); status != http.StatusOK {
			t.Errorf("the first start's token on the second start: %d %s, want 200", status, body)
		}
		if err := second.stop(t); err != nil {
			t.Fatalf("second Run = %v", err)
		}
	})
}

// New fails on a taken listen address, closes the store it opened, and
// leaves no admin behind whose token nobody will see.
func TestNewListenAddressTaken(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := testConfig(target)
		cfg.Server.Listen = ln.Addr().String()
		logger, buf := newLogger()
		a, err := app.New(t.Context(), cfg, logger)
		if err == nil {
			t.Fatalf("New on the taken address %s succeeded (listening on %s)", cfg.Server.Listen, a.Addr())
		}
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "server.listen") ||
			!strings.Contains(err.Error(), cfg.Server.Listen) {
			t.Errorf("New on a taken address: %q; want EADDRINUSE naming server.listen and %s", err, cfg.Server.Listen)
		}
		checkStoreClosed(t, target)
		if strings.Contains(buf.String(), "token=") {
			t.Errorf("a start that failed logged the admin token:\n%s", buf)
		}

		// The next start that succeeds is the first one.
		r := start(t, testConfig(target))
		testlog.WaitFor(t, r.log, tokenLine, nil)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		ctx := t.Context()
		store, err := storage.Open(ctx, storage.Options{Driver: target.Driver, DSN: target.DSN})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		_, latest, err := store.SchemaVersion(ctx)
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
		raw := openRaw(t, target)
		if _, err := raw.ExecContext(ctx,
			`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`, latest+1, true); err != nil {
			t.Fatalf("insert schema version %d: %v", latest+1, err)
		}
		raw.Close()

		logger, buf := newLogger()
		a, err := app.New(ctx, testConfig(target), logger)
		if err == nil {
			a.Run(canceled())
			t.Fatalf("New on a database at schema version %d (this binary knows %d) succeeded", latest+1, latest)
		}
		if !errors.Is(err, storage.ErrSchemaTooNew) {
			t.Errorf("New on a newer schema: %v, want storage.ErrSchemaTooNew", err)
		}
		if strings.Contains(buf.String(), "token=") {
			t.Errorf("New on a newer schema created an admin:\n%s", buf)
		}
		checkStoreClosed(t, target)
	})
}

// canceled returns a context that is already canceled.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  config.Log
		// json: the lines must be JSON objects.
		json bool
		// logged: the levels that must appear; the others must not.
		logged []slog.Level
	}{
		{name: "json info", cfg: config.Log{Level: "info", Format: "json"}, json: true,
			logged: []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError}},
		{name: "text warn", cfg: config.Log{Level: "warn", Format: "text"},
			logged: []slog.Level{slog.LevelWarn, slog.LevelError}},
		{name: "json warn", cfg: config.Log{Level: "warn", Format: "json"}, json: true,
			logged: []slog.Level{slog.LevelWarn, slog.LevelError}},
		{name: "text debug", cfg: config.Log{Level: "debug", Format: "text"},
			logged: []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}},
		{name: "json error", cfg: config.Log{Level: "error", Format: "json"}, json: true,
			logged: []slog.Level{slog.LevelError}},
	}
	all := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := app.NewLogger(&buf, c.cfg)
			for _, level := range all {
				logger.Log(context.Background(), level, "hello", "level_name", level.String(), "n", 7)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(c.logged) {
				t.Fatalf("%d lines logged, want %d (%v):\n%s", len(lines), len(c.logged), c.logged, buf.String())
			}
			for i, line := range lines {
				want := c.logged[i].String()
				if c.json {
					var got map[string]any
					if err := json.Unmarshal([]byte(line), &got); err != nil {
						t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
					}
					if got["level"] != want || got["msg"] != "hello" || got["level_name"] != want || got["n"] != float64(7) {
						t.Errorf("line %d = %v, want level %s, msg hello, level_name %s, n 7", i+1, got, want, want)
					}
				} else {
					if json.Valid([]byte(line)) {
						t.Errorf("line %d is JSON in text format: %s", i+1, line)
					}
					if wantPart := fmt.Sprintf("level=%s msg=hello level_name=%s n=7", want, want); !strings.Contains(line, wantPart) {
						t.Errorf("line %d = %q, want it to contain %q", i+1, line, wantPart)
					}
				}
			}
		})
	}
}

// TestFirstAdminTokenShownAtAnyLevel checks that a log level above warn does
// not swallow the first admin's token, which is shown only once.
func TestFirstAdminTokenShownAtAnyLevel(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			target := testdb.SQLite(t)
			cfg := testConfig(target)
			buf := &testlog.Buffer{}
			a, err := app.New(t.Context(), cfg, app.NewLogger(buf, config.Log{Level: "error", Format: format}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := a.Run(ctx); err != nil {
				t.Fatal(err)
			}
			token := regexp.MustCompile(`tsn_[A-Za-z0-9_-]{43}`).FindString(buf.String())
			if token == "" {
				t.Fatalf("at level error the first admin's token was not logged:\n%s", buf)
			}
			store := openStore(t, target)
			if _, _, err := store.Authenticate(t.Context(), token); err != nil {
				t.Errorf("the logged token does not authenticate: %v", err)
			}
			if strings.Contains(buf.String(), "tocsin listening") {
				t.Errorf("level error let an info line through:\n%s", buf)
			}
		})
	}
}
