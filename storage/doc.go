// Package storage is tocsin's store: every piece of state, in SQL.
//
// One DB type serves two drivers: embedded SQLite (modernc.org/sqlite, pure
// Go) by default, and MySQL or MariaDB (go-sql-driver/mysql) in production and
// when several nodes share one database. Both run the same queries; what
// differs between them (migrations, error codes, locking clauses) lives in a
// dialect value chosen at Open.
//
// Schema migrations are embedded in the binary, one set per dialect, and run
// by pressly/goose. A database whose schema is newer than the binary is
// refused (ErrSchemaTooNew) rather than written to.
//
// Conventions: times are stored as Unix milliseconds in UTC, so that both
// dialects compare them as integers; every object a client edits carries a
// version that each update increments, and a write that names a stale version
// fails with alerts.ErrConflict; every change to users, tokens, teams,
// routes, silences, sources and pollers writes an audit row in the same transaction
// as the change; every change to an alert writes an entry in its history
// instead. On MySQL a transaction that InnoDB rolls back to break a deadlock
// is run again after a short random wait.
//
// Alerts are written in batches (CommitEvents): one transaction of a few
// multi-row statements per batch, whatever its size. A unique key on the
// open alerts' fingerprints keeps one open alert per fingerprint across
// every writer; a batch that meets another on it is run again, and finds
// the alert the other opened. Each user's inbox is numbered 1, 2, 3, ...
// under a per-user head row that writers lock in ascending user ID.
//
// Pollers run on one node at a time: an Election holds a MySQL named lock
// on a connection of its own, outside the pool, while its caller leads
// (on SQLite the one node always leads); poller_state keeps each poller's
// streaks for whichever node leads next.
//
// Concurrency: a DB is safe for concurrent use. Beyond database/sql's pool,
// which Close stops, only Election.Run starts goroutines, and it waits for
// them before it returns; Close ends every Run first. On SQLite every
// transaction takes the write lock at BEGIN (_txlock=immediate), so that
// concurrent writers wait on the busy timeout instead of failing.
package storage
