package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/storage"
)

// wait bounds every wait for something tocsin should do promptly.
const wait = 10 * time.Second

// The log lines a test reads from serve's stderr.
var (
	listeningLine = regexp.MustCompile(`msg="tocsin listening" addr=(\S+) store=(\S+)`)
	tokenLine     = regexp.MustCompile(`level=WARN .*token=(tsn_[A-Za-z0-9_-]{43})`)
	// aToken is what token create prints: the token and nothing else.
	aToken = regexp.MustCompile(`^tsn_[A-Za-z0-9_-]{43}$`)
)

// site is a directory with a config file, on a test database.
type site struct {
	dir    string
	config string            // the config file's path
	env    map[string]string // what getenv returns
	target testdb.Target
	sqlite string // the SQLite file the config file names
}

// newSite writes a config file listening on 127.0.0.1:0 with a SQLite file
// in a temp directory. For a MySQL target, the environment overrides the
// file's storage, the way an operator keeps a password out of the file.
func newSite(t *testing.T, target testdb.Target) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{dir: dir, config: filepath.Join(dir, "tocsin.yaml"), env: map[string]string{}, target: target}
	s.sqlite = filepath.Join(dir, "data", "tocsin.db")
	if target.Driver == storage.DriverSQLite {
		s.sqlite = target.DSN
	} else {
		s.env["TOCSIN_STORAGE_DRIVER"] = target.Driver
		s.env["TOCSIN_STORAGE_DSN"] = target.DSN
	}
	writeFile(t, s.config, fmt.Sprintf(`# written by %s
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
log:
  level: info
storage:
  driver: sqlite
  dsn: %q
`, t.Name(), s.sqlite))
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// getenv returns a getenv that reads from m only.
func getenv(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// output is what a run of the command line left.
type output struct {
	stdout, stderr string
	err            error
}

// cli runs the command line args (without the program name) with env. It
// stops the command after a while, so that a serve started by mistake ends.
func cli(t *testing.T, env map[string]string, args ...string) output {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var stdout, stderr testlog.Buffer
	err := run(ctx, append([]string{"tocsin"}, args...), getenv(env), &stdout, &stderr)
	return output{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// tocsin runs a command of the site, adding --config.
func (s *site) tocsin(t *testing.T, args ...string) output {
	t.Helper()
	return cli(t, s.env, append(args, "--config", s.config)...)
}

// store opens the site's database as a later tocsin would.
func (s *site) store(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), storage.Options{Driver: s.target.Driver, DSN: s.target.DSN})
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// server is `tocsin serve` running in a goroutine.
type server struct {
	stderr *testlog.Buffer
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	err    error         // what run returned, once done is closed
	addr   string
	store  string // the store driver it logged
	admin  string // the first admin's token, if it logged one
}

// serve runs `tocsin serve --config FILE` until stop or the test's end, and
// waits until it listens.
func (s *site) serve(t *testing.T, wantToken bool) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &server{stderr: &testlog.Buffer{}, cancel: cancel, done: make(chan struct{})}
	var stdout testlog.Buffer
	go func() {
		defer close(srv.done)
		srv.err = run(ctx, []string{"tocsin", "serve", "--config", s.config}, getenv(s.env), &stdout, srv.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-srv.done:
		case <-time.After(wait):
			t.Errorf("tocsin serve did not stop within %s of the test's end", wait)
		}
	})
	m := testlog.WaitFor(t, srv.stderr, listeningLine, srv.done)
	srv.addr, srv.store = m[1], m[2]
	if wantToken {
		srv.admin = testlog.WaitFor(t, srv.stderr, tokenLine, srv.done)[1]
	}
	return srv
}

// stop cancels serve's context, as SIGTERM does, and returns what run
// returned.
func (srv *server) stop(t *testing.T) error {
	t.Helper()
	srv.cancel()
	select {
	case <-srv.done:
		return srv.err
	case <-time.After(wait):
		t.Fatalf("tocsin serve did not return within %s of cancel; stderr:\n%s", wait, srv.stderr)
		return nil
	}
}

// get sends GET path to the server with a bearer token ("" for none).
func (srv *server) get(t *testing.T, client *http.Client, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// newClient returns an HTTP client whose connections close with the test.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait}
}

