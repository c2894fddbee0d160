package push

import "github.com/prometheus/client_golang/prometheus"

// metrics are the hub's counters and histograms; its gauges read the hub.
type metrics struct {
	sent   prometheus.Counter
	bytes  prometheus.Counter
	closes *prometheus.CounterVec
	lag    prometheus.Histogram
}

// newMetrics makes h's metrics and registers them, with h's gauges, on reg
// when it is not nil.
func newMetrics(h *Hub, reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_ws_messages_sent_total",
			Help: "Messages written to WebSocket connections (text frames: hello, notifications, config, errors).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_ws_bytes_sent_total",
			Help: "Bytes of the messages written to WebSocket connections, frame headers excluded.",
		}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_ws_closes_total",
			Help: "WebSocket connections closed, by reason.",
		}, []string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_ws_delivery_lag_seconds",
			Help:    "Time from a notification's commit to its write on a WebSocket, for live notifications.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	for _, label := range closeLabels {
		m.closes.WithLabelValues(label)
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.bytes, m.closes, m.lag,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_ws_connections",
				Help: "Open WebSocket connections.",
			}, func() float64 { return float64(h.connections.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_ws_users_online",
				Help: "Users with at least one open WebSocket connection.",
			}, func() float64 {
				h.mu.RLock()
				defer h.mu.RUnlock()
				return float64(len(h.groups))
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_ws_send_queue_depth",
				Help: "Messages waiting in the send queues of all WebSocket connections.",
			}, func() float64 { return float64(h.queued.Load()) }),
		)
	}
	return m
}
