package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
)

// fakeAlertStore is a hand-written alerts.AlertStore that calls its
// function fields.
type fakeAlertStore struct {
	commitEvents func(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error)
	actOnAlert   func(ctx context.Context, act alerts.Action, r alerts.Router) (alerts.Alert, []alerts.Notification, error)
}

var _ alerts.AlertStore = (*fakeAlertStore)(nil)

func (f *fakeAlertStore) CommitEvents(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error) {
	return f.commitEvents(ctx, events, r)
}

func (f *fakeAlertStore) ActOnAlert(ctx context.Context, act alerts.Action, r alerts.Router) (alerts.Alert, []alerts.Notification, error) {
	return f.actOnAlert(ctx, act, r)
}

// commitRecorder is a CommitEvents that records each batch it is handed,
// waits until its gate is open (or its ctx ends), and then commits the
// batch: a firing event fires and notifies user 1, a resolved one is
// ignored.
type commitRecorder struct {
	gate chan struct{}

	mu      sync.Mutex
	batches [][]alerts.Event
	routers []alerts.Router
	seq     int64
}

// newCommitRecorder returns a recorder whose gate is open, or, if held,
// closed until release is called.
func newCommitRecorder(held bool) *commitRecorder {
	c := &commitRecorder{gate: make(chan struct{})}
	if !held {
		close(c.gate)
	}
	return c
}

func (c *commitRecorder) release() { close(c.gate) }

func (c *commitRecorder) commit(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error) {
	c.mu.Lock()
	c.batches = append(c.batches, slices.Clone(events))
	c.routers = append(c.routers, r)
	c.mu.Unlock()
	select {
	case <-c.gate:
	case <-ctx.Done():
		return alerts.Committed{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var done alerts.Committed
	for _, ev := range events {
		if ev.Status == alerts.StatusResolved {
			done.Outcomes = append(done.Outcomes, alerts.OutcomeIgnored)
			continue
		}
		c.seq++
		a := &alerts.Alert{ID: c.seq, Fingerprint: ev.Fingerprint, State: alerts.StateFiring, Labels: ev.Labels, Source: ev.Source}
		done.Outcomes = append(done.Outcomes, alerts.OutcomeFired)
		done.Notifications = append(done.Notifications, alerts.Notification{UserID: 1, Seq: c.seq, Event: alerts.NotifyFired, Alert: a})
	}
	return done, nil
}

// names returns the alertnames of each batch handed so far.
func (c *commitRecorder) names() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]string
	for _, b := range c.batches {
		out = append(out, eventNames(b))
	}
	return out
}

func (c *commitRecorder) router(i int) alerts.Router {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routers[i]
}

// fakeNotifier is a hand-written alerts.Notifier that calls its function
// field.
type fakeNotifier struct {
	notify func(ns []alerts.Notification)
}

func (f *fakeNotifier) Notify(ns []alerts.Notification) { f.notify(ns) }

// notifyLog is a Notifier that keeps the calls it gets.
type notifyLog struct {
	mu    sync.Mutex
	calls [][]alerts.Notification
}

func (l *notifyLog) Notify(ns []alerts.Notification) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, ns)
}

func (l *notifyLog) got() [][]alerts.Notification {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// routing holds a routing snapshot that a test may replace.
type routing struct {
	snap atomic.Pointer[alerts.Snapshot]
}

// newRouting returns routing that holds an empty snapshot of version 1.
func newRouting() *routing {
	r := &routing{}
	r.set(1)
	return r
}

func (r *routing) Snapshot() *alerts.Snapshot { return r.snap.Load() }

// set swaps in an empty snapshot of version, and returns it.
func (r *routing) set(version uint64) *alerts.Snapshot {
	s := alerts.NewSnapshot(version, alerts.Rules{}, time.Now())
	r.snap.Store(s)
	return s
}

// alertEvents returns n firing events from source, whose alertnames are
// prefix-0, prefix-1, ...
func alertEvents(source, prefix string, n int) []alerts.Event {
	events := make([]alerts.Event, n)
	for i := range events {
		ls := alerts.Labels{"alertname": fmt.Sprintf("%s-%d", prefix, i)}
		events[i] = alerts.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Status: alerts.StatusFiring, Source: source}
	}
	return events
}

