package alerts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AlertQueueOptions configure an AlertQueue.
type AlertQueueOptions struct {
	// Store is where batches of events are committed and actions applied.
	// Required.
	Store AlertStore
	// Routing holds the routing snapshot in effect, such as a *ConfigQueue;
	// it is read once per batch and once per action. Required.
	Routing interface{ Snapshot() *Snapshot }
	// Notifier, when not nil, is handed the inbox rows of each commit.
	Notifier Notifier
	// Size is how many events may wait in the queue before Submit refuses
	// more; 0 means 10000. A request of more events than Size is always
	// refused.
	Size int
	// Workers is how many batches may be committed at once; 0 means 4.
	Workers int
	// MaxBatch is how many events a worker gathers into one batch; 0 means
	// 500. A request is never split, so a batch may pass MaxBatch by the
	// events of its last request.
	MaxBatch int
	// CommitTimeout bounds one commit of a batch; 0 means 30s.
	CommitTimeout time.Duration
	// Logger logs failed commits; nil discards.
	Logger *slog.Logger
	// Metrics, when not nil, is where the queue registers its metrics.
	Metrics prometheus.Registerer
}

// Defaults of the alert queue.
const (
	defaultAlertQueueSize = 10000
	defaultAlertWorkers   = 4
	defaultMaxBatch       = 500
	defaultCommitTimeout  = 30 * time.Second
)

// AlertQueue takes the events of webhook requests and pollers, commits them
// in batches, one transaction each (group commit), answers each request once
// its events are committed, and hands the inbox rows the commits wrote to
// the Notifier. It also applies people's actions on alerts, outside the
// queue.
//
// Concurrency contract:
//   - Submit and Act may be called from any goroutine, before, while or
//     after Run runs. Submit before Run queues its events and waits for the
//     workers; Submit after Run has returned refuses them at once.
//   - Submit never blocks to queue: events that do not fit are refused at
//     once, so that a sender hears 503 rather than waits.
//   - Run must be called once. It starts Workers goroutines and returns only
//     once they all have: after Run returns the queue touches neither the
//     store nor the Notifier, except through Act.
//   - The Notifier is called on the worker (or Act caller) that committed
//     the rows, after the commit and before the requests of the batch are
//     answered. Workers commit concurrently, so calls from two workers may
//     hand one user's rows out of seq order; each call's rows are in commit
//     order.
//
// The queue holds no lock: requests travel to the workers on a channel of
// Size places, which never fills, since an atomic count keeps the events
// waiting within Size and every request holds an event at least.
type AlertQueue struct {
	store         AlertStore
	routing       interface{ Snapshot() *Snapshot }
	notifier      Notifier
	log           *slog.Logger
	size          int64
	workers       int
	maxBatch      int
	commitTimeout time.Duration

	// requests carries the requests waiting to be committed, to the
	// workers; pending counts their events.
	requests chan *alertRequest
	pending  atomic.Int64
	// started guards against a second Run; stopped is closed when Run
	// returns, once every request taken has been answered.
	started atomic.Bool
	stopped chan struct{}

	waitSeconds   prometheus.Histogram
	batchEvents   prometheus.Histogram
	commitSeconds prometheus.Histogram
	rejected      *prometheus.CounterVec
	received      *prometheus.CounterVec
	notifications prometheus.Counter
}

// alertRequest is one Submit's events on their way through the queue.
type alertRequest struct {
	events   []Event
	enqueued time.Time
	// done receives the answer: nil once the events are committed, or the
	// error that refused them. It has room for the one answer, so that the
	// worker never waits for a Submit that has gone.
	done chan error
}

// ErrAlertQueueFull is what Submit returns when the queue has no room for
// the events; nothing was queued. It wraps ErrUnavailable.
var ErrAlertQueueFull = &Error{Kind: ErrUnavailable, Message: "the alert queue is full; retry later"}

// ErrAlertQueueStopped is what Submit returns when the queue's workers have
// stopped before the events were committed; none of them was. It wraps
// ErrUnavailable.
var ErrAlertQueueStopped = &Error{Kind: ErrUnavailable, Message: "the alert queue has stopped; retry later"}

