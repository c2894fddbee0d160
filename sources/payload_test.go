package sources_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// now is the time the tests receive payloads at: after every sample alert
// began.
var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// at parses an RFC 3339 time for a test's expectations.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readSample reads a file of testdata.
func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantInvalid checks that err is an alerts.ErrInvalid *alerts.Error about
// field, which is "" for an error about the body as a whole.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one about %q", field)
	}
	e, ok := errors.AsType[*alerts.Error](err)
	if !ok || !errors.Is(err, alerts.ErrInvalid) {
		t.Fatalf("error %#v is not an ErrInvalid *alerts.Error", err)
	}
	if e.Field != field {
		t.Errorf("error %q is about field %q, want %q", err, e.Field, field)
	}
}

// checkEvents compares events field by field.
func checkEvents(t *testing.T, got, want []alerts.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !maps.Equal(g.Labels, w.Labels) {
			t.Errorf("event %d: labels %v, want %v", i, g.Labels, w.Labels)
		}
		if g.Fingerprint != g.Labels.Fingerprint() {
			t.Errorf("event %d: fingerprint %s, but the labels' is %s", i, g.Fingerprint, g.Labels.Fingerprint())
		}
		if !maps.Equal(g.Annotations, w.Annotations) || (g.Annotations == nil) != (w.Annotations == nil) {
			t.Errorf("event %d: annotations %#v, want %#v", i, g.Annotations, w.Annotations)
		}
		if g.Status != w.Status {
			t.Errorf("event %d: status %q, want %q", i, g.Status, w.Status)
		}
		if !g.StartsAt.Equal(w.StartsAt) {
			t.Errorf("event %d: startsAt %v, want %v", i, g.StartsAt, w.StartsAt)
		}
		if !g.EndsAt.Equal(w.EndsAt) {
			t.Errorf("event %d: endsAt %v, want %v", i, g.EndsAt, w.EndsAt)
		}
		if g.GeneratorURL != w.GeneratorURL {
			t.Errorf("event %d: generatorURL %q, want %q", i, g.GeneratorURL, w.GeneratorURL)
		}
		if g.Source != w.Source {
			t.Errorf("event %d: source %q, want %q", i, g.Source, w.Source)
		}
	}
}