// eventNames returns the alertname of each event.
func eventNames(events []alerts.Event) []string {
	names := make([]string, len(events))
	for i, ev := range events {
		names[i] = ev.Labels["alertname"]
	}
	return names
}

// runAlertQueue makes a queue from opts and runs it. stop ends Run and
// returns what it returned; it is called, and Run's result checked, when
// the test ends, if the test has not called it.
func runAlertQueue(t *testing.T, opts alerts.AlertQueueOptions) (q *alerts.AlertQueue, stop func() error) {
	t.Helper()
	q = alerts.NewAlertQueue(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return q, stop
}

// submit calls q.Submit on a goroutine of its own, and returns where its
// result will be sent.
func submit(ctx context.Context, q *alerts.AlertQueue, events []alerts.Event) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- q.Submit(ctx, events) }()
	return errc
}

// answered returns the result sent on errc, or false if none was.
func answered(errc <-chan error) (error, bool) {
	select {
	case err := <-errc:
		return err, true
	default:
		return nil, false
	}
}

func TestAlertQueueSubmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(false)
		route := newRouting()
		notified := make(chan []alerts.Notification, 1)
		hold := make(chan struct{})
		notifier := &fakeNotifier{notify: func(ns []alerts.Notification) {
			notified <- ns
			<-hold
		}}
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: route, Notifier: notifier,
		})

		events := alertEvents("am", "a", 2)
		events[1].Status = alerts.StatusResolved
		errc := submit(t.Context(), q, events)
		synctest.Wait()
		var ns []alerts.Notification
		select {
		case ns = <-notified:
		default:
			t.Fatal("the Notifier was not called after the commit")
		}
		if len(ns) != 1 || ns[0].UserID != 1 || ns[0].Seq != 1 || ns[0].Event != alerts.NotifyFired || ns[0].Alert.Labels["alertname"] != "a-0" {
			t.Errorf("Notify(%+v), want the one inbox row committed", ns)
		}
		if err, ok := answered(errc); ok {
			t.Fatalf("Submit returned %v while the Notifier ran, want it to wait for the Notifier", err)
		}
		close(hold)
		if err := <-errc; err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if got, want := rec.names(), [][]string{{"a-0", "a-1"}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("batches %v, want %v", got, want)
		}
		rec.mu.Lock()
		got := rec.batches[0]
		rec.mu.Unlock()
		if got[1].Status != alerts.StatusResolved || got[0].Source != "am" || got[0].Fingerprint != events[0].Fingerprint {
			t.Errorf("the store was handed %+v, want the events as submitted: %+v", got, events)
		}
		if r := rec.router(0); r != route.Snapshot() {
			t.Errorf("CommitEvents got router %v, want the snapshot in effect", r)
		}

		// The next batch is routed by the snapshot in effect then.
		next := route.set(2)
		if err := q.Submit(t.Context(), alertEvents("am", "b", 1)); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if r := rec.router(1); r != next {
			t.Errorf("CommitEvents got router %v after a swap, want the new snapshot", r)
		}
		<-notified

		// A batch with no inbox rows is not handed to the Notifier.
		ignored := alertEvents("am", "c", 1)
		ignored[0].Status = alerts.StatusResolved
		if err := q.Submit(t.Context(), ignored); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		// Nor is a Submit of no events queued.
		if err := q.Submit(t.Context(), nil); err != nil {
			t.Errorf("Submit(nil) = %v, want nil", err)
		}
		synctest.Wait()
		if n := len(rec.names()); n != 3 {
			t.Errorf("%d batches, want 3: no batch for no events", n)
		}
		select {
		case ns := <-notified:
			t.Errorf("Notify(%+v) for a batch that wrote no inbox rows", ns)
		default:
		}
	})
}

