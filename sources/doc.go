// Package sources is about the senders of alerts: what a source is (its
// kind, its credentials and, for generic JSON, its mapping), how a webhook
// request proves it comes from one, and how what it sends becomes alert
// events.
//
// A webhook receiver calls Source.Authenticate with the request's headers
// and body (bearer token, basic auth, or an HMAC-SHA256 signature of the
// body, compared in constant time), then Source.Parse, which reads the body
// as the source's kind says: Alertmanager's or Grafana's webhook payload,
// the Alertmanager v2 API array that Prometheus posts, or any JSON object
// through the source's Mapping. Parse validates everything (labels,
// annotations, times, the number of alerts against Limits) and takes a
// payload whole or not at all: it returns every event, or none and an
// alerts.ErrInvalid error naming the part of the body at fault as the
// sender wrote it ("alerts[2].labels"). The events carry the Alertmanager
// fingerprint of their labels, computed here; the alert queue does the
// rest.
//
// Pollers are the other senders: checks that tocsin runs itself. A Poller
// (http, tcp or prometheus) is plain data, validated by Validate. A Checker
// runs one check (Check) with a shared HTTP client; Poller.Observe folds
// its CheckResult into the poller's PollerState and returns the events that
// fire or resolve alerts, once a check has failed FailAfter runs in a row
// or passed RecoverAfter. The Scheduler runs the enabled pollers on their
// cron schedules, at most MaxConcurrent checks at once, while its caller
// leads the cluster, and keeps their states in the store.
//
// Source and Poller values are plain data with no I/O; they are safe to
// share once made and not changed, and Parse, Authenticate and Observe,
// which only read them, may be called from any number of goroutines. A
// Checker is safe for concurrent use and starts no goroutines beyond its
// HTTP clients' idle connections, which CloseIdleConnections closes. A
// Scheduler's Run owns every goroutine it starts (cron's included) and
// waits for them before it returns.
package sources
