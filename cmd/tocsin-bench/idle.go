package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// The bounds of an idle run, and how it opens connections.
const (
	maxIdleConnections = 50_000
	maxHold            = 10 * time.Minute
	// idleDialers is how many connections are being opened at once.
	idleDialers = 64
	// fileHeadroom is how many files the process keeps for itself besides
	// the connections: standard streams, the poller, the /metrics client,
	// and some to spare.
	fileHeadroom = 128
	// connsPerAddress is how many connections share one source address,
	// far below a loopback address's range of ephemeral ports.
	connsPerAddress = 1000
	// openTimeout bounds opening one connection and reading its hello.
	openTimeout = 10 * time.Second
	// closeWait is how long closing waits for the server's close frames
	// before it drops the connections that sent none.
	closeWait = 5 * time.Second
)

// idleMetrics are the server's figures the idle mode reads, before and
// while it holds the connections.
var idleMetrics = []string{
	"process_resident_memory_bytes",
	"go_goroutines",
	"go_memstats_stack_inuse_bytes",
	"go_memstats_heap_inuse_bytes",
	"tocsin_ws_connections",
}

// idleFlags defines the idle mode's flags.
func idleFlags(fs *flag.FlagSet) func(ctx context.Context, c common) (*result, error) {
	var n int
	var hold time.Duration
	fs.IntVar(&n, "connections", 1000, "idle WebSockets to open, with the one --token, at most 50,000 and as many as the open-file limit allows "+
		"(raised to its hard limit); to 127.0.0.1 their source addresses are spread over 127.0.1.1, 127.0.1.2, ... (1,000 each)")
	fs.DurationVar(&hold, "hold", 5*time.Second, "how long to hold them open, at most 10m; each has a reader goroutine "+
		"that answers the server's pings (about 9 KiB of this client's memory per connection, measured at 15,000), so a hold may pass push.ping_interval")
	return func(ctx context.Context, c common) (*result, error) {
		if n < 1 || n > maxIdleConnections {
			return nil, fmt.Errorf("%w: --connections must be from 1 to %d", errUsage, maxIdleConnections)
		}
		if hold < 0 || hold > maxHold {
			return nil, fmt.Errorf("%w: --hold must be from 0 to %s", errUsage, maxHold)
		}
		return runIdle(ctx, c, n, hold)
	}
}

// runIdle opens n idle connections (fewer when the open-file limit binds,
// which is a problem), holds them, reports the server's memory and
// goroutines per connection, and closes them.
func runIdle(ctx context.Context, c common, n int, hold time.Duration) (*result, error) {
	res := &result{mode: "idle"}
	soft, hard, err := raiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("read the open-file limit: %w", err)
	}
	if fit := int(min(soft, math.MaxInt32)) - fileHeadroom; n > fit {
		res.problem("the open-file limit binds: RLIMIT_NOFILE is %d (hard %d), room for %d connections besides %d other files, not %d",
			soft, hard, max(fit, 0), fileHeadroom, n)
		n = max(fit, 0)
	}
	api := newAPIClient(c)
	defer api.close()
	before, err := api.metrics(ctx, idleMetrics...)
	if err != nil {
		return nil, err
	}
	pool, err := newIdlePool(c, n)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c.stderr, pool.progress)
	openErr := pool.open(ctx)
	held, err := pool.hold(ctx, api, hold)
	stop()
	pool.close()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	case err != nil:
		return nil, err
	}
	if openErr != nil {
		res.problem("opened %d of %d connections: %v", pool.opened(), n, openErr)
	}
	if dropped := pool.dropped.Load(); dropped > 0 {
		res.problem("%d connections were closed by the server while held", dropped)
	}
	reportIdle(res, pool.opened(), soft, hold, before, held)
	return res, nil
}

// reportIdle adds the idle run's figures: the server's growth while it held
// opened connections, per connection. Resident memory seldom shrinks, so
// its growth per connection means something only on a server that never
// held as many before: a fresh one.
func reportIdle(res *result, opened int, limit uint64, hold time.Duration, before, held map[string]float64) {
	delta := func(name string) float64 {
		if opened == 0 {
			return 0
		}
		return (held[name] - before[name]) / float64(opened)
	}
	res.add("connections_opened", float64(opened), "connections")
	res.add("open_file_limit", float64(limit), "files")
	res.add("hold_s", hold.Seconds(), "s")
	res.add("server_connections", held["tocsin_ws_connections"], "connections")
	res.add("rss_before_mib", before["process_resident_memory_bytes"]/(1<<20), "MiB")
	res.add("rss_held_mib", held["process_resident_memory_bytes"]/(1<<20), "MiB")
	res.add("rss_per_conn_kib", delta("process_resident_memory_bytes")/1024, "KiB")
	res.add("goroutines_per_conn", delta("go_goroutines"), "goroutines")
	res.add("stack_per_conn_kib", delta("go_memstats_stack_inuse_bytes")/1024, "KiB")
	res.add("heap_per_conn_kib", delta("go_memstats_heap_inuse_bytes")/1024, "KiB")
}

