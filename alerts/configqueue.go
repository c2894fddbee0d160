package alerts

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RulesReader reads the rules a routing snapshot is built from. *storage.DB
// satisfies it.
type RulesReader interface {
	// Rules returns the routes, teams and unexpired silences as one
	// consistent read.
	Rules(ctx context.Context) (Rules, error)
}

// ConfigSubscriber is told of each change the ConfigQueue applies.
type ConfigSubscriber interface {
	// ConfigApplied is called once the snapshot that includes change is in
	// effect, on the queue's worker goroutine, one change at a time and in the
	// order they were applied. It must not block, and must not call Apply.
	ConfigApplied(change ConfigChange, snapshot *Snapshot)
}

// ConfigQueueOptions configure a ConfigQueue.
type ConfigQueueOptions struct {
	// Store is where the rules are read from. Required.
	Store RulesReader
	// Size is how many changes may wait to be applied before Apply blocks;
	// 0 means 1000.
	Size int
	// Subscriber, when not nil, is told of each applied change.
	Subscriber ConfigSubscriber
	// Logger logs failed rebuilds; nil discards.
	Logger *slog.Logger
	// Now is the clock silences are judged by; nil means time.Now. The
	// queue's timers run on the time package whatever Now is.
	Now func() time.Time
	// Metrics, when not nil, is where the queue registers its metrics.
	Metrics prometheus.Registerer
	// Resync is how often the worker rebuilds with no change, to pick up
	// changes it was not told of (made by another node); 0 means 30s.
	Resync time.Duration
}

// Defaults and bounds of the config queue.
const (
	defaultConfigQueueSize = 1000
	defaultResync          = 30 * time.Second
	// A failed rebuild is retried after minRetry, doubling up to maxRetry.
	minRetry = 100 * time.Millisecond
	maxRetry = 10 * time.Second
	// rebuildTimeout bounds one read of the rules, so that a store that
	// hangs is retried rather than stalling every change behind it.
	rebuildTimeout = 30 * time.Second
)

// ConfigQueue makes committed changes to the rules take effect: it holds the
// current routing Snapshot, and a worker that rebuilds it from the store and
// swaps the new one in whenever a change is applied, a silence starts or
// ends, or the resync interval passes.
//
// Concurrency contract:
//   - Snapshot may be called from any goroutine at any time; it never
//     blocks and never returns nil. The Snapshot it returns is immutable: an
//     evaluation that holds one sees one whole version of the rules, never
//     part of two, however many swaps happen meanwhile. Call Snapshot again
//     for each evaluation to see changes.
//   - Apply may be called from any goroutine, before, while or after Run
//     runs. Call it after the change is committed to the store: the worker
//     reads the store, not the change.
//   - Run must be called once, and is the worker: it runs on its caller's
//     goroutine, starts no other, and stops its timers before it returns.
//   - The Subscriber is called on the worker goroutine; while it runs, no
//     change is applied, so it must not block.
//
// The queue holds no lock: the snapshot is swapped with an atomic pointer,
// and changes travel on a bounded channel to the single worker, which
// coalesces a burst of them into one rebuild.
type ConfigQueue struct {
	store  RulesReader
	sub    ConfigSubscriber
	log    *slog.Logger
	now    func() time.Time
	resync time.Duration

	snapshot atomic.Pointer[Snapshot]
	// changes carries the changes waiting to be applied, to the worker.
	changes chan *pendingChange
	// dirty is a flag (a channel of one) that Apply sets when it gave up
	// before it could queue its change: the worker rebuilds anyway.
	dirty chan struct{}
	// started guards against a second Run; stopped is closed when Run
	// returns, so that Apply stops waiting for a worker that has gone.
	started atomic.Bool
	stopped chan struct{}

	applied       *prometheus.CounterVec
	applySeconds  prometheus.Histogram
	rebuildErrors prometheus.Counter
}

// pendingChange is a change on its way through the queue.
type pendingChange struct {
	change   ConfigChange
	enqueued time.Time
	// done is closed once a snapshot that includes the change is in effect.
	done chan struct{}
}

// ErrConfigQueueStopped is what Apply returns when the queue's worker has
// stopped before the change was applied. It wraps ErrUnavailable. The change
// is committed and takes effect when a worker next runs.
var ErrConfigQueueStopped = &Error{Kind: ErrUnavailable, Message: "the config queue has stopped"}

// NewConfigQueue returns a queue whose Snapshot is an empty version 0 until
// Run has built the first one from opts.Store. It registers the queue's
// metrics on opts.Metrics, and panics if they are registered already.
func NewConfigQueue(opts ConfigQueueOptions) *ConfigQueue {
	if opts.Size <= 0 {
		opts.Size = defaultConfigQueueSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resync <= 0 {
		opts.Resync = defaultResync
	}
	q := &ConfigQueue{
		store:   opts.Store,
		sub:     opts.Subscriber,
		log:     opts.Logger,
		now:     opts.Now,
		resync:  opts.Resync,
		changes: make(chan *pendingChange, opts.Size),
		dirty:   make(chan struct{}, 1),
		stopped: make(chan struct{}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_config_changes_applied_total",
			Help: "Changes to the rules applied to the routing snapshot, by object.",
		}, []string{"object"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_config_apply_seconds",
			Help:    "Time from a change entering the config queue to the snapshot that includes it taking effect.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		rebuildErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_config_rebuild_errors_total",
			Help: "Rebuilds of the routing snapshot that failed, keeping the old snapshot.",
		}),
	}
	q.snapshot.Store(NewSnapshot(0, Rules{}, opts.Now()))
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(q.applied, q.applySeconds, q.rebuildErrors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_config_snapshot_version",
				Help: "Version of the routing snapshot in effect.",
			}, func() float64 { return float64(q.Snapshot().Version()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_config_queue_depth",
				Help: "Changes waiting in the config queue.",
			}, func() float64 { return float64(len(q.changes)) }),
		)
	}
	return q
}

