// Command tocsin-bench measures a running tocsin over the wire, speaking
// only its public formats: Alertmanager webhooks, the REST API and the
// WebSocket protocol. It targets loopback addresses only, and every run is
// bounded in count and time.
//
//	tocsin-bench ingest  --url URL --token T   POST alerts to a webhook source
//	tocsin-bench e2e     --url URL --token T   webhook to WebSocket, end to end
//	tocsin-bench idle    --url URL --token T   hold idle WebSockets, read memory
//
// The token is an admin's (or set TOCSIN_BENCH_TOKEN). The default output
// is a short table; --json prints one line of JSON. A progress line goes to
// stderr during a run. The exit code is 1 when a run fails, or finds an
// e2e notification lost, duplicated or out of order; 2 for a bad command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
