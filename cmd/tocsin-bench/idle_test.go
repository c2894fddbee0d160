package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/config"
)

// TestIdle holds a few connections, reports the server's figures, and
// leaves the server with no connection.
func TestIdle(t *testing.T) {
	srv := startServer(t, nil)
	code, stdout, _ := runBench(t, srv, "idle", "--connections", "20", "--hold", "200ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stdout: %s", code, stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v: %q", err, stdout)
	}
	if got["connections_opened"] != 20.0 || got["server_connections"] != 20.0 {
		t.Errorf("connections_opened %v, server_connections %v; want 20 and 20", got["connections_opened"], got["server_connections"])
	}
	for _, name := range []string{"rss_per_conn_kib", "goroutines_per_conn", "stack_per_conn_kib", "heap_per_conn_kib", "open_file_limit"} {
		if _, ok := got[name].(float64); !ok {
			t.Errorf("%s = %v, want a number", name, got[name])
		}
	}
	api := newAPIClient(common{url: srv.url, token: srv.token})
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := api.metrics(t.Context(), "tocsin_ws_connections")
		if err != nil {
			t.Fatal(err)
		}
		if m["tocsin_ws_connections"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tocsin_ws_connections = %v 5s after the run, want 0", m["tocsin_ws_connections"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleAnswersPings holds connections for several ping intervals: the
// server, which drops a peer silent for two, keeps them all.
func TestIdleAnswersPings(t *testing.T) {
	srv := startServer(t, func(cfg *config.Config) { cfg.Push.PingInterval = 50 * time.Millisecond })
	code, stdout, _ := runBench(t, srv, "idle", "--connections", "5", "--hold", "400ms", "--json")
	if code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v: %q", err, stdout)
	}
	if got["server_connections"] != 5.0 {
		t.Errorf("server_connections = %v at the end of the hold, want 5", got["server_connections"])
	}
}

// TestIdleFlags refuses counts and holds out of bounds.
func TestIdleFlags(t *testing.T) {
	srv := server{url: "http://127.0.0.1:1", token: "unused"}
	for _, args := range [][]string{
		{"--connections", "0"},
		{"--connections", "50001"},
		{"--hold", "-1s"},
		{"--hold", "11m"},
	} {
		if code, _, _ := runBench(t, srv, append([]string{"idle"}, args...)...); code != 2 {
			t.Errorf("idle %v: exit %d, want 2", args, code)
		}
	}
}