// The "done when": tocsin serve runs with a config file, serves the
// API with the first admin's token, and exits cleanly when told to stop; the
// same binary runs on MySQL given the storage in the environment.
func TestServe(t *testing.T) {
	t.Parallel()
	targets := []struct {
		name   string
		target func(t *testing.T) testdb.Target
	}{
		{name: "sqlite from the config file", target: func(t *testing.T) testdb.Target { return testdb.SQLite(t) }},
		{name: "mysql from the environment", target: func(t *testing.T) testdb.Target { return testdb.MySQL(t) }},
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, tt.target(t))
			srv := s.serve(t, true)
			if srv.store != s.target.Driver {
				t.Errorf("serving on store=%s, want %s", srv.store, s.target.Driver)
			}
			if host, port, err := net.SplitHostPort(srv.addr); err != nil || host != "127.0.0.1" || port == "0" {
				t.Errorf("listening on %q, want 127.0.0.1 and the port bound", srv.addr)
			}
			client := newClient(t)

			status, body := srv.get(t, client, "/api/v1/users", srv.admin)
			if status != http.StatusOK {
				t.Fatalf("GET /api/v1/users with the logged token = %d %s, want 200", status, body)
			}
			var page struct {
				Items []auth.User `json:"items"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatalf("GET /api/v1/users: %v in %s", err, body)
			}
			if len(page.Items) != 1 || page.Items[0].Name != "admin" || page.Items[0].Role != auth.RoleAdmin {
				t.Errorf("GET /api/v1/users items = %+v, want the admin alone", page.Items)
			}
			if status, body := srv.get(t, client, "/healthz", ""); status != http.StatusOK {
				t.Errorf("GET /healthz = %d %s, want 200", status, body)
			}
			if status, body := srv.get(t, client, "/readyz", ""); status != http.StatusOK {
				t.Errorf("GET /readyz = %d %s, want 200", status, body)
			}

			if err := srv.stop(t); err != nil {
				t.Fatalf("tocsin serve after cancel = %v, want nil (exit 0)", err)
			}
			if _, err := net.DialTimeout("tcp", srv.addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial %s after serve returned: %v, want connection refused", srv.addr, err)
			}
			_, err := os.Stat(s.sqlite)
			if onFile := err == nil; onFile != (s.target.Driver == storage.DriverSQLite) {
				t.Errorf("SQLite file %s exists: %v; want it only when the store is SQLite (stat: %v)", s.sqlite, onFile, err)
			}

			// The admin is in the store, and a second start makes no other.
			again := s.serve(t, false)
			if strings.Contains(again.stderr.String(), "token=") {
				t.Errorf("the second serve logged a token:\n%s", again.stderr)
			}
			if status, body := again.get(t, client, "/api/v1/users", srv.admin); status != http.StatusOK {
				t.Errorf("the first token on the second serve = %d %s, want 200", status, body)
			}
			if err := again.stop(t); err != nil {
				t.Fatalf("second tocsin serve = %v", err)
			}
		})
	}
}

func TestServeFails(t *testing.T) {
	t.Parallel()
	t.Run("listen address taken", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s := newSite(t, testdb.SQLite(t))
		s.env["TOCSIN_SERVER_LISTEN"] = ln.Addr().String()
		out := s.tocsin(t, "serve")
		if out.err == nil || !errors.Is(out.err, syscall.EADDRINUSE) || !strings.Contains(out.err.Error(), "server.listen") {
			t.Errorf("serve on a taken address: %v; want EADDRINUSE naming server.listen", out.err)
		}
		if errors.Is(out.err, errUsage) {
			t.Errorf("serve on a taken address is a usage error (exit 2): %v", out.err)
		}
	})
	t.Run("missing config file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nowhere.yaml")
		out := cli(t, safeEnv(t), "serve", "--config", path)
		if !errors.Is(out.err, fs.ErrNotExist) || !strings.Contains(fmt.Sprint(out.err), path) {
			t.Errorf("serve --config %s: %v; want a not-exist error naming the file", path, out.err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, path, "server:\n  listen: 127.0.0.1:0\nqueues:\n  alert:\n    size: -1\n")
		out := cli(t, safeEnv(t), "serve", "--config", path)
		if want := path + ":5: queues.alert.size"; out.err == nil || !strings.Contains(out.err.Error(), want) {
			t.Errorf("serve with a bad config: %v; want an error containing %q", out.err, want)
		}
	})
}

// safeEnv is an environment for a serve that should fail before it starts:
// should it start, it uses a free port and a store in a temp directory.
func safeEnv(t *testing.T) map[string]string {
	return map[string]string{
		"TOCSIN_SERVER_LISTEN": "127.0.0.1:0",
		"TOCSIN_STORAGE_DSN":   filepath.Join(t.TempDir(), "tocsin.db"),
	}
}

// A config file's problems are reported naming the file, the line and the key.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		line int
		key  string
		// says is a part of the message after the key.
		says string
	}{
		{name: "unknown key", yaml: "server:\n  listn: 127.0.0.1:8080\n", line: 2, key: "server.listn", says: "unknown key"},
		{name: "wrong type", yaml: "queues:\n  alert:\n    size: ten\n", line: 3, key: "queues.alert.size", says: `"ten"`},
		{name: "negative queue size", yaml: "# queues\nqueues:\n  alert:\n    workers: 2\n    size: -1\n", line: 5, key: "queues.alert.size", says: "-1"},
		{name: "bad listen address", yaml: "server:\n  listen: localhost\n", line: 2, key: "server.listen", says: `"localhost"`},
		{name: "unknown storage driver", yaml: "log:\n  level: info\nstorage:\n  driver: postgres\n", line: 4, key: "storage.driver", says: `"postgres"`},
		{name: "bare duration", yaml: "server:\n  shutdown_timeout: 10\n", line: 2, key: "server.shutdown_timeout", says: "duration"},
		{name: "bad log format", yaml: "log:\n  format: xml\n", line: 2, key: "log.format", says: `"xml"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "bad.yaml")
			writeFile(t, path, c.yaml)
			out := cli(t, nil, "config", "check", "--config", path)
			if out.err == nil {
				t.Fatalf("config check of\n%s: no error (stdout %q)", c.yaml, out.stdout)
			}
			want := fmt.Sprintf("%s:%d: %s: ", path, c.line, c.key)
			if msg := out.err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, c.says) {
				t.Errorf("config check: %q; want it to contain %q and %q", msg, want, c.says)
			}
			if errors.Is(out.err, errUsage) {
				t.Errorf("config check of a bad file is a usage error (exit 2): %v", out.err)
			}
			if strings.Contains(out.stdout, "ok") {
				t.Errorf("config check of a bad file printed %q", out.stdout)
			}
		})
	}

	t.Run("good file", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, testdb.SQLite(t))
		out := s.tocsin(t, "config", "check")
		if out.err != nil || out.stdout != "configuration ok\n" {
			t.Errorf("config check of a good file = %q, %v; want \"configuration ok\", nil", out.stdout, out.err)
		}
		if _, err := os.Stat(s.sqlite); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("config check touched the store %s (stat: %v); it must start nothing", s.sqlite, err)
		}
	})
	t.Run("the example config.yaml", func(t *testing.T) {
		t.Parallel()
		out := cli(t, nil, "config", "check", "--config", "../../config.yaml")
		if out.err != nil || out.stdout != "configuration ok\n" {
			t.Errorf("config check of the example config.yaml = %q, %v; want ok", out.stdout, out.err)
		}
	})
	t.Run("bad environment variable", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, testdb.SQLite(t))
		s.env["TOCSIN_QUEUES_ALERT_SIZE"] = "-1"
		out := s.tocsin(t, "config", "check")
		if want := "TOCSIN_QUEUES_ALERT_SIZE: queues.alert.size: "; out.err == nil || !strings.Contains(out.err.Error(), want) {
			t.Errorf("config check with TOCSIN_QUEUES_ALERT_SIZE=-1: %v; want an error containing %q", out.err, want)
		}
	})
	t.Run("named file missing", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "missing.yaml")
		out := cli(t, nil, "config", "check", "--config", path)
		if out.err == nil || !errors.Is(out.err, fs.ErrNotExist) || !strings.Contains(out.err.Error(), path) {
			t.Errorf("config check --config %s: %v; want a not-exist error naming the file", path, out.err)
		}
		if out.stdout != "" {
			t.Errorf("config check of a missing file printed %q", out.stdout)
		}
	})
}