// ErrAlertsNotStored is what Submit returns when the store failed to commit
// the batch that held the events; none of them was committed. It wraps
// ErrUnavailable; the store's error is logged, not returned, since it is not
// for clients.
var ErrAlertsNotStored = &Error{Kind: ErrUnavailable, Message: "the alerts could not be stored; retry later"}

// NewAlertQueue returns a queue that commits nothing until Run starts its
// workers. It registers the queue's metrics on opts.Metrics, and panics if
// they are registered already.
func NewAlertQueue(opts AlertQueueOptions) *AlertQueue {
	if opts.Size <= 0 {
		opts.Size = defaultAlertQueueSize
	}
	if opts.Workers <= 0 {
		opts.Workers = defaultAlertWorkers
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = defaultCommitTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &AlertQueue{
		store:         opts.Store,
		routing:       opts.Routing,
		notifier:      opts.Notifier,
		log:           opts.Logger,
		size:          int64(opts.Size),
		workers:       opts.Workers,
		maxBatch:      opts.MaxBatch,
		commitTimeout: opts.CommitTimeout,
		requests:      make(chan *alertRequest, opts.Size),
		stopped:       make(chan struct{}),
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_alert_queue_wait_seconds",
			Help:    "Time from events entering the alert queue to a worker taking them.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_alert_batch_events",
			Help:    "Events in one batch handed to the store, committed or not.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_alert_commit_seconds",
			Help:    "Time to commit one batch of events, failed commits included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_alert_queue_rejected_total",
			Help: "Events refused with 503, by reason: the queue was full, the store failed, or the queue stopped.",
		}, []string{"reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_alert_events_total",
			Help: "Events committed, by source and by what they did to their alert.",
		}, []string{"source", "outcome"}),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_alert_notifications_total",
			Help: "Inbox rows written, by events and by actions.",
		}),
	}
	for _, reason := range []string{"full", "store", "stopped"} {
		q.rejected.WithLabelValues(reason)
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(q.waitSeconds, q.batchEvents, q.commitSeconds,
			q.rejected, q.received, q.notifications,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tocsin_alert_queue_depth",
				Help: "Events waiting in the alert queue.",
			}, func() float64 { return float64(q.pending.Load()) }),
		)
	}
	return q
}

// Submit queues events, which it takes whole (the events of one request,
// committed in one transaction, perhaps with other requests' events), and
// waits until they are committed and their inbox rows handed to the
// Notifier. With no events it returns nil at once.
//
// It returns ErrAlertQueueFull at once, queueing nothing, when the events
// waiting and these would be more than the queue's size;
// ErrAlertQueueStopped when Run has returned, or returns, before they are
// committed; and ErrAlertsNotStored when the store failed to commit them.
// When ctx ends first it returns ctx.Err(), and the events may still be
// committed. The queue keeps events until they are committed or refused,
// even after Submit has returned: the caller must not change them.
func (q *AlertQueue) Submit(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n := int64(len(events))
	select {
	case <-q.stopped:
		q.rejected.WithLabelValues("stopped").Add(float64(n))
		return ErrAlertQueueStopped
	default:
	}
	if q.pending.Add(n) > q.size {
		q.pending.Add(-n)
		q.rejected.WithLabelValues("full").Add(float64(n))
		return ErrAlertQueueFull
	}
	r := &alertRequest{events: events, enqueued: time.Now(), done: make(chan error, 1)}
	// Never blocks: the channel holds Size requests, and the requests in it
	// hold at most Size events, counted in pending before they are sent.
	q.requests <- r

	select {
	case err := <-r.done:
		return err
	case <-q.stopped:
	case <-ctx.Done():
	}
	// An answer wins over both: the workers answer every request they take
	// before Run closes stopped.
	select {
	case err := <-r.done:
		return err
	default:
	}
	select {
	case <-q.stopped:
		// No worker took the request, nor ever will.
		q.rejected.WithLabelValues("stopped").Add(float64(n))
		return ErrAlertQueueStopped
	default:
		return ctx.Err()
	}
}

// Act acknowledges or resolves an alert for a person. It goes to the store
// at once, not through the queue, so that a storm of alerts does not delay
// people; the routing snapshot in effect decides who hears of it, and the
// inbox rows written go to the Notifier before Act returns. Its errors are
// those of AlertStore.ActOnAlert: ErrNotFound, ErrConflict when the alert's
// state does not allow the action, and the store's own.
func (q *AlertQueue) Act(ctx context.Context, act Action) (Alert, error) {
	a, ns, err := q.store.ActOnAlert(ctx, act, q.routing.Snapshot())
	if err != nil {
		return Alert{}, err
	}
	q.notify(ns)
	return a, nil
}

