package api_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
)

// BenchmarkHookToCommit measures the receiver-to-commit path over a real
// listener: an Alertmanager webhook of 10 new alerts, authenticated, parsed,
// queued, group-committed and answered 202, from parallel senders. Run it
// with -cpu to vary the senders; MySQL runs when TOCSIN_TEST_MYSQL_DSN is set.
func BenchmarkHookToCommit(b *testing.B) {
	targets := map[string]func(testing.TB) testdb.Target{"sqlite": testdb.SQLite, "mysql": testdb.MySQL}
	for _, name := range []string{"sqlite", "mysql"} {
		b.Run(name, func(b *testing.B) {
			e := startWith(b, targets[name](b), startOptions{api: func(o *api.Options) { o.MaxBodyBytes = 1 << 20 }})
			am := e.newBearerSource("bench", "alertmanager")
			const perRequest = 10
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					labels := make([]map[string]string, perRequest)
					for i := range labels {
						labels[i] = map[string]string{"alertname": "Bench", "request": fmt.Sprint(n), "i": fmt.Sprint(i)}
					}
					if r := e.do("POST", "/hooks/bench", am.Secret, amPayload("firing", labels...)); r.status != http.StatusAccepted {
						b.Errorf("status %d: %s", r.status, r.body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
