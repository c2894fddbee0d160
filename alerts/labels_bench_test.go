package alerts_test

import (
	"strconv"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
)

// benchLabels returns a label set of n labels, n >= 5, shaped as
// Alertmanager sends them: the usual five, then more as a Kubernetes
// scrape adds them.
func benchLabels(n int) alerts.Labels {
	ls := alerts.Labels{
		"alertname": "HighLatency",
		"service":   "checkout",
		"severity":  "page",
		"team":      "payments",
		"instance":  "checkout-7f9c:8080",
	}
	extra := []string{"job", "namespace", "pod", "container", "cluster", "region", "env", "node", "endpoint", "prometheus"}
	for i := 0; len(ls) < n; i++ {
		name := "label" + strconv.Itoa(i)
		if i < len(extra) {
			name = extra[i]
		}
		ls[name] = name + "-value-" + strconv.Itoa(i)
	}
	return ls
}

// BenchmarkFingerprint computes the fingerprint of a typical label set (5
// labels) and of a large one (15), as a receiver does once per alert.
func BenchmarkFingerprint(b *testing.B) {
	for _, n := range []int{5, 15} {
		b.Run(strconv.Itoa(n)+"_labels", func(b *testing.B) {
			ls := benchLabels(n)
			if len(ls) != n {
				b.Fatalf("%d labels, want %d", len(ls), n)
			}
			b.ReportAllocs()
			for b.Loop() {
				ls.Fingerprint()
			}
		})
	}
}