// Run starts the workers and waits until ctx ends. Then it lets the batches
// being committed finish (each within the commit timeout), answers every
// request still queued with ErrAlertQueueStopped, and returns nil. It
// returns an error only when called a second time.
func (q *AlertQueue) Run(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return errors.New("alerts: AlertQueue.Run called twice")
	}
	var workers sync.WaitGroup
	for range q.workers {
		workers.Go(func() { q.work(ctx) })
	}
	workers.Wait()

	refused := 0
	for more := true; more; {
		select {
		case r := <-q.requests:
			q.pending.Add(-int64(len(r.events)))
			q.refuse([]*alertRequest{r}, ErrAlertQueueStopped, "stopped")
			refused++
		default:
			more = false
		}
	}
	if refused > 0 {
		q.log.Warn("alert queue: stopped; refused the requests still queued", slog.Int("requests", refused))
	}
	close(q.stopped)
	return nil
}

// work is one worker: it takes a batch of requests and commits it, until
// ctx ends.
func (q *AlertQueue) work(ctx context.Context) {
	var (
		batch  []*alertRequest
		events []Event
	)
	for {
		var first *alertRequest
		select {
		case <-ctx.Done():
			return
		case first = <-q.requests:
		}
		q.take(first)
		if ctx.Err() != nil {
			// Both were ready, and select took the request.
			q.refuse([]*alertRequest{first}, ErrAlertQueueStopped, "stopped")
			return
		}
		batch, events = append(batch, first), append(events, first.events...)
		for more := true; more && len(events) < q.maxBatch; {
			select {
			case r := <-q.requests:
				q.take(r)
				batch, events = append(batch, r), append(events, r.events...)
			default:
				more = false
			}
		}
		q.commit(ctx, batch, events)
		// Keep the buffers, not what they point to.
		clear(batch)
		clear(events)
		batch, events = batch[:0], events[:0]
	}
}

// take counts r out of the queue, as a worker has taken it.
func (q *AlertQueue) take(r *alertRequest) {
	q.pending.Add(-int64(len(r.events)))
	q.waitSeconds.Observe(time.Since(r.enqueued).Seconds())
}

// commit commits events, the events of batch in order, in one transaction,
// then hands the inbox rows written to the Notifier and answers each request
// of the batch.
func (q *AlertQueue) commit(ctx context.Context, batch []*alertRequest, events []Event) {
	// A commit once begun is finished, not cancelled with ctx, so that the
	// requests it holds are answered with what happened to them.
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.commitTimeout)
	start := time.Now()
	committed, err := q.store.CommitEvents(commitCtx, events, q.routing.Snapshot())
	cancel()
	q.commitSeconds.Observe(time.Since(start).Seconds())
	q.batchEvents.Observe(float64(len(events)))
	if err != nil {
		q.log.Error("alert queue: commit a batch of events; refusing its requests",
			slog.Any("error", err), slog.Int("events", len(events)), slog.Int("requests", len(batch)))
		q.refuse(batch, ErrAlertsNotStored, "store")
		return
	}
	for i := range min(len(events), len(committed.Outcomes)) {
		q.received.WithLabelValues(events[i].Source, string(committed.Outcomes[i])).Inc()
	}
	q.notify(committed.Notifications)
	for _, r := range batch {
		r.done <- nil
	}
}

// notify counts ns and hands them to the Notifier, if there are any.
func (q *AlertQueue) notify(ns []Notification) {
	if len(ns) == 0 {
		return
	}
	q.notifications.Add(float64(len(ns)))
	if q.notifier != nil {
		q.notifier.Notify(ns)
	}
}

// refuse answers each request of batch with err, counting their events as
// rejected for reason.
func (q *AlertQueue) refuse(batch []*alertRequest, err error, reason string) {
	events := 0
	for _, r := range batch {
		events += len(r.events)
		r.done <- err
	}
	q.rejected.WithLabelValues(reason).Add(float64(events))
}
