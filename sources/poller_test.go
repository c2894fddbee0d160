package sources_test

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// pollerOf returns a valid poller of the kind, before Validate fills in its
// defaults.
func pollerOf(kind sources.PollerKind) sources.Poller {
	p := sources.Poller{
		Name: "checkout", Kind: kind, Schedule: "*/30 * * * * *",
		Labels: alerts.Labels{"team": "payments"}, Annotations: map[string]string{"summary": "checkout is down"},
		FailAfter: sources.DefaultFailAfter, RecoverAfter: sources.DefaultRecoverAfter, Enabled: true,
	}
	switch kind {
	case sources.PollerHTTP:
		p.URL = "https://checkout.internal/healthz"
	case sources.PollerTCP:
		p.Address = "db.internal:5432"
	case sources.PollerPrometheus:
		p.URL, p.Query = "http://prometheus:9090", `up{job="checkout"} == 0`
	}
	return p
}

func TestPollerValidate(t *testing.T) {
	const (
		http = sources.PollerHTTP
		tcp  = sources.PollerTCP
		prom = sources.PollerPrometheus
	)
	tests := []struct {
		name   string
		kind   sources.PollerKind
		change func(p *sources.Poller)
		field  string // "" for valid
	}{
		{name: "http", kind: http, change: func(*sources.Poller) {}},
		{name: "tcp", kind: tcp, change: func(*sources.Poller) {}},
		{name: "prometheus", kind: prom, change: func(*sources.Poller) {}},
		{name: "every http field", kind: http, change: func(p *sources.Poller) {
			p.Method, p.Headers, p.Body = "POST", map[string]string{"Authorization": "Bearer x", "Host": "checkout"}, `{"ping":true}`
			p.ExpectStatus = []sources.StatusRange{{Min: 200, Max: 204}, {Min: 301, Max: 301}}
			p.ExpectBody, p.ExpectJSON = `"ok":\s*true`, &sources.JSONExpectation{Path: "checks.0.ok", Equals: "true"}
			p.Timeout, p.MaxLatency, p.TLSSkipVerify = sources.Duration(5*time.Second), sources.Duration(2*time.Second), true
		}},
		{name: "schedule of five fields", kind: tcp, change: func(p *sources.Poller) { p.Schedule = "*/5 * * * *" }},
		{name: "schedule every 30s", kind: tcp, change: func(p *sources.Poller) { p.Schedule = "@every 30s" }},
		{name: "longest timeout", kind: tcp, change: func(p *sources.Poller) { p.Timeout = sources.Duration(sources.MaxPollTimeout) }},
		{name: "most streaks", kind: tcp, change: func(p *sources.Poller) { p.FailAfter, p.RecoverAfter = sources.MaxStreak, sources.MaxStreak }},
		{name: "ipv6 address", kind: tcp, change: func(p *sources.Poller) { p.Address = "[::1]:22" }},

		{name: "no name", kind: http, change: func(p *sources.Poller) { p.Name = "" }, field: "name"},
		{name: "bad name", kind: http, change: func(p *sources.Poller) { p.Name = "check out/1" }, field: "name"},
		{name: "unknown kind", kind: http, change: func(p *sources.Poller) { p.Kind = "icmp" }, field: "kind"},
		{name: "bad cron spec", kind: http, change: func(p *sources.Poller) { p.Schedule = "every minute" }, field: "schedule"},
		{name: "cron spec out of range", kind: http, change: func(p *sources.Poller) { p.Schedule = "0 61 * * * *" }, field: "schedule"},
		{name: "no schedule", kind: http, change: func(p *sources.Poller) { p.Schedule = "" }, field: "schedule"},
		{name: "every 500ms", kind: http, change: func(p *sources.Poller) { p.Schedule = "@every 500ms" }, field: "schedule"},
		{name: "time zone", kind: http, change: func(p *sources.Poller) { p.Schedule = "CRON_TZ=Europe/Paris 0 9 * * *" }, field: "schedule"},
		{name: "timeout too long", kind: http, change: func(p *sources.Poller) { p.Timeout = sources.Duration(sources.MaxPollTimeout + time.Second) }, field: "timeout"},
		{name: "negative timeout", kind: tcp, change: func(p *sources.Poller) { p.Timeout = sources.Duration(-time.Second) }, field: "timeout"},
		{name: "bad url", kind: http, change: func(p *sources.Poller) { p.URL = "checkout.internal/healthz" }, field: "url"},
		{name: "ftp url", kind: http, change: func(p *sources.Poller) { p.URL = "ftp://checkout.internal/" }, field: "url"},
		{name: "url with credentials", kind: http, change: func(p *sources.Poller) { p.URL = "https://u:p@checkout.internal/" }, field: "url"},
		{name: "no url", kind: http, change: func(p *sources.Poller) { p.URL = "" }, field: "url"},
		{name: "bad prometheus url", kind: prom, change: func(p *sources.Poller) { p.URL = "prometheus:9090" }, field: "url"},
		{name: "lower case method", kind: http, change: func(p *sources.Poller) { p.Method = "get" }, field: "method"},
		{name: "bad header name", kind: http, change: func(p *sources.Poller) { p.Headers = map[string]string{"X Bad": "1"} }, field: `headers["X Bad"]`},
		{name: "header with a line break", kind: http, change: func(p *sources.Poller) { p.Headers = map[string]string{"X-Ok": "a\r\nX-Evil: 1"} }, field: `headers["X-Ok"]`},
		{name: "body too long", kind: http, change: func(p *sources.Poller) { p.Body = strings.Repeat("x", sources.MaxPollerBody+1) }, field: "body"},
		{name: "bad status range", kind: http, change: func(p *sources.Poller) {
			p.ExpectStatus = []sources.StatusRange{{Min: 200, Max: 200}, {Min: 299, Max: 200}}
		}, field: "expect_status[1]"},
		{name: "status out of range", kind: http, change: func(p *sources.Poller) { p.ExpectStatus = []sources.StatusRange{{Min: 600, Max: 600}} }, field: "expect_status[0]"},
		{name: "bad regex", kind: http, change: func(p *sources.Poller) { p.ExpectBody = `"ok":(true` }, field: "expect_body"},
		{name: "perl regex", kind: http, change: func(p *sources.Poller) { p.ExpectBody = `(?=ok)` }, field: "expect_body"},
		{name: "empty json path", kind: http, change: func(p *sources.Poller) { p.ExpectJSON = &sources.JSONExpectation{Equals: "ok"} }, field: "expect_json.path"},
		{name: "json path with an empty step", kind: http, change: func(p *sources.Poller) {
			p.ExpectJSON = &sources.JSONExpectation{Path: "checks..ok", Equals: "true"}
		}, field: "expect_json.path"},
		{name: "max latency at the timeout", kind: http, change: func(p *sources.Poller) {
			p.Timeout, p.MaxLatency = sources.Duration(2*time.Second), sources.Duration(2*time.Second)
		}, field: "max_latency"},
		{name: "max latency over the default timeout", kind: http, change: func(p *sources.Poller) { p.MaxLatency = sources.Duration(time.Minute) }, field: "max_latency"},
		{name: "negative max latency", kind: http, change: func(p *sources.Poller) { p.MaxLatency = sources.Duration(-time.Second) }, field: "max_latency"},
		{name: "address on http", kind: http, change: func(p *sources.Poller) { p.Address = "db:5432" }, field: "address"},
		{name: "query on http", kind: http, change: func(p *sources.Poller) { p.Query = "up" }, field: "query"},
		{name: "url on tcp", kind: tcp, change: func(p *sources.Poller) { p.URL = "http://db/" }, field: "url"},
		{name: "tls_skip_verify on tcp", kind: tcp, change: func(p *sources.Poller) { p.TLSSkipVerify = true }, field: "tls_skip_verify"},
		{name: "expect_body on prometheus", kind: prom, change: func(p *sources.Poller) { p.ExpectBody = "ok" }, field: "expect_body"},
		{name: "headers on prometheus", kind: prom, change: func(p *sources.Poller) { p.Headers = map[string]string{"X-Scope-OrgID": "a"} }, field: "headers"},
		{name: "no address", kind: tcp, change: func(p *sources.Poller) { p.Address = "" }, field: "address"},
		{name: "address without port", kind: tcp, change: func(p *sources.Poller) { p.Address = "db.internal" }, field: "address"},
		{name: "port 0", kind: tcp, change: func(p *sources.Poller) { p.Address = "db.internal:0" }, field: "address"},
		{name: "named port", kind: tcp, change: func(p *sources.Poller) { p.Address = "db.internal:postgres" }, field: "address"},
		{name: "no query", kind: prom, change: func(p *sources.Poller) { p.Query = "  " }, field: "query"},
		{name: "query too long", kind: prom, change: func(p *sources.Poller) { p.Query = strings.Repeat("x", 16<<10+1) }, field: "query"},
		{name: "bad label name", kind: http, change: func(p *sources.Poller) { p.Labels = alerts.Labels{"bad-name": "x"} }, field: `labels["bad-name"]`},
		{name: "label poller", kind: http, change: func(p *sources.Poller) { p.Labels = alerts.Labels{"poller": "other"} }, field: `labels["poller"]`},
		{name: "too many labels", kind: http, change: func(p *sources.Poller) { p.Labels = labelsOfSize(200) }, field: "labels"},
		{name: "empty label value", kind: http, change: func(p *sources.Poller) { p.Labels = alerts.Labels{"team": ""} }, field: `labels["team"]`},
		{name: "label value too long", kind: http, change: func(p *sources.Poller) { p.Labels = alerts.Labels{"team": strings.Repeat("x", 64<<10)} }, field: `labels["team"]`},
		{name: "bad annotation name", kind: http, change: func(p *sources.Poller) { p.Annotations = map[string]string{"not a name!": "x"} }, field: `annotations["not a name!"]`},
		{name: "too many annotations", kind: http, change: func(p *sources.Poller) {
			p.Annotations = map[string]string(labelsOfSize(200))
		}, field: "annotations"},
		{name: "fail_after 0", kind: http, change: func(p *sources.Poller) { p.FailAfter = 0 }, field: "fail_after"},
		{name: "fail_after too many", kind: http, change: func(p *sources.Poller) { p.FailAfter = sources.MaxStreak + 1 }, field: "fail_after"},
		{name: "recover_after 0", kind: tcp, change: func(p *sources.Poller) { p.RecoverAfter = 0 }, field: "recover_after"},
		{name: "negative recover_after", kind: prom, change: func(p *sources.Poller) { p.RecoverAfter = -1 }, field: "recover_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pollerOf(tt.kind)
			tt.change(&p)
			checkField(t, p.Validate(), tt.field)
		})
	}
}