func TestAlertQueueBatching(t *testing.T) {
	ones := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	tests := []struct {
		name     string
		maxBatch int
		// queued are the sizes of the requests that queue behind a
		// one-event batch held in its commit.
		queued []int
		// want are the sizes of the batches they make.
		want []int
	}{
		{"all in one batch", 500, []int{1, 2, 3}, []int{6}},
		{"max reached exactly", 4, []int{2, 2, 1}, []int{4, 1}},
		{"the last request passes max", 3, []int{2, 2, 2}, []int{4, 2}},
		{"a request larger than max is not split", 3, []int{5, 1, 1, 1}, []int{5, 3}},
		{"default max 500", 0, ones(600), []int{500, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newCommitRecorder(true)
				q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
					Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(),
					Workers: 1, MaxBatch: tt.maxBatch,
				})
				var errcs []<-chan error
				errcs = append(errcs, submit(t.Context(), q, alertEvents("am", "held", 1)))
				synctest.Wait()
				var want []string
				for i, n := range tt.queued {
					events := alertEvents("am", fmt.Sprintf("r%d", i), n)
					want = append(want, eventNames(events)...)
					errcs = append(errcs, submit(t.Context(), q, events))
					synctest.Wait() // queue them in order
				}
				rec.release()
				for i, errc := range errcs {
					if err := <-errc; err != nil {
						t.Errorf("Submit #%d: %v", i, err)
					}
				}
				batches := rec.names()
				if len(batches) == 0 || !slices.Equal(batches[0], []string{"held-0"}) {
					t.Fatalf("first batch %v, want the held one", batches[:min(1, len(batches))])
				}
				var sizes []int
				var got []string
				for _, b := range batches[1:] {
					sizes = append(sizes, len(b))
					got = append(got, b...)
				}
				if !slices.Equal(sizes, tt.want) {
					t.Errorf("batch sizes %v, want %v", sizes, tt.want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("events committed in the order\n%v\nwant the order queued\n%v", got, want)
				}
			})
		})
	}
}

func TestAlertQueueWorkers(t *testing.T) {
	for _, tt := range []struct{ workers, want int }{{1, 1}, {3, 3}, {0, 4}} {
		t.Run(fmt.Sprintf("workers=%d", tt.workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newCommitRecorder(true)
				q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
					Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(), Workers: tt.workers,
				})
				var errcs []<-chan error
				for i := range 6 {
					errcs = append(errcs, submit(t.Context(), q, alertEvents("am", fmt.Sprint(i), 1)))
					synctest.Wait()
				}
				if n := len(rec.names()); n != tt.want {
					t.Errorf("%d batches committing at once, want %d", n, tt.want)
				}
				rec.release()
				for _, errc := range errcs {
					if err := <-errc; err != nil {
						t.Errorf("Submit: %v", err)
					}
				}
			})
		})
	}
}

func TestAlertQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		reg := prometheus.NewRegistry()
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(),
			Size: 5, Workers: 1, Metrics: reg,
		})
		depth := func() float64 { return gather(t, reg, "tocsin_alert_queue_depth", "").value }

		held := submit(t.Context(), q, alertEvents("am", "held", 1)) // taken by the worker
		synctest.Wait()
		first := submit(t.Context(), q, alertEvents("am", "first", 3))
		synctest.Wait()
		if d := depth(); d != 3 {
			t.Fatalf("depth %v, want 3", d)
		}

		// Called on the test's goroutine: Submit must not block, or the
		// bubble deadlocks.
		start := time.Now()
		for _, n := range []int{3, 6} {
			err := q.Submit(t.Context(), alertEvents("am", "refused", n))
			if !errors.Is(err, alerts.ErrAlertQueueFull) || !errors.Is(err, alerts.ErrUnavailable) {
				t.Errorf("Submit of %d events to a queue of 3 in 5 = %v, want ErrAlertQueueFull", n, err)
			}
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("refusing took %v, want no wait", waited)
		}
		if d := depth(); d != 3 {
			t.Errorf("depth %v after refusals, want 3: nothing queued", d)
		}

		second := submit(t.Context(), q, alertEvents("am", "second", 2)) // fits exactly
		synctest.Wait()
		if d := depth(); d != 5 {
			t.Errorf("depth %v, want 5", d)
		}
		if err := q.Submit(t.Context(), alertEvents("am", "refused", 1)); !errors.Is(err, alerts.ErrAlertQueueFull) {
			t.Errorf("Submit to a full queue = %v, want ErrAlertQueueFull", err)
		}

		rec.release()
		for _, errc := range []<-chan error{held, first, second} {
			if err := <-errc; err != nil {
				t.Errorf("Submit: %v", err)
			}
		}
		want := [][]string{{"held-0"}, {"first-0", "first-1", "first-2", "second-0", "second-1"}}
		if got := rec.names(); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("batches %v, want %v", got, want)
		}
		if d := depth(); d != 0 {
			t.Errorf("depth %v once all is committed, want 0", d)
		}
		// Even an empty queue refuses more events than its size.
		if err := q.Submit(t.Context(), alertEvents("am", "refused", 6)); !errors.Is(err, alerts.ErrAlertQueueFull) {
			t.Errorf("Submit of 6 events to an empty queue of 5 = %v, want ErrAlertQueueFull", err)
		}
		if n := gather(t, reg, "tocsin_alert_queue_rejected_total", "reason=full").value; n != 16 {
			t.Errorf("rejected{reason=full} = %v, want 16 events", n)
		}
	})
}

func TestAlertQueueDefaultSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(), Workers: 1,
		})
		held := submit(t.Context(), q, alertEvents("am", "held", 1))
		synctest.Wait()
		if err := q.Submit(t.Context(), alertEvents("am", "big", 10001)); !errors.Is(err, alerts.ErrAlertQueueFull) {
			t.Errorf("Submit of 10001 events = %v, want ErrAlertQueueFull", err)
		}
		fits := submit(t.Context(), q, alertEvents("am", "fits", 10000))
		synctest.Wait()
		if err := q.Submit(t.Context(), alertEvents("am", "one", 1)); !errors.Is(err, alerts.ErrAlertQueueFull) {
			t.Errorf("Submit to a queue holding 10000 events = %v, want ErrAlertQueueFull", err)
		}
		rec.release()
		for _, errc := range []<-chan error{held, fits} {
			if err := <-errc; err != nil {
				t.Errorf("Submit: %v", err)
			}
		}
	})
}

