// Package push will deliver notifications to on-call staff over WebSocket:
// subscriber groups keyed by user ID, each connection with a bounded send
// queue and one writer goroutine, and resume by inbox seq (see DESIGN.md,
// "Wire protocol"). The live push issue builds it; nothing is here yet.
package push
