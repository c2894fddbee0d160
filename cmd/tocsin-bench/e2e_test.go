package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestE2E runs a short e2e against a real tocsin and finds every
// notification delivered, once and in order, on every connection.
func TestE2E(t *testing.T) {
	srv := startServer(t, nil)
	code, stdout, _ := runBench(t, srv, "e2e", "--users", "3", "--conns-per-user", "2", "--rate", "200", "--duration", "1s", "--drain", "5s", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stdout: %s", code, stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v: %q", err, stdout)
	}
	want := map[string]float64{"users": 3, "connections": 6, "rate_target": 200, "alerts_sent": 200, "alerts_503": 0,
		"deliveries": 400, "deliveries_expected": 400, "other_notifications": 0, "completeness_problems": 0}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %v, want %v", name, got[name], value)
		}
	}
	for _, name := range []string{"alerts_sent_per_s", "deliveries_per_s", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms"} {
		if v, ok := got[name].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", name, got[name])
		}
	}
	if got["mode"] != "e2e" || len(got["problems"].([]any)) != 0 {
		t.Errorf("mode %v, problems %v; want e2e and none", got["mode"], got["problems"])
	}
}

// TestE2EWrongSecret stops sending at the first 401 and fails.
func TestE2EWrongSecret(t *testing.T) {
	srv := startServer(t, nil)
	if _, err := newAPIClient(common{url: srv.url, token: srv.token}).createSource(t.Context(), "am"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runBench(t, srv, "e2e", "--source", "am", "--secret", "wrong", "--users", "2", "--conns-per-user", "1", "--rate", "100", "--duration", "1s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "PROBLEM") || !strings.Contains(stdout, "401") {
		t.Errorf("output names no 401 problem:\n%s", stdout)
	}
}

// TestE2EFlags refuses options out of bounds, and half a source.
func TestE2EFlags(t *testing.T) {
	srv := server{url: "http://127.0.0.1:1", token: "unused"}
	for _, args := range [][]string{
		{"--users", "0"},
		{"--users", "1001"},
		{"--conns-per-user", "11"},
		{"--rate", "0"},
		{"--rate", "100001"},
		{"--duration", "0s"},
		{"--duration", "11m"},
		{"--drain", "-1s"},
		{"--alerts-per-request", "1001"},
		{"--concurrency", "0"},
		{"--source", "am"},
		{"--rate", "100000", "--duration", "10m"},
		{"--rate", "5", "--duration", "1s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, _ := runBench(t, srv, append([]string{"e2e"}, args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

// TestCheckDeliveries finds losses, duplicates, reorders and strays in
// what connections received. Two users; alerts 0 to 5, one per request,
// all accepted unless a case says otherwise: user 0 gets 0, 2 and 4, user
// 1 gets 1, 3 and 5.
func TestCheckDeliveries(t *testing.T) {
	fired := func(seq, alert int64) delivery { return delivery{seq: seq, fired: true, alert: alert} }
	whole := []delivery{fired(1, 0), fired(2, 2), fired(3, 4)}
	cases := []struct {
		name     string
		outcomes []outcome // of alerts 0 to 5; all accepted when nil
		hello    int64
		records  []delivery // user 0's, conn 0
		want     []string   // findings, in order
	}{
		{name: "complete", records: whole},
		{name: "after a hello seq", hello: 7, records: []delivery{fired(8, 0), fired(9, 2), fired(10, 4)}},
		{name: "other events in order", records: []delivery{fired(1, 0), {seq: 2, alert: -1}, fired(3, 2), fired(4, 4)}},
		{name: "lost", records: []delivery{fired(1, 0), fired(3, 4)}, want: []string{
			"user 0 conn 0: seq 3 after seq 1: seq 2 to 2 missing or late",
			"user 0 conn 0: 1 accepted alerts never received (the first: alert 2)",
		}},
		{name: "lost at the end", records: whole[:1], want: []string{
			"user 0 conn 0: 2 accepted alerts never received (the first: alert 2)",
		}},
		{name: "duplicate", records: []delivery{fired(1, 0), fired(2, 2), fired(2, 2), fired(3, 4)}, want: []string{
			"user 0 conn 0: seq 2 again or out of order, after seq 2",
			"user 0 conn 0: seq 2: alert 2 received again",
		}},
		{name: "reordered", records: []delivery{fired(2, 2), fired(1, 0), fired(3, 4)}, want: []string{
			"user 0 conn 0: seq 2 after seq 0: seq 1 to 1 missing or late",
			"user 0 conn 0: seq 1 again or out of order, after seq 2",
		}},
		{name: "another user's alert", records: []delivery{fired(1, 0), fired(2, 2), fired(3, 4), fired(4, 3)}, want: []string{
			"user 0 conn 0: seq 4: alert 3 is not one sent to this user",
		}},
		{name: "no bench_seq", records: []delivery{fired(1, 0), fired(2, 2), fired(3, 4), fired(4, -1)}, want: []string{
			"user 0 conn 0: seq 4: alert -1 is not one sent to this user",
		}},
		{name: "503 not expected", outcomes: []outcome{accepted, accepted, refused, accepted, accepted, accepted},
			records: []delivery{fired(1, 0), fired(2, 4)}},
		{name: "503 delivered", outcomes: []outcome{accepted, accepted, refused, accepted, accepted, accepted},
			records: whole, want: []string{
				"user 0 conn 0: seq 2: alert 2 received, but the webhook did not take it",
			}},
		{name: "uncertain either way", outcomes: []outcome{uncertain, accepted, uncertain, accepted, accepted, accepted},
			records: []delivery{fired(1, 2), fired(2, 4)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := sentAlerts{users: 2, perRequest: 1, outcomes: tc.outcomes}
			if sent.outcomes == nil {
				sent.outcomes = slices.Repeat([]outcome{accepted}, 6)
			}
			logs := []connLog{
				{user: 0, index: 0, hello: tc.hello, records: tc.records},
				{user: 1, index: 0, records: []delivery{fired(1, 1), fired(2, 3), fired(3, 5)}},
			}
			got := checkDeliveries(logs, sent)
			if got.total != len(tc.want) || !slices.Equal(got.shown, tc.want) {
				t.Errorf("findings (%d):\n%s\nwant:\n%s", got.total, strings.Join(got.shown, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCheckDeliveriesCapped counts every finding and keeps the first few.
func TestCheckDeliveriesCapped(t *testing.T) {
	sent := sentAlerts{users: 1, perRequest: 10, outcomes: []outcome{accepted, accepted, accepted}}
	var records []delivery
	for seq := int64(1); seq <= 30; seq++ {
		records = append(records, delivery{seq: 1, fired: true, alert: 0}) // seq 1 every time
	}
	got := checkDeliveries([]connLog{{records: records}}, sent)
	// 29 repeats of seq 1, 29 of alert 0, and one line for 29 alerts lost.
	if got.total != 59 || len(got.shown) != maxShown {
		t.Errorf("total %d, shown %d; want 59 and %d", got.total, len(got.shown), maxShown)
	}
}

// TestAppendWebhook writes valid JSON with each alert's labels.
func TestAppendWebhook(t *testing.T) {
	body := appendWebhook(nil, "bench-x1", 4, 2, 3, 1234)
	var got struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	if len(got.Alerts) != 2 {
		t.Fatalf("%d alerts, want 2: %s", len(got.Alerts), body)
	}
	for i, user := range []string{"1", "2"} {
		a := got.Alerts[i]
		seq := []string{"4", "5"}[i]
		if a.Labels["bench_run"] != "bench-x1" || a.Labels["bench_user"] != user || a.Labels["bench_seq"] != seq || a.Annotations["bench_sent_unix_nano"] != "1234" {
			t.Errorf("alert %d: labels %v, annotations %v", i, a.Labels, a.Annotations)
		}
	}
}
