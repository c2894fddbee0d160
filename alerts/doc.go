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
// This package also defines the error classes every other package returns
// (ErrInvalid, ErrNotFound, ErrConflict, ...). They are classified once, at
// the HTTP edge, into statuses and the JSON error shape.
package alerts
