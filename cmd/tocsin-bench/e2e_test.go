package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
		"alerts_unsent": 0, "deliveries": 400, "deliveries_expected": 400, "other_notifications": 0, "completeness_problems": 0}
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
	if v, ok := got["max_send_lag_ms"].(float64); !ok || v < 0 {
		t.Errorf("max_send_lag_ms = %v, want a number", got["max_send_lag_ms"])
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

// figureOf returns the value of r's figure name, and whether it has one.
func figureOf(r *result, name string) (float64, bool) {
	for _, f := range r.figures {
		if f.name == name {
			return f.value, true
		}
	}
	return 0, false
}

// TestE2EReportUnsent counts the alerts the senders dropped, and makes
// more than 2% of the alerts due a problem.
func TestE2EReportUnsent(t *testing.T) {
	const requests, perRequest = 100, 10
	for _, tc := range []struct {
		dropped int // requests, of 100
		problem bool
	}{
		{0, false},
		{2, false}, // 2%: not above
		{3, true},
		{100, true},
	} {
		outcomes := slices.Repeat([]outcome{accepted}, requests)
		for k := requests - tc.dropped; k < requests; k++ {
			outcomes[k] = dropped
		}
		sent := sentAlerts{users: 1, perRequest: perRequest, outcomes: outcomes}
		start := time.Now()
		s := &e2eSender{start: start, end: start.Add(time.Second), tallies: []senderTally{{maxLag: 5 * time.Millisecond}, {maxLag: 30 * time.Millisecond}}}
		r := e2eReport(e2eConfig{users: 1, rate: 1000, perRequest: perRequest}, s, sent, &fleet{}, 0)
		if got, _ := figureOf(r, "alerts_unsent"); got != float64(tc.dropped*perRequest) {
			t.Errorf("%d dropped: alerts_unsent = %v, want %d", tc.dropped, got, tc.dropped*perRequest)
		}
		if got, _ := figureOf(r, "max_send_lag_ms"); got != 30 {
			t.Errorf("max_send_lag_ms = %v, want 30", got)
		}
		want := fmt.Sprintf("the senders fell behind: %d of 1000 alerts were not sent; raise --concurrency or lower --rate", tc.dropped*perRequest)
		if got := slices.Contains(r.problems, want); got != tc.problem {
			t.Errorf("%d dropped: problems %q, want %q: %v", tc.dropped, r.problems, want, tc.problem)
		}
	}
}

// TestE2ESenderFallsBehind paces one sender at a server too slow for the
// rate: the requests it cannot send in time are dropped and counted, and
// each request it sends is stamped with its due time, not its send time.
func TestE2ESenderFallsBehind(t *testing.T) {
	type stamp struct{ seq, sent int64 }
	stamps := make(chan stamp, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Alerts []struct {
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Alerts) != 1 {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		seq, _ := strconv.ParseInt(body.Alerts[0].Labels["bench_seq"], 10, 64)
		sent, _ := strconv.ParseInt(body.Alerts[0].Annotations["bench_sent_unix_nano"], 10, 64)
		stamps <- stamp{seq, sent}
		time.Sleep(50 * time.Millisecond)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer slow.Close()
	// 100 requests due over 100ms; at 50ms each, one sender sends about
	// 22 before the grace runs out.
	cfg := e2eConfig{users: 1, rate: 1000, duration: 100 * time.Millisecond, perRequest: 1, concurrency: 1, source: "am", secret: "s"}
	s := newE2ESender(slow.URL, "bench-x", cfg)
	sent := s.run(t.Context())
	close(stamps)

	n := 0
	for st := range stamps {
		n++
		if due := s.start.Add(time.Duration(st.seq) * time.Millisecond).UnixNano(); st.sent != due {
			t.Errorf("alert %d stamped %d, %v from its due time", st.seq, st.sent, time.Duration(st.sent-due))
		}
	}
	unsent := sent.unsent()
	if unsent == 0 || unsent+int64(n) != 100 || s.accepted.Load() != int64(n) {
		t.Errorf("%d alerts sent and accepted %d, %d unsent; want some unsent, and 100 in all", n, s.accepted.Load(), unsent)
	}
	if lag := s.maxSendLag(); lag < 500*time.Millisecond {
		t.Errorf("max send lag %v, want the most part of the grace", lag)
	}
	r := e2eReport(cfg, s, sent, &fleet{}, 0)
	if len(r.problems) != 1 || !strings.HasPrefix(r.problems[0], "the senders fell behind: ") {
		t.Errorf("problems %q, want that the senders fell behind", r.problems)
	}
}

// TestDrainCountsAcceptedOnly waits for each accepted alert: an uncertain
// alert that arrives does not stand in for an accepted one still missing.
func TestDrainCountsAcceptedOnly(t *testing.T) {
	// Two users: user 0 gets alerts 0, 2 and 4, of which 2 is uncertain.
	sent := sentAlerts{users: 2, perRequest: 1, outcomes: []outcome{accepted, accepted, uncertain, accepted, accepted, accepted}}
	c0 := &wsConn{user: 0, users: 2, seen: newAlertSet(3)}
	c1 := &wsConn{user: 1, users: 2, seen: newAlertSet(3)}
	gone := &wsConn{user: 1, index: 1, users: 2, seen: newAlertSet(3)}
	gone.ended.Store(true)
	fl := &fleet{conns: []*wsConn{c0, c1, gone}}
	next := fl.firstAlerts()
	for _, n := range []int64{1, 3, 5} {
		c1.seen.add(n / 2)
	}
	c0.seen.add(0)
	c0.seen.add(1) // alert 2, uncertain: as many received as accepted, but not the ones
	if fl.received(sent, next) {
		t.Fatal("received with alert 4 missing")
	}
	c0.seen.add(2) // alert 4
	if !fl.received(sent, next) {
		t.Error("not received with every accepted alert in")
	}
}
