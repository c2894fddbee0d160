package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

func TestDeclaredPollers(t *testing.T) {
	const file = `pollers:
  max_concurrent: 8
  checks:
    - name: shop
      kind: http
      schedule: "@every 30s"
      url: https://shop.example.com/healthz
      headers: {Accept: application/json}
      expect_status: [200, "301-302"]
      expect_body: '"ok"'
      expect_json: {path: status, equals: ok}
      max_latency: 2s
      timeout: 5s
      fail_after: 1
      labels: {severity: critical}
      annotations: {summary: shop down}
    - name: db
      kind: tcp
      schedule: "*/15 * * * * *"
      address: db.internal:5432
      recover_after: 5
      enabled: false
    - name: disk
      kind: prometheus
      schedule: "@every 1m"
      url: http://prometheus:9090
      query: up == 0
cluster:
  node_id: tocsin-1
`
	cfg, err := Parse("config.yaml", []byte(file), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Pollers.MaxConcurrent != 8 || cfg.Cluster.NodeID != "tocsin-1" || len(cfg.Pollers.Checks) != 3 {
		t.Fatalf("pollers %+v, cluster %+v", cfg.Pollers, cfg.Cluster)
	}
	want := []sources.Poller{
		{
			Name: "shop", Kind: sources.PollerHTTP, Schedule: "@every 30s", Timeout: sources.Duration(5 * time.Second),
			URL: "https://shop.example.com/healthz", Method: "GET", Headers: map[string]string{"Accept": "application/json"},
			ExpectStatus: []sources.StatusRange{{Min: 200, Max: 200}, {Min: 301, Max: 302}}, ExpectBody: `"ok"`,
			ExpectJSON: &sources.JSONExpectation{Path: "status", Equals: "ok"}, MaxLatency: sources.Duration(2 * time.Second),
			Labels: alerts.Labels{"severity": "critical"}, Annotations: map[string]string{"summary": "shop down"},
			FailAfter: 1, RecoverAfter: sources.DefaultRecoverAfter, Enabled: true,
		},
		{
			Name: "db", Kind: sources.PollerTCP, Schedule: "*/15 * * * * *", Timeout: sources.Duration(sources.DefaultPollTimeout),
			Address: "db.internal:5432", Labels: alerts.Labels{}, Annotations: map[string]string{},
			FailAfter: sources.DefaultFailAfter, RecoverAfter: 5, Enabled: false,
		},
		{
			Name: "disk", Kind: sources.PollerPrometheus, Schedule: "@every 1m", Timeout: sources.Duration(sources.DefaultPollTimeout),
			URL: "http://prometheus:9090", Query: "up == 0", Labels: alerts.Labels{}, Annotations: map[string]string{},
			FailAfter: sources.DefaultFailAfter, RecoverAfter: sources.DefaultRecoverAfter, Enabled: true,
		},
	}
	for i, decl := range cfg.Pollers.Checks {
		got, err := decl.Poller()
		if err != nil {
			t.Errorf("checks[%d].Poller(): %v", i, err)
			continue
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("checks[%d].Poller() =\n%+v\nwant\n%+v", i, got, want[i])
		}
	}
}

// Declared pollers are checked by the API's rules, each problem reported at
// the line of its key, under pollers.checks[i].
func TestDeclaredPollerProblems(t *testing.T) {
	const file = `pollers:
  max_concurrent: 0
  checks:
    - name: a
      kind: http
      schedule: every minute
      url: https://a.example
    - name: b
      kind: http
      schedule: "@every 30s"
      url: not a url
    - name: c
      kind: http
      schedule: "@every 30s"
      url: https://c.example
      expect_body: "("
    - name: d
      kind: tcp
      schedule: "@every 30s"
      address: db:5432
      fail_after: 0
    - name: e
      kind: tcp
      schedule: "@every 30s"
      address: nowhere
    - name: f
      kind: ping
      schedule: "@every 30s"
    - name: g
      kind: tcp
      schedule: "@every 30s"
      address: db:5432
      url: https://g.example
    - name: h
      kind: http
      schedule: "@every 30s"
      url: https://h.example
      expect_status: ["600"]
    - name: i
      kind: prometheus
      schedule: "@every 30s"
      url: http://prometheus:9090
    - name: j
      kind: tcp
      schedule: "@every 30s"
      address: db:5432
      labels: {poller: x}
    - name: a
      kind: tcp
      schedule: "@every 30s"
      address: db:5432
      timeout: 1h
      recover_after: 0
    - name: k
      kind: tcp
      schedule: "@every 30s"
      address: db:5432
      timeout: soon
cluster:
  node_id: "node 1"
`
	_, err := Parse("config.yaml", []byte(file), nil)
	if err == nil {
		t.Fatal("Parse: no error")
	}
	want := lines(
		`config.yaml:2: pollers.max_concurrent: must be at least 1, got 0`,
		`config.yaml:6: pollers.checks[0].schedule: must be a cron spec such as "*/30 * * * * *" or "*/5 * * * *", or "@every 30s": expected 5 to 6 fields, found 2: [every minute]`,
		`config.yaml:11: pollers.checks[1].url: must be an absolute http or https URL of at most 2048 characters, got "not a url"`,
		`config.yaml:16: pollers.checks[2].expect_body: is not a regular expression (RE2 syntax): error parsing regexp: missing closing ): `+"`(`",
		`config.yaml:21: pollers.checks[3].fail_after: must be 1 to 100, got 0`,
		`config.yaml:25: pollers.checks[4].address: must be host:port, such as db.internal:5432, got "nowhere"`,
		`config.yaml:27: pollers.checks[5].kind: must be one of "http", "tcp" or "prometheus", got "ping"`,
		`config.yaml:33: pollers.checks[6].url: is not a field of tcp pollers`,
		`config.yaml:38: pollers.checks[7].expect_status[0]: want a status or a range of statuses from 100 to 599, such as "200" or "200-299", got "600"`,
		`config.yaml:39: pollers.checks[8].query: must be a PromQL expression of at most 16 KiB`,
		`config.yaml:47: pollers.checks[9].labels["poller"]: is set by tocsin to the poller's name`,
		`config.yaml:48: pollers.checks[10].name: "a" is declared twice`,
		`config.yaml:52: pollers.checks[10].timeout: must be more than 0 and at most 5m0s`,
		`config.yaml:58: pollers.checks[11].timeout: want a duration like "10s", got "soon"`,
		`config.yaml:60: cluster.node_id: must be 1 to 64 bytes of printable characters without spaces, got "node 1"`,
	)
	if got := err.Error(); got != want {
		t.Errorf("Parse error:\n%s\nwant:\n%s", got, want)
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Logf("first difference at line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
				break
			}
		}
	}
}

// Pollers are not set from the environment, but max_concurrent and the node
// are.
func TestPollersFromEnv(t *testing.T) {
	cfg, err := Load("", env(map[string]string{"TOCSIN_POLLERS_MAX_CONCURRENT": "2", "TOCSIN_CLUSTER_NODE_ID": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pollers.MaxConcurrent != 2 || cfg.Cluster.NodeID != "b" {
		t.Errorf("pollers %+v, cluster %+v; want max_concurrent 2 and node b", cfg.Pollers, cfg.Cluster)
	}
	_, err = Load("", env(map[string]string{"TOCSIN_CLUSTER_NODE_ID": strings.Repeat("n", 65)}))
	if err == nil || !strings.Contains(err.Error(), "TOCSIN_CLUSTER_NODE_ID: cluster.node_id: must be 1 to 64 bytes") {
		t.Errorf("a 65-byte node ID: %v", err)
	}
}
