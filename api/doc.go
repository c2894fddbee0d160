// Package api is tocsin's HTTP interface: the Echo server with its routes,
// authentication middleware, and the one place where errors become HTTP
// statuses and the JSON error shape {"error": {"code", "message", "field"}}.
//
// Handlers validate every input before they touch the store; a request they
// refuse changes nothing. They reach the store through the Store interface
// declared here, which *storage.DB satisfies.
//
// A handler that commits a change to the rules (teams, routes, silences,
// sources, pollers, or a user that teams and routes name) hands it to the
// Rules, the config-update queue, and answers once the change is in effect:
// a request made after the answer is routed by the new rules, and the
// pollers' scheduler, a subscriber of the queue, has been told. POST
// /api/v1/pollers/{id}/run runs a check through the PollerChecker on the
// request's goroutine, within the poller's timeout.
//
// GET /api/v1/ws authenticates the token (header or ?access_token=) and
// checks the Origin before it hands the request to the PushHub, which
// upgrades it and runs the connection on the request's goroutine until it
// closes. Handlers that revoke a token, delete a user or change its role
// tell the PushHub once the change is committed, so that the connections
// opened with it close at once.
//
// Concurrency: a Server is safe for concurrent use by the HTTP server's
// goroutines; it starts none of its own and holds no mutable state beyond its
// metrics. A handler waiting for a change to take effect blocks only its own
// request, and stops waiting when the request ends.
package api
