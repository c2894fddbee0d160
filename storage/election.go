package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// PollersElection is the election of the node that runs the pollers: the
// MySQL named lock its leader holds, and its row in the leaders table.
const PollersElection = "tocsin.pollers"

// ElectionOptions configures NewElection.
type ElectionOptions struct {
	// Name is the election's, the same on every node: on MySQL its leader
	// holds the named lock Name + "." + a hash of the database's name (Name
	// is at most 46 characters), and it keys the election's row in the
	// leaders table. "" means PollersElection.
	Name string
	// Node names this node, as Leader reports it.
	Node string
	// CheckInterval is how often a leader on MySQL checks that it still holds
	// the lock, and how long a node waits before it tries again after a
	// failure; 0 means one second.
	CheckInterval time.Duration
	// Logger receives the election's log lines; nil means the store's.
	Logger *slog.Logger
}

// Leader is the node that last took an election's lead, and when.
type Leader struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

// Election elects, among the nodes that share the store, the one that runs
// a job: on MySQL the node that holds a named lock (GET_LOCK) on a
// connection of its own, outside the pool; on SQLite, which one node uses,
// that node.
//
// Leading and Node are safe to call from any goroutine, and Leader too.
type Election struct {
	db       *DB
	name     string
	node     string
	interval time.Duration
	log      *slog.Logger
	leading  atomic.Bool
}

// NewElection returns an election on the store. It does nothing until Run.
func (db *DB) NewElection(opts ElectionOptions) *Election {
	e := &Election{db: db, name: opts.Name, node: opts.Node, interval: opts.CheckInterval, log: opts.Logger}
	if e.name == "" {
		e.name = PollersElection
	}
	if e.interval <= 0 {
		e.interval = time.Second
	}
	if e.log == nil {
		e.log = db.log
	}
	e.log = e.log.With("election", e.name, "node", e.node)
	return e
}

// Node returns the name of this node.
func (e *Election) Node() string { return e.node }

// Leading reports whether this node leads: from when it takes the lead
// until its lead function has returned.
func (e *Election) Leading() bool { return e.leading.Load() }

// Leader returns the node that last took the lead, which may have stopped
// leading since, or the zero Leader when no node has ever led.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	var (
		l     Leader
		since int64
	)
	err := e.db.sql.QueryRowContext(ctx, `SELECT node, since FROM leaders WHERE name = ?`, e.name).Scan(&l.Node, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return Leader{}, nil
	}
	if err != nil {
		return Leader{}, fmt.Errorf("storage: read the leader of %s: %w", e.name, err)
	}
	l.Since = fromMillis(since)
	return l, nil
}

// Run takes part in the election until ctx ends or the store closes, then
// returns nil; it returns an error at once when the store is already
// closed. Each time this node takes the lead, Run writes it in the leaders
// table and calls lead on a goroutine of its own, with a context that ends as
// soon as the node stops leading: when ctx ends, the store closes, or (on
// MySQL) the lock's connection is lost, which a leader notices within
// CheckInterval. Run waits for lead to return before it lets go of the lock.
// Should lead return while the node still leads, Run lets go of the lock
// and, after CheckInterval, runs for the lead again.
//
// lead must not close the store. Run must not be called again on the same
// Election before it returns.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context)) error {
	ctx, leave, err := e.db.joinElection(ctx)
	if err != nil {
		return err
	}
	defer leave()
	for {
		if e.db.connector == nil {
			e.term(ctx, lead, nil)
		} else {
			e.campaign(ctx, lead)
		}
		if !sleep(ctx, e.interval) {
			return nil
		}
	}
}

// joinElection returns a context that ends with ctx or when Close begins,
// and a function to call when the election ends: until then, Close waits
// for it. It returns an error when the store is closed.
func (db *DB) joinElection(ctx context.Context) (context.Context, func(), error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, nil, errors.New("storage: the store is closed")
	}
	db.elections.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-db.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancel()
		<-watched
		db.elections.Done()
	}, nil
}

// campaign waits for the MySQL lock and leads while it holds it.
func (e *Election) campaign(ctx context.Context, lead func(context.Context)) {
	lock, err := e.lock(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("cannot take the leader lock; trying again", "err", err, "retry_in", e.interval)
		}
		return
	}
	defer lock.release(ctx)
	// A leader whose session was killed learns of it at its next check:
	// give it that long to stop before this node starts.
	if !sleep(ctx, e.interval+e.queryTimeout()) {
		return
	}
	e.term(ctx, lead, lock.held)
}

