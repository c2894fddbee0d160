// Package app wires tocsin together: it opens the store, brings its schema
// up, creates the first admin on an empty store, builds the API and serves
// it. cmd/tocsin parses flags and calls it; tests start it on 127.0.0.1:0.
//
// Lifecycle: New acquires everything (store, listener) and Run serves until
// its context is cancelled, then shuts down in phases: stop accepting and
// let in-flight requests finish within server.shutdown_timeout, then close
// the store. Run owns every goroutine it starts and returns only after all of
// them have ended.
package app