// labelsOfSize returns n valid labels.
func labelsOfSize(n int) alerts.Labels {
	ls := make(alerts.Labels, n)
	for i := range n {
		ls["l"+strconv.Itoa(i)] = "v"
	}
	return ls
}

func TestPollerValidateDefaults(t *testing.T) {
	p := pollerOf(sources.PollerHTTP)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Timeout != sources.Duration(sources.DefaultPollTimeout) || p.Method != "GET" {
		t.Errorf("timeout %v, method %q; want %v, GET", time.Duration(p.Timeout), p.Method, sources.DefaultPollTimeout)
	}
	if len(p.ExpectStatus) != 1 || p.ExpectStatus[0] != (sources.StatusRange{Min: 200, Max: 299}) {
		t.Errorf("expect_status %v, want [200-299]", p.ExpectStatus)
	}
	// The default is a copy: changing it changes no other poller's.
	p.ExpectStatus[0].Max = 200
	if sources.DefaultExpectStatus[0].Max != 299 {
		t.Errorf("DefaultExpectStatus changed to %v", sources.DefaultExpectStatus)
	}

	tcp := pollerOf(sources.PollerTCP)
	if err := tcp.Validate(); err != nil {
		t.Fatal(err)
	}
	if tcp.Method != "" || tcp.ExpectStatus != nil {
		t.Errorf("tcp poller given http defaults: method %q, expect_status %v", tcp.Method, tcp.ExpectStatus)
	}
}