// sampleFingerprints returns the fingerprints a sample payload states for
// its alerts.
func sampleFingerprints(t *testing.T, body []byte) []string {
	t.Helper()
	var payload struct {
		Alerts []struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, a := range payload.Alerts {
		fps = append(fps, a.Fingerprint)
	}
	return fps
}

// exampleMapping is the mapping of testdata/generic-example.json.
func exampleMapping() *sources.Mapping {
	return &sources.Mapping{
		Labels:         map[string]string{"alertname": "check", "host": "host"},
		Annotations:    map[string]string{"detail": "detail", "link": "link"},
		Status:         "status",
		ResolvedValues: []string{"OK"},
	}
}

func TestParseSamples(t *testing.T) {
	const checkoutURL = "http://prometheus.example.internal:9090/graph?g0.expr=histogram_quantile"
	latency := func(instance string) alerts.Labels {
		return alerts.Labels{"alertname": "HighLatency", "service": "checkout", "severity": "page", "team": "payments", "instance": instance}
	}
	tests := []struct {
		file   string
		source sources.Source
		want   []alerts.Event
		// fingerprints are the alerts' fingerprints as Alertmanager
		// computes them; nil to take them from the sample.
		fingerprints []string
	}{
		{
			file:   "alertmanager-firing.json",
			source: sources.Source{Name: "am", Kind: sources.KindAlertmanager},
			want: []alerts.Event{
				{
					Labels:       latency("checkout-7f9c:8080"),
					Annotations:  map[string]string{"summary": "p99 latency above 800ms", "runbook_url": "https://runbooks.example.internal/checkout/latency"},
					Status:       alerts.StatusFiring,
					StartsAt:     at(t, "2026-11-24T08:01:12.345Z"),
					GeneratorURL: checkoutURL,
					Source:       "am",
				},
				{
					Labels:       latency("checkout-2b11:8080"),
					Annotations:  map[string]string{"summary": "p99 latency above 800ms"},
					Status:       alerts.StatusFiring,
					StartsAt:     at(t, "2026-11-24T08:01:42.001Z"),
					GeneratorURL: checkoutURL,
					Source:       "am",
				},
			},
		},
		{
			file:   "alertmanager-resolved.json",
			source: sources.Source{Name: "am", Kind: sources.KindAlertmanager},
			want: []alerts.Event{{
				Labels:       latency("checkout-7f9c:8080"),
				Annotations:  map[string]string{"summary": "p99 latency above 800ms"},
				Status:       alerts.StatusResolved,
				StartsAt:     at(t, "2026-11-24T08:01:12.345Z"),
				EndsAt:       at(t, "2026-11-24T08:19:02Z"),
				GeneratorURL: checkoutURL,
				Source:       "am",
			}},
		},
		{
			file:   "grafana-firing.json",
			source: sources.Source{Name: "grafana", Kind: sources.KindGrafana},
			want: []alerts.Event{{
				Labels:       alerts.Labels{"alertname": "DiskFull", "grafana_folder": "infra", "host": "db-3", "severity": "critical"},
				Annotations:  map[string]string{"summary": "disk /var/lib/mysql 97% full"},
				Status:       alerts.StatusFiring,
				StartsAt:     at(t, "2026-11-24T09:10:00Z"),
				GeneratorURL: "https://grafana.example.internal/alerting/grafana/cdz9k1/view",
				Source:       "grafana",
			}},
		},
		{
			// The alerts of alertmanager-firing.json, as Prometheus sends
			// them: the first still firing (its endsAt is after now, and
			// dropped), the second resolved.
			file:   "prometheus-alerts.json",
			source: sources.Source{Name: "prom", Kind: sources.KindPrometheus},
			want: []alerts.Event{
				{
					Labels:       latency("checkout-7f9c:8080"),
					Annotations:  map[string]string{"summary": "p99 latency above 800ms", "runbook_url": "https://runbooks.example.internal/checkout/latency"},
					Status:       alerts.StatusFiring,
					StartsAt:     at(t, "2026-11-24T08:01:12.345Z"),
					GeneratorURL: checkoutURL,
					Source:       "prom",
				},
				{
					Labels:       latency("checkout-2b11:8080"),
					Annotations:  map[string]string{"summary": "p99 latency above 800ms"},
					Status:       alerts.StatusResolved,
					StartsAt:     at(t, "2026-11-24T08:01:42.001Z"),
					EndsAt:       at(t, "2026-11-24T09:58:30Z"),
					GeneratorURL: checkoutURL,
					Source:       "prom",
				},
			},
			fingerprints: []string{"a9ce9ad06e7063dc", "c93e85b97cc8bb25"},
		},
		{
			file:   "generic-example.json",
			source: sources.Source{Name: "checks", Kind: sources.KindGeneric, Mapping: exampleMapping()},
			want: []alerts.Event{{
				Labels:      alerts.Labels{"alertname": "api-gateway health", "host": "gw-1"},
				Annotations: map[string]string{"detail": "HTTP 502 from /healthz for 3 consecutive checks", "link": "https://status.example.internal/checks/41"},
				Status:      alerts.StatusFiring,
				Source:      "checks",
			}},
			fingerprints: []string{alerts.Labels{"alertname": "api-gateway health", "host": "gw-1"}.Fingerprint().String()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readSample(t, tt.file)
			got, err := tt.source.Parse(sources.EndpointHook, body, now, sources.Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkEvents(t, got, tt.want)
			fps := tt.fingerprints
			if fps == nil {
				fps = sampleFingerprints(t, body)
			}
			if len(fps) != len(got) {
				t.Fatalf("%d fingerprints for %d events", len(fps), len(got))
			}
			for i, ev := range got {
				if ev.Fingerprint.String() != fps[i] {
					t.Errorf("event %d: fingerprint %s, want %s", i, ev.Fingerprint, fps[i])
				}
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	prom := readSample(t, "prometheus-alerts.json")
	tests := []struct {
		name     string
		kind     sources.Kind
		ep       sources.Endpoint
		body     []byte
		notFound bool
	}{
		{"prometheus at its API path", sources.KindPrometheus, sources.EndpointPrometheus, prom, false},
		{"prometheus at the hook", sources.KindPrometheus, sources.EndpointHook, prom, false},
		{"alertmanager at the API path", sources.KindAlertmanager, sources.EndpointPrometheus, readSample(t, "alertmanager-firing.json"), true},
		{"grafana at the API path", sources.KindGrafana, sources.EndpointPrometheus, readSample(t, "grafana-firing.json"), true},
		{"generic at the API path", sources.KindGeneric, sources.EndpointPrometheus, readSample(t, "generic-example.json"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sources.Source{Name: "src", Kind: tt.kind}
			if tt.kind == sources.KindGeneric {
				s.Mapping = exampleMapping()
			}
			events, err := s.Parse(tt.ep, tt.body, now, sources.Limits{})
			switch {
			case !tt.notFound && err != nil:
				t.Fatalf("error %q, want none", err)
			case !tt.notFound && len(events) == 0:
				t.Fatal("no events")
			case tt.notFound && !errors.Is(err, alerts.ErrNotFound):
				t.Fatalf("error %v, want ErrNotFound", err)
			case tt.notFound && events != nil:
				t.Fatalf("%d events with the error, want none", len(events))
			}
			if tt.notFound && err.Error() != "source src is not of kind prometheus" {
				t.Errorf("error %q, want it to say the source is not of kind prometheus", err)
			}
		})
	}
}

func TestParseBadSource(t *testing.T) {
	for _, s := range []sources.Source{
		{Name: "x", Kind: "splunk"},
		{Name: "x", Kind: sources.KindGeneric},
	} {
		_, err := s.Parse(sources.EndpointHook, []byte(`{}`), now, sources.Limits{})
		if err == nil || errors.Is(err, alerts.ErrInvalid) {
			t.Errorf("kind %q, mapping %v: error %v, want an internal error", s.Kind, s.Mapping, err)
		}
	}
}

// webhook returns an Alertmanager webhook payload holding the given alerts,
// each a JSON object.
func webhook(alertsJSON ...string) string {
	return `{"version":"4","status":"firing","alerts":[` + strings.Join(alertsJSON, ",") + `]}`
}

// firing is a valid alert of a webhook payload.
const firing = `{"status":"firing","labels":{"alertname":"Down","job":"api"}}`

// withLabels returns a firing alert with the given labels object.
func withLabels(labels string) string {
	return `{"status":"firing","labels":` + labels + `}`
}

// withMember returns a firing alert with one more member.
func withMember(name, value string) string {
	return `{"status":"firing","labels":{"alertname":"Down"},"` + name + `":` + value + `}`
}

// manyMembers returns an object of n members name0..name(n-1), all with
// value.
func manyMembers(name string, n int, value string) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"%s%d":"%s"`, name, i, value)
	}
	return "{" + strings.Join(members, ",") + "}"
}

func TestParseWebhookInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"empty body", ``, ""},
		{"white space", " \n", ""},
		{"not JSON", `alerts`, ""},
		{"array", `[` + firing + `]`, ""},
		{"string", `"alerts"`, ""},
		{"truncated", `{"alerts":[` + firing, ""},
		{"truncated after a wrong type", `{"alerts":[00`, ""},
		{"malformed after a wrong type", webhook(withLabels(`{"a":1}`)) + `,`, ""},
		{"trailing data", webhook(firing) + ` {}`, ""},
		{"trailing comma", `{"alerts":[` + firing + `,]}`, ""},
		{"duplicate member", `{"alerts":[],"alerts":[` + firing + `]}`, ""},
		{"duplicate label", webhook(withLabels(`{"job":"a","job":"b"}`)), ""},
		{"invalid UTF-8", webhook(withLabels("{\"job\":\"\xff\"}")), ""},
		{"no alerts member", `{"version":"4"}`, "alerts"},
		{"alerts null", `{"alerts":null}`, "alerts"},
		{"alerts empty", webhook(), "alerts"},
		{"alerts an object", `{"alerts":{}}`, "alerts"},
		{"too many alerts", webhook(firing, firing, firing), "alerts"},
		{"alert a string", webhook(firing, `"Down"`), "alerts[1]"},
		{"alert null status", webhook(`{"labels":{"a":"b"}}`), "alerts[0].status"},
		{"unknown status", webhook(`{"status":"pending","labels":{"a":"b"}}`), "alerts[0].status"},
		{"status in capitals", webhook(`{"status":"FIRING","labels":{"a":"b"}}`), "alerts[0].status"},
		{"status a number", webhook(`{"status":1,"labels":{"a":"b"}}`), "alerts[0].status"},
		{"no labels", webhook(firing, `{"status":"firing"}`), "alerts[1].labels"},
		{"labels in capitals", webhook(`{"status":"firing","Labels":{"a":"b"}}`), "alerts[0].labels"},
		{"labels empty", webhook(withLabels(`{}`)), "alerts[0].labels"},
		{"labels all empty values", webhook(withLabels(`{"a":"","b":""}`)), "alerts[0].labels"},
		{"labels an array", webhook(withLabels(`["a"]`)), "alerts[0].labels"},
		{"label name with a dash", webhook(withLabels(`{"alertname":"Down","bad-name":"x"}`)), `alerts[0].labels["bad-name"]`},
		{"label name with a digit first", webhook(withLabels(`{"1st":"x"}`)), `alerts[0].labels["1st"]`},
		{"label value a number", webhook(withLabels(`{"alertname":"Down","severity":2}`)), `alerts[0].labels["severity"]`},
		{"too many labels", webhook(withLabels(manyMembers("l", 129, "v"))), "alerts[0].labels"},
		{"label name too long", webhook(withLabels(`{"` + long(257) + `":"v"}`)), `alerts[0].labels["` + long(257) + `"]`},
		{"label value too long", webhook(withLabels(`{"a":"` + long(4097) + `"}`)), `alerts[0].labels["a"]`},
		{"annotations an array", webhook(withMember("annotations", `[]`)), "alerts[0].annotations"},
		{"annotation name with a space", webhook(withMember("annotations", `{"run book":"x"}`)), `alerts[0].annotations["run book"]`},
		{"annotation value an object", webhook(withMember("annotations", `{"summary":{}}`)), `alerts[0].annotations["summary"]`},
		{"too many annotations", webhook(withMember("annotations", manyMembers("a", 129, "v"))), "alerts[0].annotations"},
		{"annotation too long", webhook(withMember("annotations", `{"summary":"`+long(65537)+`"}`)), `alerts[0].annotations["summary"]`},
		{"generatorURL too long", webhook(withMember("generatorURL", `"http://x/`+long(4096)+`"`)), "alerts[0].generatorURL"},
		{"generatorURL a number", webhook(withMember("generatorURL", `1`)), "alerts[0].generatorURL"},
		{"startsAt not a time", webhook(withMember("startsAt", `"yesterday"`)), "alerts[0].startsAt"},
		{"startsAt without a zone", webhook(withMember("startsAt", `"2026-11-24T08:00:00"`)), "alerts[0].startsAt"},
		{"startsAt a number", webhook(withMember("startsAt", `1764000000`)), "alerts[0].startsAt"},
		{"startsAt in 1999", webhook(withMember("startsAt", `"1999-12-31T23:59:59Z"`)), "alerts[0].startsAt"},
		{"startsAt at the epoch", webhook(withMember("startsAt", `"1970-01-01T00:00:00Z"`)), "alerts[0].startsAt"},
		{"startsAt over an hour ahead", webhook(withMember("startsAt", `"2026-11-24T11:00:01Z"`)), "alerts[0].startsAt"},
		{"endsAt not a time", webhook(withMember("endsAt", `"never"`)), "alerts[0].endsAt"},
		{"endsAt in 1999", webhook(withMember("endsAt", `"1999-01-01T00:00:00Z"`)), "alerts[0].endsAt"},
		{"endsAt over 366 days ahead", webhook(withMember("endsAt", `"2027-11-25T10:00:01Z"`)), "alerts[0].endsAt"},
		{"endsAt before startsAt", webhook(`{"status":"resolved","labels":{"a":"b"},"startsAt":"2026-11-24T09:00:00Z","endsAt":"2026-11-24T08:59:59Z"}`), "alerts[0].endsAt"},
	}
	for _, kind := range []sources.Kind{sources.KindAlertmanager, sources.KindGrafana} {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				s := sources.Source{Name: "src", Kind: kind}
				events, err := s.Parse(sources.EndpointHook, []byte(tt.body), now, sources.Limits{MaxAlerts: 2})
				wantInvalid(t, err, tt.field)
				if events != nil {
					t.Errorf("%d events with the error, want none", len(events))
				}
			})
		}
	}
}

func TestParseWebhookValid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want alerts.Event
	}{
		{
			"unknown members ignored",
			`{"receiver":"x","alerts":[{"status":"firing","labels":{"a":"b"},"fingerprint":"not hex","values":{"B":1},"extra":[{"deep":null}]}],"title":7}`,
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusFiring},
		},
		{
			"empty label values dropped",
			webhook(withLabels(`{"a":"b","instance":""}`)),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusFiring},
		},
		{
			"null members are absent",
			webhook(`{"status":"firing","labels":{"a":"b"},"annotations":null,"startsAt":null,"endsAt":null,"generatorURL":null}`),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusFiring},
		},
		{
			"empty annotations are none",
			webhook(withMember("annotations", `{}`)),
			alerts.Event{Labels: alerts.Labels{"alertname": "Down"}, Status: alerts.StatusFiring},
		},
		{
			"empty annotation value kept",
			webhook(withMember("annotations", `{"summary":""}`)),
			alerts.Event{Labels: alerts.Labels{"alertname": "Down"}, Annotations: map[string]string{"summary": ""}, Status: alerts.StatusFiring},
		},
		{
			"Alertmanager's zero times are unset",
			webhook(`{"status":"resolved","labels":{"a":"b"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}`),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusResolved},
		},
		{
			"startsAt an hour ahead, endsAt 366 days ahead",
			webhook(`{"status":"resolved","labels":{"a":"b"},"startsAt":"2026-11-24T11:00:00Z","endsAt":"2027-11-25T10:00:00Z"}`),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusResolved, StartsAt: now.Add(time.Hour), EndsAt: now.Add(366 * 24 * time.Hour)},
		},
		{
			"endsAt of a firing alert dropped",
			webhook(`{"status":"firing","labels":{"a":"b"},"startsAt":"2026-11-24T09:00:00+01:00","endsAt":"2026-11-24T10:05:00Z"}`),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusFiring, StartsAt: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
		},
		{
			"endsAt equal to startsAt",
			webhook(`{"status":"resolved","labels":{"a":"b"},"startsAt":"2026-11-24T09:00:00Z","endsAt":"2026-11-24T09:00:00Z"}`),
			alerts.Event{Labels: alerts.Labels{"a": "b"}, Status: alerts.StatusResolved, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(-time.Hour)},
		},
		{
			"Grafana's annotation names",
			webhook(withMember("annotations", `{"__dashboardUid__":"abc","__panelId__":"4"}`)),
			alerts.Event{Labels: alerts.Labels{"alertname": "Down"}, Annotations: map[string]string{"__dashboardUid__": "abc", "__panelId__": "4"}, Status: alerts.StatusFiring},
		},
		{
			"128 labels",
			webhook(withLabels(manyMembers("l", 128, "v"))),
			alerts.Event{Labels: labelsOf(128), Status: alerts.StatusFiring},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sources.Source{Name: "src", Kind: sources.KindAlertmanager}
			events, err := s.Parse(sources.EndpointHook, []byte(tt.body), now, sources.Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.Source = "src"
			checkEvents(t, events, []alerts.Event{tt.want})
		})
	}
}

// labelsOf returns the labels l0="v" ... l(n-1)="v".
func labelsOf(n int) alerts.Labels {
	ls := make(alerts.Labels, n)
	for i := range n {
		ls[fmt.Sprintf("l%d", i)] = "v"
	}
	return ls
}

func TestParseMaxAlerts(t *testing.T) {
	tests := []struct {
		max, n int
		ok     bool
	}{
		{2, 2, true},
		{2, 3, false},
		{0, sources.DefaultMaxAlerts, true},
		{0, sources.DefaultMaxAlerts + 1, false},
		{-1, sources.DefaultMaxAlerts, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max %d, %d alerts", tt.max, tt.n), func(t *testing.T) {
			list := make([]string, tt.n)
			for i := range list {
				list[i] = fmt.Sprintf(`{"labels":{"n":"%d"}}`, i)
			}
			body := "[" + strings.Join(list, ",") + "]"
			s := sources.Source{Name: "prom", Kind: sources.KindPrometheus}
			events, err := s.Parse(sources.EndpointPrometheus, []byte(body), now, sources.Limits{MaxAlerts: tt.max})
			if !tt.ok {
				wantInvalid(t, err, "alerts")
				return
			}
			if err != nil || len(events) != tt.n {
				t.Errorf("%d events, error %v; want %d, none", len(events), err, tt.n)
			}
		})
	}
}

func TestParsePrometheus(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status alerts.Status
		endsAt time.Time
		field  string // the error's, "" for none
	}{
		{"no endsAt", `[{"labels":{"a":"b"}}]`, alerts.StatusFiring, time.Time{}, ""},
		{"zero endsAt", `[{"labels":{"a":"b"},"endsAt":"0001-01-01T00:00:00Z"}]`, alerts.StatusFiring, time.Time{}, ""},
		{"endsAt ahead", `[{"labels":{"a":"b"},"endsAt":"2026-11-24T10:00:00.001Z"}]`, alerts.StatusFiring, time.Time{}, ""},
		{"endsAt now", `[{"labels":{"a":"b"},"endsAt":"2026-11-24T10:00:00Z"}]`, alerts.StatusResolved, now, ""},
		{"endsAt past", `[{"labels":{"a":"b"},"endsAt":"2026-11-24T09:00:00Z"}]`, alerts.StatusResolved, now.Add(-time.Hour), ""},
		{"status member ignored", `[{"labels":{"a":"b"},"status":"resolved"}]`, alerts.StatusFiring, time.Time{}, ""},

		{"object", `{"alerts":[{"labels":{"a":"b"}}]}`, "", time.Time{}, ""},
		{"empty", `[]`, "", time.Time{}, "alerts"},
		{"null", `null`, "", time.Time{}, ""},
		{"alert a number", `[1]`, "", time.Time{}, "alerts[0]"},
		{"no labels", `[{"annotations":{"a":"b"}}]`, "", time.Time{}, "alerts[0].labels"},
		{"bad label name", `[{"labels":{"a":"b"}},{"labels":{"bad-name":"x"}}]`, "", time.Time{}, `alerts[1].labels["bad-name"]`},
		{"label value null", `[{"labels":{"a":null}}]`, "", time.Time{}, "alerts[0].labels"},
		{"label value true", `[{"labels":{"a":true}}]`, "", time.Time{}, `alerts[0].labels["a"]`},
		{"startsAt in 1970", `[{"labels":{"a":"b"},"startsAt":"1970-01-01T00:00:01Z"}]`, "", time.Time{}, "alerts[0].startsAt"},
		{"endsAt before startsAt", `[{"labels":{"a":"b"},"startsAt":"2026-11-24T09:00:00Z","endsAt":"2026-11-24T08:00:00Z"}]`, "", time.Time{}, "alerts[0].endsAt"},
		{"malformed", `[{"labels":{"a":"b"}}`, "", time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sources.Source{Name: "prom", Kind: sources.KindPrometheus}
			events, err := s.Parse(sources.EndpointPrometheus, []byte(tt.body), now, sources.Limits{})
			if tt.status == "" {
				if err == nil {
					t.Fatalf("no error, want one about %q", tt.field)
				}
				wantInvalid(t, err, tt.field)
				if events != nil {
					t.Errorf("%d events with the error, want none", len(events))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(events) != 1 || events[0].Status != tt.status || !events[0].EndsAt.Equal(tt.endsAt) {
				t.Errorf("events %+v, want one %s with endsAt %v", events, tt.status, tt.endsAt)
			}
		})
	}
}

// TestParseErrorMessages checks the messages clients read for a few
// errors: they must say where and what.
func TestParseErrorMessages(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"syntax", `{"alerts":[}`, `malformed JSON at byte 11 (in "/alerts/0"): invalid character '}'`},
		{"duplicate", webhook(withLabels(`{"job":"a","job":"b"}`)), `malformed JSON at byte 82 (in "/alerts/0/labels/job"): duplicate object member name`},
		{"type", webhook(withLabels(`{"a":1}`)), `alerts[0].labels["a"]: want a string, got a number`},
		{"count", webhook(), `alerts: no alerts`},
		{"long status cut", webhook(`{"status":"` + strings.Repeat("é", 100) + `","labels":{"a":"b"}}`), `alerts[0].status: must be "firing" or "resolved", got "` + strings.Repeat("é", 32) + `"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sources.Source{Name: "am", Kind: sources.KindAlertmanager}
			_, err := s.Parse(sources.EndpointHook, []byte(tt.body), now, sources.Limits{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want it to begin %q", err, tt.want)
			}
		})
	}
}

// fuzzLimits are the limits the fuzz targets parse with: low, so that the
// fuzzer reaches the cap.
var fuzzLimits = sources.Limits{MaxAlerts: 3}

// checkParse checks the invariants of Parse on any body: on success every
// event is valid and its fingerprint is its labels'; on error there are no
// events and the error is one a client may be shown.
func checkParse(t *testing.T, s sources.Source, ep sources.Endpoint, body []byte) {
	events, err := s.Parse(ep, body, now, fuzzLimits)
	if err != nil {
		if events != nil {
			t.Fatalf("%d events with error %v", len(events), err)
		}
		if _, ok := errors.AsType[*alerts.Error](err); !ok || !(errors.Is(err, alerts.ErrInvalid) || errors.Is(err, alerts.ErrNotFound)) {
			t.Fatalf("error %#v is not an *alerts.Error of ErrInvalid or ErrNotFound", err)
		}
		return
	}
	if len(events) == 0 || len(events) > fuzzLimits.MaxAlerts {
		t.Fatalf("%d events, want 1 to %d", len(events), fuzzLimits.MaxAlerts)
	}
	for i, ev := range events {
		if len(ev.Labels) == 0 {
			t.Fatalf("event %d has no labels", i)
		}
		if err := ev.Labels.Validate("labels"); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Fingerprint != ev.Labels.Fingerprint() {
			t.Fatalf("event %d: fingerprint %s, labels' %s", i, ev.Fingerprint, ev.Labels.Fingerprint())
		}
		if ev.Status != alerts.StatusFiring && ev.Status != alerts.StatusResolved {
			t.Fatalf("event %d: status %q", i, ev.Status)
		}
		if ev.Status == alerts.StatusFiring && !ev.EndsAt.IsZero() {
			t.Fatalf("event %d: firing with endsAt %v", i, ev.EndsAt)
		}
		if ev.Source != s.Name {
			t.Fatalf("event %d: source %q, want %q", i, ev.Source, s.Name)
		}
	}
}

func FuzzParseAlertmanager(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, sources.Source{Name: "am", Kind: sources.KindAlertmanager}, sources.EndpointHook, body)
	})
}

func FuzzParseGrafana(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, sources.Source{Name: "grafana", Kind: sources.KindGrafana}, sources.EndpointHook, body)
		// The Prometheus endpoint refuses other kinds, whatever the body.
		checkParse(t, sources.Source{Name: "grafana", Kind: sources.KindGrafana}, sources.EndpointPrometheus, body)
	})
}

func FuzzParsePrometheus(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, sources.Source{Name: "prom", Kind: sources.KindPrometheus}, sources.EndpointPrometheus, body)
	})
}
