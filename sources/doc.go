// Package sources will turn what monitoring systems send (Alertmanager,
// Grafana and generic JSON webhooks) and what tocsin's own pollers find into
// alert events for the alert queue. The ingestion and poller issues build
// it; nothing is here yet.
package sources
