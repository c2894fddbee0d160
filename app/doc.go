// Package app wires tocsin together: it opens the store, brings its schema
// up, creates the first admin on an empty store, builds the pipeline (the
// config-update queue, the alert queue, the push hub that both tell of what
// they commit) and the API, and serves it. cmd/tocsin parses flags and
// calls it; tests start it on 127.0.0.1:0.
//
// Lifecycle: New acquires everything (store, listener) and starts nothing;
// Run serves until its context is cancelled, then shuts down in phases:
// stop accepting, close every WebSocket with 1001 and let in-flight requests
// finish, both within server.shutdown_timeout; stop the queues' workers,
// which finish what they hold; stop the push hub; close the store. Run owns
// every goroutine it starts and returns only after all of them have ended.
package app