func TestAlertQueueStoreError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		var calls atomic.Int32
		store := &fakeAlertStore{commitEvents: func(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error) {
			done, err := rec.commit(ctx, events, r)
			if calls.Add(1) > 1 {
				return alerts.Committed{}, errors.New("dial tcp 10.0.0.7:3306: connection refused")
			}
			return done, err
		}}
		var logs lockedBuffer
		notes := &notifyLog{}
		reg := prometheus.NewRegistry()
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: store, Routing: newRouting(), Notifier: notes, Workers: 1, Metrics: reg,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})

		held := submit(t.Context(), q, alertEvents("am", "held", 1))
		synctest.Wait()
		a := submit(t.Context(), q, alertEvents("am", "a", 2))
		synctest.Wait()
		b := submit(t.Context(), q, alertEvents("am", "b", 1))
		synctest.Wait()
		rec.release()

		if err := <-held; err != nil {
			t.Errorf("Submit of the batch committed: %v", err)
		}
		for _, errc := range []<-chan error{a, b} {
			err := <-errc
			if !errors.Is(err, alerts.ErrAlertsNotStored) || !errors.Is(err, alerts.ErrUnavailable) {
				t.Errorf("Submit of a batch the store failed = %v, want ErrAlertsNotStored", err)
			}
			if err != nil && strings.Contains(err.Error(), "10.0.0.7") {
				t.Errorf("Submit's error %q shows the store's error to clients", err)
			}
		}
		if got := rec.names(); len(got) != 2 || !slices.Equal(got[1], []string{"a-0", "a-1", "b-0"}) {
			t.Errorf("batches %v, want the two failed requests in one batch", got)
		}
		if got := notes.got(); len(got) != 1 || len(got[0]) != 1 || got[0][0].Alert.Labels["alertname"] != "held-0" {
			t.Errorf("Notify calls %+v, want the committed batch's only", got)
		}
		for _, want := range []string{"connection refused", "events=3", "requests=2", "level=ERROR"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the failure's log lacks %q; logs:\n%s", want, logs.String())
			}
		}
		if n := gather(t, reg, "tocsin_alert_queue_rejected_total", "reason=store").value; n != 3 {
			t.Errorf("rejected{reason=store} = %v, want 3 events", n)
		}
		if n := gather(t, reg, "tocsin_alert_notifications_total", "").value; n != 1 {
			t.Errorf("notifications_total = %v, want 1", n)
		}

		// The queue carries on.
		if err := q.Submit(t.Context(), alertEvents("am", "c", 1)); !errors.Is(err, alerts.ErrAlertsNotStored) {
			t.Errorf("Submit while the store still fails = %v, want ErrAlertsNotStored", err)
		}
	})
}

func TestAlertQueueCommitTimeout(t *testing.T) {
	for _, tt := range []struct {
		timeout, want time.Duration
	}{{0, 30 * time.Second}, {5 * time.Second, 5 * time.Second}} {
		t.Run(tt.want.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newCommitRecorder(true) // never released: commits wait for their ctx
				q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
					Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(), CommitTimeout: tt.timeout,
				})
				start := time.Now()
				if err := q.Submit(t.Context(), alertEvents("am", "a", 1)); !errors.Is(err, alerts.ErrAlertsNotStored) {
					t.Errorf("Submit of a batch whose commit hangs = %v, want ErrAlertsNotStored", err)
				}
				if waited := time.Since(start); waited != tt.want {
					t.Errorf("the commit was given up after %v, want %v", waited, tt.want)
				}
			})
		})
	}
}

// TestAlertQueueShutdown stops the queue while a batch is committing and
// others wait: the batch is committed and answered as such, and the others
// are refused.
func TestAlertQueueShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		commitErr := make(chan error, 1)
		var deadline time.Duration
		store := &fakeAlertStore{commitEvents: func(ctx context.Context, events []alerts.Event, r alerts.Router) (alerts.Committed, error) {
			d, _ := ctx.Deadline()
			deadline = time.Until(d)
			done, err := rec.commit(ctx, events, r)
			commitErr <- ctx.Err()
			return done, err
		}}
		reg := prometheus.NewRegistry()
		q, stop := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: store, Routing: newRouting(), Workers: 1, Metrics: reg,
		})
		held := submit(t.Context(), q, alertEvents("am", "held", 1))
		synctest.Wait()
		a := submit(t.Context(), q, alertEvents("am", "a", 2))
		b := submit(t.Context(), q, alertEvents("am", "b", 1))
		synctest.Wait()

		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		synctest.Wait()
		if err, ok := answered(stopped); ok {
			t.Fatalf("Run returned %v while a batch was committing", err)
		}
		rec.release()
		if err := <-stopped; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if err := <-commitErr; err != nil {
			t.Errorf("the commit in progress saw its ctx end (%v) when Run's did", err)
		}
		if deadline != 30*time.Second {
			t.Errorf("the commit's ctx had %v left, want the commit timeout", deadline)
		}
		if err := <-held; err != nil {
			t.Errorf("Submit of the batch committed at shutdown = %v, want nil", err)
		}
		for _, errc := range []<-chan error{a, b} {
			if err := <-errc; !errors.Is(err, alerts.ErrAlertQueueStopped) || !errors.Is(err, alerts.ErrUnavailable) {
				t.Errorf("Submit queued at shutdown = %v, want ErrAlertQueueStopped", err)
			}
		}

		// Once stopped, the queue refuses at once, and commits nothing.
		if err := q.Submit(t.Context(), alertEvents("am", "late", 4)); !errors.Is(err, alerts.ErrAlertQueueStopped) {
			t.Errorf("Submit after Run returned = %v, want ErrAlertQueueStopped", err)
		}
		synctest.Wait()
		if got := rec.names(); len(got) != 1 {
			t.Errorf("batches %v, want the one held at shutdown", got)
		}
		if n := gather(t, reg, "tocsin_alert_queue_rejected_total", "reason=stopped").value; n != 7 {
			t.Errorf("rejected{reason=stopped} = %v, want 7 events", n)
		}
		if d := gather(t, reg, "tocsin_alert_queue_depth", "").value; d != 0 {
			t.Errorf("depth %v after shutdown, want 0", d)
		}
		if err := q.Run(t.Context()); err == nil {
			t.Error("Run after Run returned = nil, want an error")
		}
	})
}

func TestAlertQueueRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: newCommitRecorder(false).commit}, Routing: newRouting(),
		})
		synctest.Wait()
		if err := q.Run(t.Context()); err == nil {
			t.Error("a second Run returned nil, want an error")
		}
		if err := q.Submit(t.Context(), alertEvents("am", "a", 1)); err != nil {
			t.Errorf("Submit after a second Run: %v; the first should still run", err)
		}
	})
}

// TestAlertQueueBeforeRun checks that events submitted before Run wait for
// it, rather than being refused.
func TestAlertQueueBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(false)
		q := alerts.NewAlertQueue(alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(),
		})
		errc := submit(t.Context(), q, alertEvents("am", "early", 1))
		synctest.Wait()
		if err, ok := answered(errc); ok {
			t.Fatalf("Submit before Run returned %v, want it to wait", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- q.Run(ctx) }()
		if err := <-errc; err != nil {
			t.Errorf("Submit before Run, once Run started: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestAlertQueueSubmitContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		reg := prometheus.NewRegistry()
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(), Workers: 1, Metrics: reg,
		})
		held := submit(t.Context(), q, alertEvents("am", "held", 1))
		synctest.Wait()

		// A Submit whose ctx ends leaves its events queued: they are still
		// committed.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Submit(ctx, alertEvents("am", "gone", 2)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Submit whose ctx ended = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Submit returned after %v, want its ctx's 1s", waited)
		}

		// A Submit whose ctx has ended already queues nothing.
		ended, end := context.WithCancel(t.Context())
		end()
		if err := q.Submit(ended, alertEvents("am", "never", 1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Submit with an ended ctx = %v, want Canceled", err)
		}
		if d := gather(t, reg, "tocsin_alert_queue_depth", "").value; d != 2 {
			t.Errorf("depth %v, want 2", d)
		}

		rec.release()
		if err := <-held; err != nil {
			t.Errorf("Submit: %v", err)
		}
		synctest.Wait()
		want := [][]string{{"held-0"}, {"gone-0", "gone-1"}}
		if got := rec.names(); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
}

