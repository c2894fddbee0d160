// Package alerts is tocsin's domain: what an alert is and how it changes.
//
// It holds pure types and rules with no I/O: no database, HTTP or WebSocket
// imports. Packages below cmd (storage, push, api) depend on it, never the
// other way round; where the alert pipeline needs a store or a notifier it
// declares the small interface it uses here, and the implementations satisfy
// it.
//
// Matchers select alerts by label in the Prometheus syntax, such as
// {severity=~"critical|page", team!="db"}, for routes and silences; once
// made they are never changed, so they are safe for concurrent use.
//
// Rules decide who is notified: Teams group users, Routes send the alerts
// their matchers select to users and teams (first match wins, unless the
// route has Continue), and Silences mute the alerts they match for a window
// of time. A Snapshot is one whole version of the rules, built once and
// never changed, so any number of goroutines may Resolve label sets against
// it without locks. The ConfigQueue keeps the current Snapshot: after a
// change is committed to the store, Apply queues it on a bounded queue
// (separate from the alert queue) and waits while the queue's single worker
// reads the rules, builds the next Snapshot and swaps it in with an atomic
// pointer; a burst of changes costs one rebuild. The worker also rebuilds
// when a silence starts or ends and every resync interval, and hands each
// applied change to a ConfigSubscriber. See ConfigQueue for its concurrency
// contract.
//
// The AlertQueue is the alert pipeline. Receivers Submit the events of one
// request, whole, to a bounded queue that refuses at once what does not fit.
// Each of its workers takes a batch of requests, commits it in one
// transaction through the AlertStore with the routing Snapshot of the
// moment (Receive decides what each event does; the store writes it), hands
// the inbox rows written to the Notifier, and only then answers the
// requests, so that a sender hears success only for events that are
// stored. A person's acknowledgement or resolve (Act) goes straight to the
// store, not behind a storm of events. See AlertQueue for its concurrency
// contract.
//
// This package also defines the error classes every other package returns
// (ErrInvalid, ErrNotFound, ErrConflict, ...). They are classified once, at
// the HTTP edge, into statuses and the JSON error shape.
package alerts