// Without --config, config.yaml in the working directory is read when it
// exists, and the defaults apply when it does not. Not parallel: it changes
// the working directory.
func TestConfigCheckDefaultFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out := cli(t, nil, "config", "check")
	if out.err != nil || out.stdout != "configuration ok\n" {
		t.Fatalf("config check without config.yaml = %q, %v; want the defaults to pass", out.stdout, out.err)
	}
	out = cli(t, map[string]string{"TOCSIN_SERVER_LISTEN": "nowhere"}, "config", "check")
	if out.err == nil || !strings.Contains(out.err.Error(), "TOCSIN_SERVER_LISTEN: server.listen: ") {
		t.Errorf("config check without config.yaml, bad TOCSIN_SERVER_LISTEN: %v; want it named", out.err)
	}

	writeFile(t, filepath.Join(dir, "config.yaml"), "server:\n  listn: 127.0.0.1:8080\n")
	out = cli(t, nil, "config", "check")
	if out.err == nil || !strings.Contains(out.err.Error(), "config.yaml:2: server.listn: unknown key") {
		t.Errorf("config check with a bad config.yaml in the working directory: %v; want it read and named", out.err)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		s := newSite(t, target)
		versionLine := regexp.MustCompile(`^schema at version (\d+)\n$`)
		var versions []string
		for i := 1; i <= 2; i++ {
			out := s.tocsin(t, "migrate")
			if out.err != nil {
				t.Fatalf("migrate #%d: %v\n%s", i, out.err, out.stderr)
			}
			m := versionLine.FindStringSubmatch(out.stdout)
			if m == nil {
				t.Fatalf("migrate #%d printed %q, want \"schema at version N\"", i, out.stdout)
			}
			versions = append(versions, m[1])
			if applied := strings.Contains(out.stderr, "applied schema migration"); applied != (i == 1) {
				t.Errorf("migrate #%d: logged applying a migration: %v; stderr:\n%s", i, applied, out.stderr)
			}
		}
		current, latest, err := s.store(t).SchemaVersion(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.FormatInt(latest, 10)
		if current != latest || versions[0] != want || versions[1] != want {
			t.Errorf("migrate printed versions %v and left the store at %d; want %d (the newest) each time", versions, current, latest)
		}
		if users, err := s.store(t).Users(t.Context(), storage.Page{Limit: 10}); err != nil || len(users) != 0 {
			t.Errorf("users after migrate = %v, %v; want none (migrate creates no admin)", users, err)
		}
	})
}

