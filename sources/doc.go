// Package sources is about the senders of alerts: what a source is (its
// kind, its credentials and, for generic JSON, its mapping), and, as the
// ingestion and poller issues build them, the receivers that turn what
// monitoring systems send into alert events and the pollers that check
// things on a schedule.
//
// Source values are plain data with no I/O; they are safe to share once
// made and not changed.
package sources
