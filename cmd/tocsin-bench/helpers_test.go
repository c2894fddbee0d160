package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tocsinhq/tocsin/app"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
)

// TestMain fails the package when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server is a tocsin running in the test's process, on SQLite, over a real
// loopback listener.
type server struct {
	url   string
	token string // the first admin's
}

// adminToken matches the first admin's token in the server's log.
var adminToken = regexp.MustCompile(`token=(tsn_[A-Za-z0-9_-]{43})`)

// startServer runs a tocsin with cfg's defaults on a fresh SQLite store,
// changed by tweak (when not nil), until the test ends.
func startServer(t *testing.T, tweak func(*config.Config)) server {
	t.Helper()
	target := testdb.SQLite(t)
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Storage.Driver, cfg.Storage.DSN = target.Driver, target.DSN
	if tweak != nil {
		tweak(&cfg)
	}
	buf := &testlog.Buffer{}
	a, err := app.New(t.Context(), cfg, app.NewLogger(buf, config.Log{Level: "warn", Format: "text"}))
	if err != nil {
		t.Fatalf("start tocsin: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tocsin: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("tocsin did not stop within 15s")
		}
	})
	token := testlog.WaitFor(t, buf, adminToken, nil)[1]
	return server{url: "http://" + a.Addr().String(), token: token}
}

// runBench runs tocsin-bench with args against srv, and returns its exit
// code, its stdout and its stderr.
func runBench(t *testing.T, srv server, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--url", srv.url, "--token", srv.token)
	code = run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
	if code != 0 {
		t.Logf("tocsin-bench %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return code, out.String(), errOut.String()
}