func TestAlertQueueAct(t *testing.T) {
	acked := alerts.Alert{ID: 7, State: alerts.StateAcknowledged, AckedBy: "ann", AckedByID: 3}
	rows := []alerts.Notification{
		{UserID: 3, Seq: 10, Event: alerts.NotifyAcknowledged, Alert: &acked},
		{UserID: 4, Seq: 2, Event: alerts.NotifyAcknowledged, Alert: &acked},
	}
	tests := []struct {
		name    string
		alert   alerts.Alert
		rows    []alerts.Notification
		err     error
		wantErr error
	}{
		{name: "acknowledged", alert: acked, rows: rows},
		{name: "no one to tell", alert: acked},
		{name: "conflict", err: alerts.Conflict("alert 7 is already acknowledged"), wantErr: alerts.ErrConflict},
		{name: "not found", err: alerts.NotFound("alert 7"), wantErr: alerts.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Every batch of events is held in its commit: Act does not
				// wait behind them.
				rec := newCommitRecorder(true)
				defer rec.release()
				route := newRouting()
				act := alerts.Action{AlertID: 7, Kind: alerts.ActionAck, UserID: 3, User: "ann"}
				store := &fakeAlertStore{
					commitEvents: rec.commit,
					actOnAlert: func(_ context.Context, got alerts.Action, r alerts.Router) (alerts.Alert, []alerts.Notification, error) {
						if got != act {
							t.Errorf("ActOnAlert(%+v), want %+v", got, act)
						}
						if r != route.Snapshot() {
							t.Errorf("ActOnAlert got router %v, want the snapshot in effect", r)
						}
						return tt.alert, tt.rows, tt.err
					},
				}
				notes := &notifyLog{}
				reg := prometheus.NewRegistry()
				q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
					Store: store, Routing: route, Notifier: notes, Workers: 1, Metrics: reg,
				})
				for i := range 3 {
					submit(t.Context(), q, alertEvents("am", fmt.Sprint(i), 1))
				}
				synctest.Wait()

				a, err := q.Act(t.Context(), act)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Act = %v, want %v", err, tt.wantErr)
				}
				if a.ID != tt.alert.ID || a.State != tt.alert.State {
					t.Errorf("Act returned alert %+v, want %+v", a, tt.alert)
				}
				var want [][]alerts.Notification
				if len(tt.rows) > 0 {
					want = [][]alerts.Notification{tt.rows}
				}
				if got := notes.got(); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("Notify calls %+v, want %+v", got, want)
				}
				if n := gather(t, reg, "tocsin_alert_notifications_total", "").value; n != float64(len(tt.rows)) {
					t.Errorf("notifications_total = %v, want %d", n, len(tt.rows))
				}
			})
		})
	}
}

func TestAlertQueueMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newCommitRecorder(true)
		reg := prometheus.NewRegistry()
		q, _ := runAlertQueue(t, alerts.AlertQueueOptions{
			Store: &fakeAlertStore{commitEvents: rec.commit}, Routing: newRouting(),
			Size: 10, Workers: 1, Metrics: reg,
		})
		// The worker takes "held" at once and commits it for 2s; meanwhile
		// the other two requests wait in the queue for those 2s.
		held := submit(t.Context(), q, alertEvents("am", "held", 1))
		synctest.Wait()
		graf := alertEvents("grafana", "g", 2)
		graf[1].Status = alerts.StatusResolved
		errcs := []<-chan error{held, submit(t.Context(), q, graf), submit(t.Context(), q, alertEvents("am", "a", 3))}
		synctest.Wait()
		if err := q.Submit(t.Context(), alertEvents("am", "big", 6)); !errors.Is(err, alerts.ErrAlertQueueFull) {
			t.Errorf("Submit of 6 events to a queue of 5 in 10 = %v, want ErrAlertQueueFull", err)
		}
		if d := gather(t, reg, "tocsin_alert_queue_depth", "").value; d != 5 {
			t.Errorf("depth %v, want 5", d)
		}
		time.Sleep(2 * time.Second)
		rec.release()
		for _, errc := range errcs {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}

		for _, tt := range []struct {
			name, label string
			want        float64
			count       uint64 // of a histogram
		}{
			{"tocsin_alert_queue_depth", "", 0, 0},
			{"tocsin_alert_queue_wait_seconds", "", 4, 3}, // 0s, 2s, 2s
			{"tocsin_alert_batch_events", "", 6, 2},       // 1, 2+3
			{"tocsin_alert_commit_seconds", "", 2, 2},     // 2s, 0s
			{"tocsin_alert_queue_rejected_total", "reason=full", 6, 0},
			{"tocsin_alert_queue_rejected_total", "reason=store", 0, 0},
			{"tocsin_alert_queue_rejected_total", "reason=stopped", 0, 0},
			{"tocsin_alert_events_total", "outcome=fired,source=am", 4, 0},
			{"tocsin_alert_events_total", "outcome=fired,source=grafana", 1, 0},
			{"tocsin_alert_events_total", "outcome=ignored,source=grafana", 1, 0},
			{"tocsin_alert_notifications_total", "", 5, 0},
		} {
			got := gather(t, reg, tt.name, tt.label)
			if got.value != tt.want || got.count != tt.count {
				t.Errorf("%s{%s} = %v (count %d), want %v (count %d)", tt.name, tt.label, got.value, got.count, tt.want, tt.count)
			}
		}
	})
}

func TestAlertQueueMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	alerts.NewAlertQueue(alerts.AlertQueueOptions{Store: &fakeAlertStore{}, Routing: newRouting(), Metrics: reg})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	// The events counter has no series until a batch is committed.
	want := []string{
		"tocsin_alert_batch_events", "tocsin_alert_commit_seconds", "tocsin_alert_notifications_total",
		"tocsin_alert_queue_depth", "tocsin_alert_queue_rejected_total", "tocsin_alert_queue_wait_seconds",
	}
	if !slices.Equal(names, want) {
		t.Errorf("metrics %v, want %v", names, want)
	}
	for _, reason := range []string{"full", "store", "stopped"} {
		gather(t, reg, "tocsin_alert_queue_rejected_total", "reason="+reason)
	}
}

// TestAlertQueueAnswersTruthfully submits from many goroutines while the
// queue stops, again and again, and checks that Submit returns nil only for
// events that were committed and ErrAlertQueueStopped only for events that
// were not: an answer and a stop that race are resolved in the answer's
// favour.
func TestAlertQueueAnswersTruthfully(t *testing.T) {
	const (
		rounds  = 200
		senders = 16
	)
	for round := range rounds {
		stopWhileSubmitting(t, round, senders)
	}
}

// stopWhileSubmitting is a round of TestAlertQueueAnswersTruthfully: senders
// goroutines submit, and Run's ctx ends when half of them have started.
func stopWhileSubmitting(t *testing.T, round, senders int) {
	var mu sync.Mutex
	committed := map[string]bool{}
	store := &fakeAlertStore{commitEvents: func(_ context.Context, events []alerts.Event, _ alerts.Router) (alerts.Committed, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range eventNames(events) {
			committed[name] = true
		}
		return alerts.Committed{}, nil
	}}
	q := alerts.NewAlertQueue(alerts.AlertQueueOptions{Store: store, Routing: newRouting(), Workers: 2, MaxBatch: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()

	results := make([]error, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() { results[i] = q.Submit(context.Background(), alertEvents("am", fmt.Sprint(i), 1+i%3)) })
		if i == senders/2 {
			cancel()
		}
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("round %d: Run: %v", round, err)
	}
	for i, err := range results {
		size, n := 1+i%3, 0
		for _, name := range eventNames(alertEvents("am", fmt.Sprint(i), size)) {
			if committed[name] {
				n++
			}
		}
		switch {
		case err == nil && n != size:
			t.Errorf("round %d: Submit #%d = nil, but %d of its %d events were committed", round, i, n, size)
		case errors.Is(err, alerts.ErrAlertQueueStopped) && n != 0:
			t.Errorf("round %d: Submit #%d = %v, but %d of its events were committed", round, i, err, n)
		case err != nil && !errors.Is(err, alerts.ErrAlertQueueStopped):
			t.Errorf("round %d: Submit #%d = %v, want nil or ErrAlertQueueStopped", round, i, err)
		}
	}
}
