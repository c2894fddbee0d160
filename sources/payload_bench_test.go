package sources_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/sources"
)

// BenchmarkParseAlertmanager parses an Alertmanager webhook of 100 firing
// alerts, the first alert of testdata/alertmanager-firing.json repeated on
// 100 instances, as a receiver does once per request.
func BenchmarkParseAlertmanager(b *testing.B) {
	var payload map[string]any
	if err := json.Unmarshal(readSample(b, "alertmanager-firing.json"), &payload); err != nil {
		b.Fatal(err)
	}
	first := payload["alerts"].([]any)[0].(map[string]any)
	list := make([]any, 100)
	for i := range list {
		a := map[string]any{}
		for k, v := range first {
			a[k] = v
		}
		labels := map[string]any{}
		for k, v := range first["labels"].(map[string]any) {
			labels[k] = v
		}
		labels["instance"] = fmt.Sprintf("checkout-%04x:8080", i)
		a["labels"] = labels
		list[i] = a
	}
	payload["alerts"] = list
	body, err := json.Marshal(payload)
	if err != nil {
		b.Fatal(err)
	}
	src := &sources.Source{Name: "bench", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer}
	events, err := src.Parse(sources.EndpointHook, body, now, sources.Limits{})
	if err != nil || len(events) != 100 {
		b.Fatalf("Parse: %d events, %v; want 100", len(events), err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := src.Parse(sources.EndpointHook, body, now, sources.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