// Snapshot returns the routing snapshot in effect.
func (q *ConfigQueue) Snapshot() *Snapshot { return q.snapshot.Load() }

// Apply queues change, blocking while the queue is full, and waits until a
// snapshot that includes it is in effect and the Subscriber has been told of
// it. If ctx ends first it returns ctx.Err(), and the change still takes
// effect, soon after; but if ctx ended before the change could even be
// queued, the worker rebuilds without it, and the Subscriber is not told.
// If Run has returned (or returns) before the change is applied, Apply
// returns ErrConfigQueueStopped.
func (q *ConfigQueue) Apply(ctx context.Context, change ConfigChange) error {
	p := &pendingChange{change: change, enqueued: q.now(), done: make(chan struct{})}
	select {
	case q.changes <- p:
	case <-q.stopped:
		return ErrConfigQueueStopped
	case <-ctx.Done():
		select {
		case q.dirty <- struct{}{}:
		default: // already set
		}
		return ctx.Err()
	}
	select {
	case <-p.done:
		return nil
	case <-q.stopped:
		return ErrConfigQueueStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Load builds the first snapshot, so that Snapshot answers from the rules in
// the store before Run starts: call it before Run, which then skips its own
// first build. It returns the store's error, leaving the empty snapshot in
// place; Run then keeps trying.
func (q *ConfigQueue) Load(ctx context.Context) error {
	return q.rebuild(ctx, nil)
}

// Run builds the first snapshot, unless Load has, and then applies changes
// until ctx ends, when it returns nil, after any rebuild in progress. A rebuild that fails is logged and retried, after a
// delay that doubles up to 10s, or at once when another change arrives;
// meanwhile the old snapshot stays in effect and Apply keeps waiting. Run
// returns an error only when called a second time.
func (q *ConfigQueue) Run(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return errors.New("alerts: ConfigQueue.Run called twice")
	}
	defer close(q.stopped)

	timer := time.NewTimer(q.nextWake())
	defer timer.Stop()
	var (
		batch   []*pendingChange              // taken from the queue, not yet applied
		stale   = q.Snapshot().Version() == 0 // the snapshot must be rebuilt
		healthy = true                        // the last rebuild worked
		retry   = minRetry                    // the delay before the next retry
	)
	for {
		if stale {
			err := q.rebuild(ctx, batch)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				q.rebuildErrors.Inc()
				q.log.Error("config queue: rebuild the routing snapshot; keeping the old one",
					slog.Any("error", err), slog.Int("waiting", len(batch)), slog.Duration("retry_in", retry))
				timer.Reset(retry)
				retry = min(retry*2, maxRetry)
				healthy = false
			default:
				if !healthy {
					q.log.Info("config queue: routing snapshot rebuilt", slog.Uint64("version", q.Snapshot().Version()))
				}
				clear(batch)
				batch = batch[:0]
				retry = minRetry
				timer.Reset(q.nextWake())
				healthy = true
			}
			stale = false
		}
		select {
		case <-ctx.Done():
			return nil
		case p := <-q.changes:
			batch = append(batch, p)
			for more := true; more; {
				select {
				case p := <-q.changes:
					batch = append(batch, p)
				default:
					more = false
				}
			}
		case <-q.dirty:
		case <-timer.C:
		}
		stale = true
	}
}

// nextWake returns how long the worker may sleep before it must rebuild: until
// the current snapshot's next silence edge, or the resync interval, whichever
// comes first.
func (q *ConfigQueue) nextWake() time.Duration {
	wait := q.resync
	if at, ok := q.Snapshot().NextChange(); ok {
		wait = min(wait, at.Sub(q.now()))
	}
	return max(wait, 0)
}

// rebuild reads the rules, swaps in the snapshot they make, and then tells
// the subscriber and the waiting Apply calls of the changes in batch. On
// error the snapshot in effect stays, and so do the waiting calls.
func (q *ConfigQueue) rebuild(ctx context.Context, batch []*pendingChange) error {
	// A read once begun is finished, not cancelled with ctx: Run returns
	// only when the store holds nothing of its any more, so that the store
	// can be closed right after.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rebuildTimeout)
	rules, err := q.store.Rules(readCtx)
	cancel()
	if err != nil {
		return err
	}
	now := q.now()
	snap := NewSnapshot(q.Snapshot().Version()+1, rules, now)
	q.snapshot.Store(snap)
	for _, p := range batch {
		q.applied.WithLabelValues(p.change.Object).Inc()
		q.applySeconds.Observe(now.Sub(p.enqueued).Seconds())
		if q.sub != nil {
			q.sub.ConfigApplied(p.change, snap)
		}
		close(p.done)
	}
	return nil
}
