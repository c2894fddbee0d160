// Package api is tocsin's HTTP interface: the Echo server with its routes,
// authentication middleware, and the one place where errors become HTTP
// statuses and the JSON error shape {"error": {"code", "message", "field"}}.
//
// Handlers validate every input before they touch the store; a request they
// refuse changes nothing. They reach the store through the Store interface
// declared here, which *storage.DB satisfies.
//
// Concurrency: a Server is safe for concurrent use by the HTTP server's
// goroutines; it starts none of its own and holds no mutable state beyond its
// metrics.
package api