func TestUserAndTokenCommands(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		t.Parallel()
		ctx := t.Context()
		s := newSite(t, target)

		// user add, flags after or before the name.
		out := s.tocsin(t, "user", "add", "alice", "--role", "responder")
		if out.err != nil || !regexp.MustCompile(`^added user alice \(id \d+, role responder\)\n$`).MatchString(out.stdout) {
			t.Fatalf("user add alice --role responder = %q, %v\n%s", out.stdout, out.err, out.stderr)
		}
		if out := cli(t, s.env, "user", "add", "--config", s.config, "--role=admin", "bob"); out.err != nil {
			t.Fatalf("user add --role=admin bob: %v", out.err)
		}
		store := s.store(t)
		for name, role := range map[string]auth.Role{"alice": auth.RoleResponder, "bob": auth.RoleAdmin} {
			if u, err := store.UserByName(ctx, name); err != nil || u.Role != role {
				t.Errorf("stored user %s = %+v, %v; want role %s", name, u, err, role)
			}
		}

		userFails := []struct {
			name string
			args []string
			kind error // the error class, or errUsage
			says string
		}{
			{name: "bad role", args: []string{"carol", "--role", "boss"}, kind: alerts.ErrInvalid, says: "role"},
			{name: "no role", args: []string{"carol"}, kind: alerts.ErrInvalid, says: "role"},
			{name: "bad name", args: []string{"Carol Smith", "--role", "admin"}, kind: alerts.ErrInvalid, says: "name"},
			{name: "duplicate name", args: []string{"alice", "--role", "admin"}, kind: alerts.ErrConflict, says: "alice"},
			{name: "no name", args: []string{"--role", "admin"}, kind: errUsage, says: "argument"},
			{name: "two names", args: []string{"carol", "dave", "--role", "admin"}, kind: errUsage, says: "argument"},
			{name: "unknown flag", args: []string{"carol", "--rol", "admin"}, kind: errUsage, says: "rol"},
		}
		for _, c := range userFails {
			out := s.tocsin(t, append([]string{"user", "add"}, c.args...)...)
			if !errors.Is(out.err, c.kind) || !strings.Contains(fmt.Sprint(out.err), c.says) {
				t.Errorf("user add %s (%s): %v; want %v naming %q", strings.Join(c.args, " "), c.name, out.err, c.kind, c.says)
			}
			if out.stdout != "" {
				t.Errorf("user add (%s) printed %q", c.name, out.stdout)
			}
		}
		if _, err := store.UserByName(ctx, "carol"); !errors.Is(err, alerts.ErrNotFound) {
			t.Errorf("a failed user add stored carol: %v", err)
		}
		if u, _ := store.UserByName(ctx, "alice"); u.Role != auth.RoleResponder {
			t.Errorf("the duplicate user add changed alice to %s", u.Role)
		}

		// token create prints the token alone on stdout.
		out = s.tocsin(t, "token", "create", "--user", "alice", "--ttl", "1h")
		if out.err != nil {
			t.Fatalf("token create --user alice --ttl 1h: %v\n%s", out.err, out.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
		if len(lines) != 1 || !aToken.MatchString(lines[0]) || !strings.HasSuffix(out.stdout, "\n") {
			t.Fatalf("token create printed %q, want one line matching %s", out.stdout, aToken)
		}
		secret := lines[0]
		m := regexp.MustCompile(`created token (\d+) for user alice`).FindStringSubmatch(out.stderr)
		if m == nil {
			t.Fatalf("token create said on stderr %q, want the token's ID", out.stderr)
		}
		id := m[1]
		u, tok, err := store.Authenticate(ctx, secret)
		if err != nil || u.Name != "alice" || strconv.FormatInt(tok.ID, 10) != id {
			t.Fatalf("Authenticate(the printed token) = %s, token %d, %v; want alice, token %s", u.Name, tok.ID, err, id)
		}
		if tok.ExpiresAt == nil || tok.ExpiresAt.Sub(time.Now().Add(time.Hour)).Abs() > time.Minute {
			t.Errorf("token with --ttl 1h expires at %v, want about an hour from now", tok.ExpiresAt)
		}
		if tok.Name != "cli" {
			t.Errorf("token name = %q, want the default \"cli\"", tok.Name)
		}

		out = s.tocsin(t, "token", "create", "--name", "deploy", "--user=bob")
		if out.err != nil || !aToken.MatchString(strings.TrimSuffix(out.stdout, "\n")) {
			t.Fatalf("token create --name deploy --user=bob = %q, %v", out.stdout, out.err)
		}
		if u, tok, err := store.Authenticate(ctx, strings.TrimSuffix(out.stdout, "\n")); err != nil || u.Name != "bob" || tok.Name != "deploy" || tok.ExpiresAt != nil {
			t.Errorf("bob's token: user %s, token %+v, %v; want bob's token \"deploy\" that does not expire", u.Name, tok, err)
		}

		tokenFails := []struct {
			name string
			args []string
			kind error
			says string
		}{
			{name: "no --user", args: []string{"create"}, kind: errUsage, says: "--user"},
			{name: "no --user, with --ttl", args: []string{"create", "--ttl", "1h"}, kind: errUsage, says: "--user"},
			{name: "unknown user", args: []string{"create", "--user", "nobody"}, kind: alerts.ErrNotFound, says: "--user"},
			{name: "negative ttl", args: []string{"create", "--user", "alice", "--ttl", "-1h"}, kind: errUsage, says: "ttl"},
			{name: "bad ttl", args: []string{"create", "--user", "alice", "--ttl", "soon"}, kind: errUsage, says: "ttl"},
			{name: "positional argument", args: []string{"create", "alice"}, kind: errUsage, says: "argument"},
			{name: "revoke without ID", args: []string{"revoke"}, kind: errUsage, says: "argument"},
			{name: "revoke a non-number", args: []string{"revoke", "abc"}, kind: errUsage, says: "abc"},
			{name: "revoke zero", args: []string{"revoke", "0"}, kind: errUsage, says: "ID"},
			{name: "revoke a missing ID", args: []string{"revoke", "999999"}, kind: alerts.ErrNotFound, says: "999999"},
		}
		for _, c := range tokenFails {
			out := s.tocsin(t, append([]string{"token"}, c.args...)...)
			if !errors.Is(out.err, c.kind) || !strings.Contains(fmt.Sprint(out.err), c.says) {
				t.Errorf("token %s (%s): %v; want %v naming %q", strings.Join(c.args, " "), c.name, out.err, c.kind, c.says)
			}
			if out.stdout != "" {
				t.Errorf("token %s (%s) printed %q", strings.Join(c.args, " "), c.name, out.stdout)
			}
		}

		// token revoke: the token stops working at once.
		out = s.tocsin(t, "token", "revoke", id)
		if out.err != nil || out.stdout != "revoked token "+id+"\n" {
			t.Fatalf("token revoke %s = %q, %v", id, out.stdout, out.err)
		}
		if _, _, err := store.Authenticate(ctx, secret); !errors.Is(err, alerts.ErrUnauthorized) {
			t.Errorf("Authenticate(a revoked token) = %v, want ErrUnauthorized", err)
		}
		if out := s.tocsin(t, "token", "revoke", id); !errors.Is(out.err, alerts.ErrNotFound) {
			t.Errorf("token revoke %s twice: %v, want ErrNotFound", id, out.err)
		}
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		// says is a part of the error message.
		says string
		// usage: the usage text must be on stderr.
		usage bool
	}{
		{name: "no command", args: nil, says: "no command", usage: true},
		{name: "unknown command", args: []string{"frobnicate"}, says: `"frobnicate"`, usage: true},
		{name: "config without check", args: []string{"config"}, says: `"config"`, usage: true},
		{name: "unknown config sub-command", args: []string{"config", "lint"}, says: `"config"`, usage: true},
		{name: "user without add", args: []string{"user"}, says: `"user"`, usage: true},
		{name: "token without create", args: []string{"token", "list"}, says: `"token"`, usage: true},
		{name: "serve with an argument", args: []string{"serve", "now"}, says: "argument"},
		{name: "serve with an unknown flag", args: []string{"serve", "--port", "80"}, says: "port"},
		{name: "config check with an argument", args: []string{"config", "check", "extra.yaml"}, says: "argument"},
		{name: "migrate without a --config value", args: []string{"migrate", "--config"}, says: "config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := cli(t, nil, c.args...)
			if !errors.Is(out.err, errUsage) || !strings.Contains(fmt.Sprint(out.err), c.says) {
				t.Errorf("tocsin %s: %v; want a usage error naming %s", strings.Join(c.args, " "), out.err, c.says)
			}
			if got := strings.Contains(out.stderr, "Usage:"); got != c.usage {
				t.Errorf("tocsin %s: usage on stderr: %v, want %v; stderr:\n%s", strings.Join(c.args, " "), got, c.usage, out.stderr)
			}
			if out.stdout != "" {
				t.Errorf("tocsin %s printed %q on stdout", strings.Join(c.args, " "), out.stdout)
			}
		})
	}

	for _, arg := range []string{"help", "-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			out := cli(t, nil, arg)
			if out.err != nil {
				t.Errorf("tocsin %s: %v", arg, out.err)
			}
			if out.stdout != usage {
				t.Errorf("tocsin %s printed %q, want the usage", arg, out.stdout)
			}
			for _, cmd := range []string{"serve", "migrate", "config check", "user add", "token create", "token revoke"} {
				if !strings.Contains(out.stdout, "tocsin "+cmd) {
					t.Errorf("the usage does not mention tocsin %s", cmd)
				}
			}
		})
	}
}