// term leads once: it writes the leaders row, then runs lead until ctx
// ends, lead returns, or held (nil on SQLite, where nothing is held) says
// every CheckInterval that the lock is lost. Then it cancels lead's context
// and waits for lead to return.
func (e *Election) term(ctx context.Context, lead func(context.Context), held func(context.Context) error) {
	if err := e.claim(ctx); err != nil {
		if ctx.Err() == nil {
			e.log.Warn("cannot record this node as the leader; trying again", "err", err, "retry_in", e.interval)
		}
		return
	}
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	e.leading.Store(true)
	e.log.Info("leading")
	go func() {
		defer close(done)
		lead(leadCtx)
	}()

	var tick <-chan time.Time
	if held != nil {
		t := time.NewTicker(e.interval)
		defer t.Stop()
		tick = t.C
	}
	var cause error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-done:
			cause = errors.New("the lead function returned")
			break wait
		case <-tick:
			if err := held(ctx); err != nil {
				if ctx.Err() == nil {
					cause = err
				}
				break wait
			}
		}
	}
	cancel()
	<-done
	e.leading.Store(false)
	if cause != nil {
		e.log.Warn("stopped leading", "cause", cause)
		return
	}
	e.log.Info("stopped leading")
}

// claim writes this node in the leaders row, as leading from now. The
// write, once begun, is finished rather than cancelled with ctx: on SQLite
// a write cancelled midway left the database's write-ahead log behind
// after Close (a start cancelled at once showed it, one time in five).
func (e *Election) claim(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.queryTimeout())
	defer cancel()
	_, err := e.db.sql.ExecContext(ctx, `INSERT INTO leaders (name, node, since) VALUES (?, ?, ?)`+
		e.db.dialect.upsert("name", "node", "since"), e.name, e.node, millis(e.db.now()))
	return err
}

// queryTimeout bounds a query of the election's: a check that the lock is
// held, the write of the leaders row.
func (e *Election) queryTimeout() time.Duration { return max(e.interval, time.Second) }

// namedLock is a MySQL named lock that this node holds, on a connection of
// its own that it alone uses.
type namedLock struct {
	name    string
	pool    *sql.DB
	conn    *sql.Conn
	timeout time.Duration
}

// lock opens a connection outside the store's pool and waits on it, a
// second at a time so that it notices ctx ending, until it takes the lock.
func (e *Election) lock(ctx context.Context) (*namedLock, error) {
	pool := sql.OpenDB(e.db.connector)
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	l := &namedLock{pool: pool, conn: conn, timeout: e.queryTimeout()}
	if err := l.prepare(ctx, e.name); err != nil {
		l.close()
		return nil, err
	}
	for waiting := false; ; waiting = true {
		// GET_LOCK returns 1 when it takes the lock, 0 when it timed out
		// waiting, and NULL on an error such as the session being killed.
		// The query has a deadline of its own: a connection that died
		// without a word would otherwise hold it until TCP gives up.
		var got sql.NullInt64
		qctx, cancel := context.WithTimeout(ctx, time.Second+l.timeout)
		err := conn.QueryRowContext(qctx, `SELECT GET_LOCK(?, 1)`, l.name).Scan(&got)
		cancel()
		if err != nil {
			l.close()
			return nil, fmt.Errorf("GET_LOCK(%q) failed: %w", l.name, err)
		}
		if !got.Valid {
			l.close()
			return nil, fmt.Errorf("GET_LOCK(%q) failed: the server returned NULL", l.name)
		}
		if got.Int64 == 1 {
			return l, nil
		}
		if !waiting {
			e.log.Info("another node leads; standing by")
		}
	}
}

// prepare names the lock after the election and the database (a hash of its
// name, for MySQL's 64-character limit), since MySQL named locks are the
// whole server's and two clusters may share a server;
// and it makes the server end the lock's session, releasing the lock, once
// the session has been idle for a few of the leader's checks: a leader cut
// off from the server by the network would otherwise keep the lock, for
// nobody, until wait_timeout (8 hours by default).
func (l *namedLock) prepare(ctx context.Context, election string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var database sql.NullString
	if err := l.conn.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&database); err != nil {
		return fmt.Errorf("read the database's name: %w", err)
	}
	sum := sha256.Sum256([]byte(database.String))
	l.name = election + "." + hex.EncodeToString(sum[:8])
	idle := int64(max(10*l.timeout, 10*time.Second) / time.Second)
	if _, err := l.conn.ExecContext(ctx, `SET SESSION wait_timeout = ?`, idle); err != nil {
		return fmt.Errorf("set the lock session's wait_timeout: %w", err)
	}
	return nil
}

// held returns an error unless the lock's connection answers, within the
// election's query timeout, that it still holds the lock.
func (l *namedLock) held(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var mine sql.NullInt64
	if err := l.conn.QueryRowContext(ctx, `SELECT IS_USED_LOCK(?) = CONNECTION_ID()`, l.name).Scan(&mine); err != nil {
		return fmt.Errorf("check the lock %q: %w", l.name, err)
	}
	if mine.Int64 != 1 {
		return fmt.Errorf("the lock %q is no longer held by this node's connection", l.name)
	}
	return nil
}

// release lets go of the lock, telling the server so when the connection
// still answers, and closes the connection, which would release it anyway.
func (l *namedLock) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	l.conn.ExecContext(ctx, `DO RELEASE_LOCK(?)`, l.name)
	l.close()
}

// close closes the lock's connection.
func (l *namedLock) close() {
	l.conn.Close()
	l.pool.Close()
}

// sleep waits for d, or until ctx ends; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