// raiseFileLimit raises this process's soft limit of open files to its
// hard limit (never past it), and returns both.
func raiseFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	return lim.Cur, lim.Max, nil
}

// idlePool is the idle connections of a run, each with a reader goroutine
// that answers the server's pings and notices when the server drops it.
type idlePool struct {
	url    string // the WebSocket's
	header http.Header
	spread bool // bind source addresses over 127.0.0.0/8
	want   int

	next    atomic.Int64 // the next connection to open
	mu      sync.Mutex
	conns   []*websocket.Conn
	readers sync.WaitGroup
	closing atomic.Bool
	dropped atomic.Int64 // connections that ended before close

	holdUntil atomic.Int64 // unix nanoseconds; 0 while opening
}

// newIdlePool prepares n connections to c's server.
func newIdlePool(c common, n int) (*idlePool, error) {
	u, err := url.Parse(c.url + "/api/v1/ws")
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	ip := net.ParseIP(u.Hostname())
	return &idlePool{
		url:    u.String(),
		header: http.Header{"Authorization": {"Bearer " + c.token}},
		spread: ip != nil && ip.To4() != nil && ip.IsLoopback(),
		want:   n,
	}, nil
}

// open opens the pool's connections, idleDialers at a time, until all are
// open or one fails, and returns the failure.
func (p *idlePool) open(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for range idleDialers {
		g.Go(func() error {
			for {
				i := int(p.next.Add(1)) - 1
				if i >= p.want || ctx.Err() != nil {
					return nil
				}
				conn, err := p.dial(ctx, i)
				if err != nil {
					return fmt.Errorf("connection %d: %w", i+1, err)
				}
				p.add(conn)
			}
		})
	}
	return g.Wait()
}

// dial opens connection i and reads its hello.
func (p *idlePool) dial(ctx context.Context, i int) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	nd := loopbackDialer(0) // ctx bounds the connect
	if p.spread {
		k := i / connsPerAddress
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+k/250), byte(1+k%250))}
	}
	d := websocket.Dialer{NetDialContext: nd.DialContext, ReadBufferSize: 1024, WriteBufferSize: 256}
	conn, resp, err := d.DialContext(ctx, p.url, p.header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return nil, err
	}
	var hello struct {
		Type string `json:"type"`
	}
	conn.SetReadDeadline(time.Now().Add(openTimeout))
	if err := conn.ReadJSON(&hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the hello: %w", err)
	}
	if hello.Type != "hello" {
		conn.Close()
		return nil, fmt.Errorf("the first message is a %q, not a hello", hello.Type)
	}
	conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// add keeps conn and starts its reader, which reads until the connection
// ends: the server's pings are answered while it reads.
func (p *idlePool) add(conn *websocket.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, conn)
	p.mu.Unlock()
	p.readers.Go(func() {
		for {
			if _, _, err := conn.NextReader(); err != nil {
				if !p.closing.Load() {
					p.dropped.Add(1)
				}
				return
			}
		}
	})
}

// opened is how many connections are open.
func (p *idlePool) opened() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// hold waits for d, then reads the server's metrics while the connections
// are still open.
func (p *idlePool) hold(ctx context.Context, api *apiClient, d time.Duration) (map[string]float64, error) {
	p.holdUntil.Store(time.Now().Add(d).UnixNano())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	return api.metrics(ctx, idleMetrics...)
}

// progress is the progress line: connections opened, then the hold.
func (p *idlePool) progress() string {
	if until := p.holdUntil.Load(); until != 0 {
		return fmt.Sprintf("idle: holding %d connections, %.0fs left", p.opened(), max(0, time.Until(time.Unix(0, until)).Seconds()))
	}
	return fmt.Sprintf("idle: %d of %d connections open", p.opened(), p.want)
}

// close sends every connection a close frame, waits a while for the
// server's answers, then closes them all and waits for their readers.
func (p *idlePool) close() {
	p.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	deadline := time.Now().Add(closeWait)
	p.mu.Lock()
	conns := p.conns
	p.mu.Unlock()
	for _, conn := range conns {
		conn.WriteControl(websocket.CloseMessage, msg, deadline)
	}
	done := make(chan struct{})
	go func() {
		p.readers.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	for _, conn := range conns {
		conn.Close()
	}
	<-done
}
