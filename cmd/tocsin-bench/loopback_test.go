package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoopbackOnly lets a dialer connect to loopback IPs only.
func TestLoopbackOnly(t *testing.T) {
	for address, ok := range map[string]bool{
		"127.0.0.1:80":           true,
		"127.9.8.7:8080":         true,
		"[::1]:80":               true,
		"[::ffff:127.0.0.1]:80":  true,
		"10.0.0.1:80":            false,
		"192.0.2.1:443":          false,
		"[2001:db8::1]:80":       false,
		"[::ffff:192.0.2.1]:80":  false,
		"localhost:80":           false, // Control sees addresses, never names
		"127.0.0.1":              false,
		"[fe80::1%lo]:80":        false,
		"not an address at all:": false,
	} {
		err := loopbackOnly("tcp", address, nil)
		if (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok %v", address, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "loopback addresses only, not "+address) {
			t.Errorf("loopbackOnly(%q) = %q, which does not name the address", address, err)
		}
	}
	// The dialer refuses before it connects: nothing goes to 192.0.2.1.
	if _, err := loopbackDialer(time.Second).DialContext(t.Context(), "tcp", "192.0.2.1:80"); err == nil ||
		!strings.Contains(err.Error(), "loopback addresses only") {
		t.Errorf("dialing 192.0.2.1:80: %v, want a refusal", err)
	}
}

// TestNoRedirects runs each mode against a server that redirects every
// request to another loopback listener: no mode follows, none sends that
// listener anything, and each exits 1.
func TestNoRedirects(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var reached atomic.Int64 // connections to the redirect's target
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	target.Listener.Close()
	target.Listener = l
	target.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			reached.Add(1)
		}
	}
	target.Start()
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	srv := server{url: redirector.URL, token: "unused"}

	for _, tc := range []struct {
		args   []string
		stdout string // a part of it
		stderr string // a part of it
	}{
		{args: []string{"ingest", "--source", "am", "--secret", "s", "--requests", "5", "--concurrency", "2"}, stdout: "PROBLEM"},
		{args: []string{"ingest", "--requests", "5"}, stderr: "create a source"},
		{args: []string{"e2e", "--users", "1", "--conns-per-user", "1", "--rate", "100", "--duration", "1s"}, stderr: "create a source"},
		{args: []string{"idle", "--connections", "1", "--hold", "0s"}, stderr: "GET /metrics"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runBench(t, srv, tc.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(stdout+stderr, "307") {
				t.Errorf("stdout lacks %q, or the output names no 307:\n%s%s", tc.stdout, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d connections reached the redirect's target, want none", n)
	}
}