// A command called wrongly says so and touches no store: it neither creates
// nor migrates one, and an unreachable one does not hide the usage error.
func TestUsageErrorsTouchNoStore(t *testing.T) {
	t.Parallel()
	cases := [][]string{
		{"token", "create"},
		{"token", "create", "--ttl", "1h"},
		{"token", "create", "--user", "alice", "--ttl", "-1h"},
		{"token", "revoke", "abc"},
		{"token", "revoke", "0"},
		{"token", "revoke"},
		{"user", "add", "--role", "admin"},
		{"migrate", "now"},
		{"serve", "--listen", ":80"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			s := newSite(t, testdb.SQLite(t))
			out := s.tocsin(t, args...)
			if !errors.Is(out.err, errUsage) {
				t.Errorf("tocsin %s: %v, want a usage error", strings.Join(args, " "), out.err)
			}
			if _, err := os.Stat(s.sqlite); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("tocsin %s created the store %s (stat: %v)", strings.Join(args, " "), s.sqlite, err)
			}

			s.env["TOCSIN_STORAGE_DRIVER"] = storage.DriverMySQL
			s.env["TOCSIN_STORAGE_DSN"] = "tocsin@tcp(127.0.0.1:1)/tocsin?timeout=1s"
			if out := s.tocsin(t, args...); !errors.Is(out.err, errUsage) {
				t.Errorf("tocsin %s with an unreachable store: %v, want a usage error", strings.Join(args, " "), out.err)
			}
		})
	}
}
