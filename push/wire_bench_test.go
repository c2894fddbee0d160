package push

import (
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// BenchmarkEncodeNotification encodes one notification frame as the hub
// does once per notification, whatever the number of connections that
// share it: a firing alert of 5 labels and 2 annotations, as Alertmanager
// sends one.
func BenchmarkEncodeNotification(b *testing.B) {
	at := time.Date(2026, 11, 24, 8, 1, 12, 345000000, time.UTC)
	labels := alerts.Labels{
		"alertname": "HighLatency", "service": "checkout", "severity": "page",
		"team": "payments", "instance": "checkout-7f9c:8080",
	}
	n := alerts.Notification{
		UserID: 7,
		Seq:    4211,
		Event:  alerts.NotifyFired,
		Alert: &alerts.Alert{
			ID:          90210,
			Fingerprint: labels.Fingerprint(),
			State:       alerts.StateFiring,
			Labels:      labels,
			Annotations: map[string]string{
				"summary":     "p99 latency above 800ms",
				"runbook_url": "https://runbooks.example.internal/checkout/latency",
			},
			Source:       "prod-am",
			GeneratorURL: "http://prometheus.example.internal:9090/graph?g0.expr=histogram_quantile",
			StartsAt:     at,
			LastSeenAt:   at.Add(time.Second),
			Count:        1,
			CreatedAt:    at.Add(time.Second),
			UpdatedAt:    at.Add(time.Second),
		},
		At: at.Add(time.Second),
	}
	m, err := encodeNotification(n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(m.data)))
	for b.Loop() {
		if _, err := encodeNotification(n); err != nil {
			b.Fatal(err)
		}
	}
}
