package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestIngest posts a few requests and finds every alert accepted.
func TestIngest(t *testing.T) {
	srv := startServer(t, nil)
	code, stdout, _ := runBench(t, srv, "ingest", "--requests", "20", "--alerts-per-request", "5", "--concurrency", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stdout: %s", code, stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v: %q", err, stdout)
	}
	want := map[string]float64{"alerts_accepted": 100, "responses_202": 20, "responses_503": 0, "responses_400": 0,
		"responses_other": 0, "transport_errors": 0, "alerts_per_request": 5, "concurrency": 2}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %v, want %v", name, got[name], value)
		}
	}
	for _, name := range []string{"alerts_per_s", "requests_per_s", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms", "duration_s"} {
		if v, ok := got[name].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", name, got[name])
		}
	}
	if got["mode"] != "ingest" || len(got["problems"].([]any)) != 0 {
		t.Errorf("mode %v, problems %v; want ingest and none", got["mode"], got["problems"])
	}
}

// TestIngestWrongSecret stops at the first 401 and fails.
func TestIngestWrongSecret(t *testing.T) {
	srv := startServer(t, nil)
	if _, err := newAPIClient(common{url: srv.url, token: srv.token}).createSource(t.Context(), "am"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runBench(t, srv, "ingest", "--source", "am", "--secret", "wrong", "--requests", "20", "--alerts-per-request", "5", "--concurrency", "2")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "PROBLEM") || !strings.Contains(stdout, "401") {
		t.Errorf("output names no 401 problem:\n%s", stdout)
	}
}

// TestIngestFlags refuses options out of bounds, and half a source.
func TestIngestFlags(t *testing.T) {
	srv := server{url: "http://127.0.0.1:1", token: "unused"}
	for _, args := range [][]string{
		{"--source", "am"},
		{"--secret", "s"},
		{"--alerts-per-request", "0"},
		{"--alerts-per-request", "1001"},
		{"--concurrency", "257"},
		{"--duration", "11m"},
		{"--requests", "10000001"},
		{"--new", "1.5"},
		{"--new", "NaN"},
	} {
		if code, _, _ := runBench(t, srv, append([]string{"ingest"}, args...)...); code != 2 {
			t.Errorf("ingest %v: exit %d, want 2", args, code)
		}
	}
}

// TestPayloads builds bodies that are Alertmanager v4 JSON, with the share
// of new alerts asked for and the repeats drawn from the pool.
func TestPayloads(t *testing.T) {
	p := newPayloads("bench-x", 10, 0.3, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	g := p.generator(1, 4)
	seen := map[string]int{}
	for range 10 {
		var body struct {
			Version string `json:"version"`
			Alerts  []struct {
				Status   string            `json:"status"`
				Labels   map[string]string `json:"labels"`
				StartsAt time.Time         `json:"startsAt"`
			} `json:"alerts"`
		}
		b := g.build(nil)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, b)
		}
		if body.Version != "4" || len(body.Alerts) != 10 {
			t.Fatalf("version %q with %d alerts, want 4 with 10", body.Version, len(body.Alerts))
		}
		for _, a := range body.Alerts {
			if a.Status != "firing" || a.Labels["bench_run"] != "bench-x" || a.StartsAt.IsZero() {
				t.Errorf("alert %+v", a)
			}
			seen[a.Labels["instance"]]++
		}
	}
	var fresh, repeats int
	for instance, n := range seen {
		switch {
		case strings.HasPrefix(instance, "n1."):
			fresh += n
			if n != 1 {
				t.Errorf("new alert %s sent %d times", instance, n)
			}
		case strings.HasPrefix(instance, "r"):
			repeats += n
		default:
			t.Errorf("instance %q", instance)
		}
	}
	if fresh != 30 || repeats != 70 {
		t.Errorf("%d new and %d repeated alerts, want 30 and 70", fresh, repeats)
	}
}

// TestIngestAlwaysTimed gives every run a duration: the default without
// --requests, the cap of 10m with it, and --duration when given.
func TestIngestAlwaysTimed(t *testing.T) {
	for _, tc := range []struct {
		duration time.Duration
		requests int
		want     time.Duration
	}{
		{0, 0, defaultIngestDuration},
		{0, 20, maxIngestDuration},
		{3 * time.Second, 0, 3 * time.Second},
		{3 * time.Second, 20, 3 * time.Second},
	} {
		o := ingestOptions{alertsPerRequest: 1, concurrency: 1, newShare: 1, duration: tc.duration, requests: tc.requests}
		if err := o.check(); err != nil {
			t.Errorf("--duration %v --requests %d: %v", tc.duration, tc.requests, err)
		}
		if o.duration != tc.want {
			t.Errorf("--duration %v --requests %d: the run lasts at most %v, want %v", tc.duration, tc.requests, o.duration, tc.want)
		}
	}
}
