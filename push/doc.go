// Package push delivers notifications to people over WebSocket, live, to
// every device they have open, and lets a device that was away resume where
// it left off with no gap and no duplicate (the wire protocol is in
// docs/protocol.md and DESIGN.md, "Wire protocol").
//
// A Hub keeps one subscriber group per user ID that has a connection. The
// alert queue hands it committed inbox rows (Notify), the config queue the
// changes it applied (ConfigApplied); the HTTP edge hands it authenticated
// upgrade requests (Serve) and tells it of revoked tokens and changed users
// (CloseToken, CloseUser). Each message is encoded once and the same bytes
// are queued on every connection of its group.
//
// # Ordering
//
// The alert workers commit one user's inbox rows in seq order, but several
// workers call Notify at once, so rows may arrive out of order. A group
// delivers them strictly in seq order: it knows the next seq it must deliver,
// holds rows that come early, drops rows that come twice, and, when a row has
// not come for a short while (a commit whose answer was lost never notifies),
// reads it from the store. A connection starts in replay mode: it registers
// in its group first, reads the inbox head, sends hello and the rows the
// client missed straight from the store, and only then takes the live rows
// it was handed meanwhile, dropping those it replayed.
//
// # Concurrency contract
//
//   - Notify, ConfigApplied, CloseToken and CloseUser may be called from any
//     goroutine, at any time, and never block on a connection: they only
//     queue messages and start goroutines.
//   - Serve runs on the HTTP handler's goroutine, which is the
//     connection's only writer during the hello and the replay; then it
//     starts the connection's reader goroutine and returns. The reader
//     ends the connection when it ends, and the hub counts it in its
//     serving group until then: Shutdown (and Run, as it returns) waits
//     for every reader.
//   - Each connection has at most one writer goroutine, started when a
//     message is queued and gone when its queue is empty, and a closer
//     goroutine while a close frame is being sent. The reader waits for
//     both before the connection leaves its group.
//   - Run must be called once: it pings (from a goroutine of its own, so
//     that a slow store never delays a ping), sweeps revoked and expired
//     tokens and fills delivery gaps. When its context ends it closes what
//     is left (as Shutdown does) and returns once every connection has.
//   - Shutdown refuses new connections and closes every open one with 1001.
//
// # Locks
//
// Three kinds of lock, always taken in this order, never the other way:
//
//	Hub.mu (the groups, closing)  ->  group.mu (its connections, next, held)  ->  conn.mu (queue, state)
//
// No lock is held while writing to a socket, nor during a store read. The
// writer takes conn.mu only to pop its next message.
package push
