package sources_test

import (
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// listMapping reads alerts from an array, with every kind of path.
func listMapping() *sources.Mapping {
	return &sources.Mapping{
		Alerts:          "data.alerts",
		Labels:          map[string]string{"alertname": "name", "host": "target.host", "first_tag": "tags.0"},
		LabelsFrom:      "labels",
		Annotations:     map[string]string{"summary": "message", "runbook url": "links.0.href"},
		AnnotationsFrom: "details",
		Status:          "state",
		ResolvedValues:  []string{"ok", "0"},
	}
}

// generic returns a payload for listMapping holding the given alerts.
func generic(alertsJSON ...string) string {
	return `{"data":{"alerts":[` + strings.Join(alertsJSON, ",") + `]}}`
}

func TestParseGeneric(t *testing.T) {
	tests := []struct {
		name    string
		mapping *sources.Mapping // nil: listMapping
		body    string
		want    []alerts.Event
	}{
		{
			name: "every field",
			body: generic(`{"name":"Down","target":{"host":"db-1","port":5432},"tags":["prod","eu"],"labels":{"team":"db","replicas":3,"primary":true,"nested":{"a":"b"},"list":[1],"none":null},
				"message":"db-1 is down","links":[{"href":"https://runbook"}],"details":{"uptime":12.50,"note":"x y","deep":{"a":1}},"state":"critical","extra":[1,2]}`),
			want: []alerts.Event{{
				Labels:      alerts.Labels{"alertname": "Down", "host": "db-1", "first_tag": "prod", "team": "db", "replicas": "3", "primary": "true"},
				Annotations: map[string]string{"summary": "db-1 is down", "runbook url": "https://runbook", "uptime": "12.50", "note": "x y"},
				Status:      alerts.StatusFiring,
			}},
		},
		{
			name: "resolved values",
			body: generic(`{"name":"A","state":"ok"}`, `{"name":"B","state":0}`, `{"name":"C","state":"OK"}`, `{"name":"D","state":false}`),
			want: []alerts.Event{
				{Labels: alerts.Labels{"alertname": "A"}, Status: alerts.StatusResolved},
				{Labels: alerts.Labels{"alertname": "B"}, Status: alerts.StatusResolved},
				{Labels: alerts.Labels{"alertname": "C"}, Status: alerts.StatusFiring},
				{Labels: alerts.Labels{"alertname": "D"}, Status: alerts.StatusFiring},
			},
		},
		{
			name: "labels win over labels_from",
			body: generic(`{"name":"Down","labels":{"alertname":"Other","env":"prod"},"state":"bad"}`),
			want: []alerts.Event{{Labels: alerts.Labels{"alertname": "Down", "env": "prod"}, Status: alerts.StatusFiring}},
		},
		{
			name: "null, missing and empty values left out",
			body: generic(`{"name":"Down","target":null,"tags":[],"labels":{"empty":""},"message":null,"links":"none","details":null,"state":"bad"}`),
			want: []alerts.Event{{Labels: alerts.Labels{"alertname": "Down"}, Status: alerts.StatusFiring}},
		},
		{
			name: "big numbers kept as written",
			body: generic(`{"name":12345678901234567890,"target":{"host":-1e+400},"state":"x"}`),
			want: []alerts.Event{{Labels: alerts.Labels{"alertname": "12345678901234567890", "host": "-1e+400"}, Status: alerts.StatusFiring}},
		},
		{
			name:    "no status path: firing",
			mapping: &sources.Mapping{Labels: map[string]string{"alertname": "check"}},
			body:    `{"check":"disk","status":"OK"}`,
			want:    []alerts.Event{{Labels: alerts.Labels{"alertname": "disk"}, Status: alerts.StatusFiring}},
		},
		{
			name:    "the example resolved",
			mapping: exampleMapping(),
			body:    `{"check":"api-gateway health","status":"OK","host":"gw-1"}`,
			want:    []alerts.Event{{Labels: alerts.Labels{"alertname": "api-gateway health", "host": "gw-1"}, Status: alerts.StatusResolved}},
		},
		{
			name:    "index paths into a root array member",
			mapping: &sources.Mapping{Alerts: "results.1", Labels: map[string]string{"alertname": "name"}},
			body:    `{"results":[[{"name":"no"}],[{"name":"A"},{"name":"B"}]]}`,
			want: []alerts.Event{
				{Labels: alerts.Labels{"alertname": "A"}, Status: alerts.StatusFiring},
				{Labels: alerts.Labels{"alertname": "B"}, Status: alerts.StatusFiring},
			},
		},
		{
			name:    "indexes are canonical",
			mapping: &sources.Mapping{Labels: map[string]string{"alertname": "a.0", "x": "a.01", "y": "a.-0", "z": "a.+1", "w": "a.9"}},
			body:    `{"a":["A","B"]}`,
			want:    []alerts.Event{{Labels: alerts.Labels{"alertname": "A"}, Status: alerts.StatusFiring}},
		},
		{
			name:    "a member named by digits",
			mapping: &sources.Mapping{Labels: map[string]string{"alertname": "a.0"}},
			body:    `{"a":{"0":"A"}}`,
			want:    []alerts.Event{{Labels: alerts.Labels{"alertname": "A"}, Status: alerts.StatusFiring}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.mapping
			if m == nil {
				m = listMapping()
			}
			if err := m.Validate("mapping"); err != nil {
				t.Fatalf("the test's mapping: %v", err)
			}
			s := sources.Source{Name: "custom", Kind: sources.KindGeneric, Mapping: m}
			got, err := s.Parse(sources.EndpointHook, []byte(tt.body), now, sources.Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for i := range tt.want {
				tt.want[i].Source = "custom"
			}
			checkEvents(t, got, tt.want)
		})
	}
}

func TestParseGenericInvalid(t *testing.T) {
	tests := []struct {
		name    string
		mapping *sources.Mapping // nil: listMapping
		body    string
		field   string
		message string // a part of the message, or ""
	}{
		{"array body", nil, `[{"name":"A"}]`, "", ""},
		{"malformed", nil, `{"data":`, "", ""},
		{"trailing value", nil, generic(`{"name":"A"}`) + `{}`, "", "more JSON"},
		{"trailing garbage", nil, generic(`{"name":"A"}`) + `]`, "", ""},
		{"duplicate member", nil, generic(`{"name":"A","name":"B"}`), "", "duplicate"},
		{"invalid UTF-8", nil, generic("{\"name\":\"\xfe\"}"), "", "UTF-8"},
		{"alerts missing", nil, `{"data":{}}`, "alerts", "data.alerts is missing"},
		{"alerts an object", nil, `{"data":{"alerts":{"name":"A"}}}`, "alerts", "data.alerts is an object, want an array"},
		{"alerts empty", nil, generic(), "alerts", "no alerts"},
		{"too many alerts", nil, generic(`{"name":"A"}`, `{"name":"B"}`, `{"name":"C"}`), "alerts", "over the limit of 2"},
		{"alert not an object", nil, generic(`{"name":"A","state":"x"}`, `"B"`), "alerts[1]", "is a string, want an object"},
		{"label an object", nil, generic(`{"name":"A","target":{"host":{"ip":"10.0.0.1"}}}`), "alerts[0]", "mapping labels.host: target.host is an object, want a string"},
		{"label an array", nil, generic(`{"name":["A"]}`), "alerts[0]", "mapping labels.alertname: name is an array, want a string"},
		{"annotation an object", nil, generic(`{"name":"A","message":{}}`), "alerts[0]", "mapping annotations.summary: message is an object, want a string"},
		{"labels_from a string", nil, generic(`{"name":"A","labels":"team=db"}`), "alerts[0]", "mapping labels_from: labels is a string, want an object"},
		{"annotations_from an array", nil, generic(`{"name":"A","details":[]}`), "alerts[0]", "mapping annotations_from: details is an array, want an object"},
		{"no labels", nil, generic(`{"name":"A","state":"ok"}`, `{"message":"no name","state":"ok"}`), "alerts[1].labels", ""},
		{"bad label name from labels_from", nil, generic(`{"name":"A","labels":{"bad name":"x"},"state":"x"}`), `alerts[0].labels["bad name"]`, ""},
		{"label too long", nil, generic(`{"name":"` + strings.Repeat("x", 4097) + `","state":"x"}`), `alerts[0].labels["alertname"]`, ""},
		{"annotation name empty", nil, generic(`{"name":"A","details":{"":"x"},"state":"x"}`), `alerts[0].annotations[""]`, ""},
		{"status missing", nil, generic(`{"name":"A","state":"ok"}`, `{"name":"B"}`), "alerts[1]", "mapping status: state is missing"},
		{"status null", nil, generic(`{"name":"A","state":null}`), "alerts[0]", "mapping status: state is missing"},
		{"status an object", nil, generic(`{"name":"A","state":{"code":0}}`), "alerts[0]", "mapping status: state is an object, want a string"},
		{"one alert not an object", exampleMapping(), `["check"]`, "", ""},
		{"one alert without labels", exampleMapping(), `{"status":"CRITICAL"}`, "alerts[0].labels", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.mapping
			if m == nil {
				m = listMapping()
			}
			s := sources.Source{Name: "custom", Kind: sources.KindGeneric, Mapping: m}
			events, err := s.Parse(sources.EndpointHook, []byte(tt.body), now, sources.Limits{MaxAlerts: 2})
			wantInvalid(t, err, tt.field)
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			if events != nil {
				t.Errorf("%d events with the error, want none", len(events))
			}
		})
	}
}

func FuzzParseGeneric(f *testing.F) {
	one := sources.Source{Name: "checks", Kind: sources.KindGeneric, Mapping: exampleMapping()}
	list := sources.Source{Name: "custom", Kind: sources.KindGeneric, Mapping: listMapping()}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, one, sources.EndpointHook, body)
		checkParse(t, list, sources.EndpointHook, body)
	})
}