func TestParseSchedule(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 7, 0, time.UTC)
	tests := []struct {
		spec string
		next time.Time // zero for a spec that is refused
	}{
		{"*/30 * * * * *", start.Add(23 * time.Second)},
		{"*/5 * * * *", start.Add(5*time.Minute - 7*time.Second)},
		{"0 0 * * * *", start.Add(time.Hour - 7*time.Second)},
		{"@every 30s", start.Add(30 * time.Second)},
		{"@every 1s", start.Add(time.Second)},
		{"@every 1500ms", start.Add(time.Second)}, // cron's rounding
		{"@hourly", start.Add(time.Hour - 7*time.Second)},
		{"", time.Time{}},
		{"* * *", time.Time{}},
		{"@every 500ms", time.Time{}},
		{"@every soon", time.Time{}},
		{"TZ=UTC * * * * *", time.Time{}},
	}
	for _, tt := range tests {
		sched, err := sources.ParseSchedule(tt.spec)
		if tt.next.IsZero() {
			checkField(t, err, "schedule")
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if got := sched.Next(start); !got.Equal(tt.next) {
			t.Errorf("%q: next run after %v is %v, want %v", tt.spec, start, got, tt.next)
		}
	}
}

func TestStatusRangeText(t *testing.T) {
	for _, tt := range []struct {
		text string
		want sources.StatusRange // zero for text that is refused
	}{
		{"200", sources.StatusRange{Min: 200, Max: 200}},
		{"200-299", sources.StatusRange{Min: 200, Max: 299}},
		{"100-599", sources.StatusRange{Min: 100, Max: 599}},
		{"99", sources.StatusRange{}},
		{"600", sources.StatusRange{}},
		{"300-200", sources.StatusRange{}},
		{"200-", sources.StatusRange{}},
		{"-200", sources.StatusRange{}},
		{"2xx", sources.StatusRange{}},
		{"", sources.StatusRange{}},
	} {
		var got sources.StatusRange
		err := got.UnmarshalText([]byte(tt.text))
		if tt.want == (sources.StatusRange{}) {
			if err == nil {
				t.Errorf("%q: read as %v, want an error", tt.text, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %v, %v; want %v", tt.text, got, err, tt.want)
		}
		if got.String() != tt.text {
			t.Errorf("%v written %q, want %q", got, got.String(), tt.text)
		}
	}
}

func TestPollerJSON(t *testing.T) {
	p := pollerOf(sources.PollerHTTP)
	p.Timeout, p.MaxLatency = sources.Duration(90*time.Second), sources.Duration(1500*time.Millisecond)
	p.ExpectStatus = []sources.StatusRange{{Min: 200, Max: 299}, {Min: 304, Max: 304}}
	p.ExpectJSON = &sources.JSONExpectation{Path: "status", Equals: "ok"}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"timeout":"1m30s"`, `"max_latency":"1.5s"`, `"expect_status":["200-299","304"]`, `"expect_json":{"path":"status","equals":"ok"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s does not hold %s", b, want)
		}
	}
	var back sources.Poller
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Timeout != p.Timeout || back.MaxLatency != p.MaxLatency || len(back.ExpectStatus) != 2 || back.ExpectStatus[1] != p.ExpectStatus[1] || *back.ExpectJSON != *p.ExpectJSON {
		t.Errorf("read back %+v, want %+v", back, p)
	}
	for _, bad := range []string{`{"timeout":"10"}`, `{"timeout":10}`, `{"expect_status":["2xx"]}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s read without error", bad)
		}
	}
}

func TestAlertLabels(t *testing.T) {
	p := sources.Poller{Name: "node-down", Kind: sources.PollerPrometheus, Labels: alerts.Labels{"severity": "page", "job": "poller-wins"}}
	tests := []struct {
		name   string
		series alerts.Labels
		want   alerts.Labels
	}{
		{name: "no series", want: alerts.Labels{"alertname": "node-down", "severity": "page", "job": "poller-wins", "poller": "node-down"}},
		{
			name:   "series",
			series: alerts.Labels{"__name__": "up", "instance": "a:9100", "job": "node", "poller": "spoofed"},
			want:   alerts.Labels{"alertname": "node-down", "instance": "a:9100", "severity": "page", "job": "poller-wins", "poller": "node-down"},
		},
		{
			name:   "series names the alert",
			series: alerts.Labels{"alertname": "DiskFull", "instance": "a:9100"},
			want:   alerts.Labels{"alertname": "DiskFull", "instance": "a:9100", "severity": "page", "job": "poller-wins", "poller": "node-down"},
		},
	}
	for _, tt := range tests {
		if got := p.AlertLabels(tt.series); !maps.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	p.Labels["alertname"] = "NodeDown"
	if got := p.AlertLabels(alerts.Labels{"alertname": "DiskFull"}); got["alertname"] != "NodeDown" {
		t.Errorf("poller's alertname lost to the series': %v", got)
	}
	if got := p.Source(); got != "poller:node-down" {
		t.Errorf("Source %q, want poller:node-down", got)
	}
}
