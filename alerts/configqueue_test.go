package alerts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/alerts"
)

// fakeStore is a hand-written alerts.RulesReader: it answers the rules set
// last, or the error set last.
type fakeStore struct {
	mu    sync.Mutex
	rules alerts.Rules
	err   error
	reads int
	// gate, when not nil, holds every read until it is closed.
	gate chan struct{}
	// version is the n of the versionRules set last, for setVersion.
	version int64
}

var _ alerts.RulesReader = (*fakeStore)(nil)

func (f *fakeStore) Rules(ctx context.Context) (alerts.Rules, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return alerts.Rules{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.rules, f.err
}

// set replaces the rules; the store never changes rules it has answered.
func (f *fakeStore) set(r alerts.Rules) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = r
}

// setVersion sets versionRules(n), unless rules of a later version are set.
func (f *fakeStore) setVersion(t testing.TB, n int64) {
	r := versionRules(t, n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.version {
		f.rules, f.version = r, n
	}
}

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// hold makes reads wait until the returned func is called.
func (f *fakeStore) hold() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.gate = nil
		f.mu.Unlock()
		close(gate)
	}
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// recorder is a hand-written alerts.ConfigSubscriber that keeps what it is
// told.
type recorder struct {
	mu  sync.Mutex
	got []applied
}

// applied is one ConfigApplied call.
type applied struct {
	change   alerts.ConfigChange
	snapshot *alerts.Snapshot
}

func (r *recorder) ConfigApplied(change alerts.ConfigChange, snapshot *alerts.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, applied{change, snapshot})
}

func (r *recorder) calls() []applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// lockedBuffer is a log destination that the worker may write while the test
// reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startQueue makes a queue from opts and runs it until the test ends, when it
// checks that Run returned nil.
func startQueue(t *testing.T, opts alerts.ConfigQueueOptions) *alerts.ConfigQueue {
	t.Helper()
	q := alerts.NewConfigQueue(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return q
}

// change returns a route update of route id.
func change(id int64) alerts.ConfigChange {
	return alerts.ConfigChange{Object: "route", ID: id, Action: "update", Version: id}
}

// oneRoute returns rules of one route that sends every alert to user.
func oneRoute(user int64) alerts.Rules {
	return alerts.Rules{Routes: []alerts.Route{{ID: 1, Name: "all", Users: []int64{user}, Enabled: true}}}
}

// userOf returns the one user ls routes to in s, or -1.
func userOf(s *alerts.Snapshot) int64 {
	users, _ := s.Resolve(alerts.Labels{"alertname": "Test"})
	if len(users) != 1 {
		return -1
	}
	return users[0]
}

func TestConfigQueueBeforeRun(t *testing.T) {
	q := alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: &fakeStore{rules: oneRoute(1)}})
	s := q.Snapshot()
	if s == nil || s.Version() != 0 {
		t.Fatalf("Snapshot() before Run = %v, want an empty version 0", s)
	}
	if users, silenced := s.Resolve(alerts.Labels{"alertname": "Test"}); len(users) != 0 || silenced {
		t.Errorf("Resolve before Run = %v, %v; want nobody", users, silenced)
	}
	// Apply before Run waits, and ctx bounds it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := q.Apply(ctx, change(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Apply before Run = %v, want DeadlineExceeded", err)
	}
}

func TestConfigQueueLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(7)}
		q := alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: store})
		if err := q.Load(t.Context()); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if s := q.Snapshot(); s.Version() != 1 || userOf(s) != 7 {
			t.Fatalf("after Load: version %d routing to %d, want version 1 routing to 7", s.Version(), userOf(s))
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- q.Run(ctx) }()
		synctest.Wait()
		store.mu.Lock()
		reads := store.reads
		store.mu.Unlock()
		if reads != 1 {
			t.Errorf("the store was read %d times after Load and Run started, want once: Run rebuilt what Load built", reads)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestConfigQueueApply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		rec := &recorder{}
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Subscriber: rec})
		synctest.Wait()
		if v, u := q.Snapshot().Version(), userOf(q.Snapshot()); v != 1 || u != 1 {
			t.Fatalf("first snapshot: version %d routes to %d, want version 1 to user 1", v, u)
		}
		for i := int64(2); i <= 5; i++ {
			store.set(oneRoute(i))
			if err := q.Apply(t.Context(), change(i)); err != nil {
				t.Fatalf("Apply #%d: %v", i, err)
			}
			// Visible as soon as Apply returns, with no wait.
			if v, u := q.Snapshot().Version(), userOf(q.Snapshot()); v != uint64(i) || u != i {
				t.Fatalf("after Apply #%d: version %d routes to %d, want version %d to user %d", i, v, u, i, i)
			}
		}
		calls := rec.calls()
		if len(calls) != 4 {
			t.Fatalf("subscriber told of %d changes, want 4", len(calls))
		}
		for i, c := range calls {
			n := int64(i + 2)
			if c.change != change(n) {
				t.Errorf("subscriber call %d: change %+v, want %+v", i, c.change, change(n))
			}
			if v, u := c.snapshot.Version(), userOf(c.snapshot); v != uint64(n) || u != n {
				t.Errorf("subscriber call %d: snapshot version %d routes to %d, want the one with the change", i, v, u)
			}
		}
	})
}

func TestConfigQueueCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		rec := &recorder{}
		reg := prometheus.NewRegistry()
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Subscriber: rec, Metrics: reg})
		synctest.Wait()

		// The worker takes change 1 and waits in its read; changes 2 to 6
		// queue up behind it.
		release := store.hold()
		errs := make(chan error, 6)
		go func() { errs <- q.Apply(t.Context(), change(1)) }()
		synctest.Wait()
		for i := int64(2); i <= 6; i++ {
			go func() { errs <- q.Apply(t.Context(), change(i)) }()
		}
		synctest.Wait()
		if depth := gather(t, reg, "tocsin_config_queue_depth", "").value; depth != 5 {
			t.Errorf("queue depth %v, want 5", depth)
		}
		store.set(oneRoute(6))
		release()
		for range 6 {
			if err := <-errs; err != nil {
				t.Errorf("Apply: %v", err)
			}
		}
		// One read for the first snapshot, one for change 1, one for the
		// five others together.
		if n := store.readCount(); n != 3 {
			t.Errorf("%d reads, want 3", n)
		}
		if v := q.Snapshot().Version(); v != 3 {
			t.Errorf("version %d, want 3", v)
		}
		calls := rec.calls()
		if len(calls) != 6 {
			t.Fatalf("subscriber told of %d changes, want 6", len(calls))
		}
		ids := []int64{}
		for _, c := range calls[1:] {
			ids = append(ids, c.change.ID)
			if c.snapshot != calls[1].snapshot || c.snapshot.Version() != 3 {
				t.Errorf("change %d handed with snapshot version %d, want the one snapshot of version 3", c.change.ID, c.snapshot.Version())
			}
		}
		slices.Sort(ids)
		if want := []int64{2, 3, 4, 5, 6}; !slices.Equal(ids, want) {
			t.Errorf("subscriber told of %v after the first, want %v", ids, want)
		}
	})
}

func TestConfigQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		rec := &recorder{}
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Subscriber: rec, Size: 1})
		synctest.Wait()

		release := store.hold()
		errs := make(chan error, 2)
		go func() { errs <- q.Apply(t.Context(), change(1)) }() // taken by the worker
		synctest.Wait()
		go func() { errs <- q.Apply(t.Context(), change(2)) }() // fills the queue
		synctest.Wait()

		store.set(oneRoute(3))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Apply(ctx, change(3)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply to a full queue = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Apply to a full queue returned after %v, want its ctx's 1s", waited)
		}
		if u := userOf(q.Snapshot()); u != 1 {
			t.Errorf("while the worker is held, the snapshot routes to %d, want 1", u)
		}

		release()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Apply: %v", err)
			}
		}
		synctest.Wait()
		if u := userOf(q.Snapshot()); u != 3 {
			t.Errorf("the change Apply gave up on is not in effect: routes to %d, want 3", u)
		}
		var got []int64
		for _, c := range rec.calls() {
			got = append(got, c.change.ID)
		}
		if want := []int64{1, 2}; !slices.Equal(got, want) {
			t.Errorf("subscriber told of %v, want %v (a change never queued is not told)", got, want)
		}
	})
}

// TestConfigQueueApplyGivesUp calls Apply with a ctx that has ended, so that
// it may give up before or after queuing the change: either way the change
// takes effect.
func TestConfigQueueApplyGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store})
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for i := int64(2); i < 50; i++ {
			store.set(oneRoute(i))
			if err := q.Apply(ctx, change(i)); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Apply #%d with a cancelled ctx = %v, want Canceled or nil", i, err)
			}
			synctest.Wait()
			if u := userOf(q.Snapshot()); u != i {
				t.Fatalf("after Apply #%d gave up, the snapshot routes to %d, want %d", i, u, i)
			}
		}
	})
}

func TestConfigQueueStoreDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		var logs lockedBuffer
		reg := prometheus.NewRegistry()
		q := startQueue(t, alerts.ConfigQueueOptions{
			Store: store, Metrics: reg, Resync: 24 * time.Hour,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		synctest.Wait()

		store.setErr(errors.New("store down"))
		store.set(oneRoute(2))
		before := store.readCount()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := q.Apply(ctx, change(2)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply while the store is down = %v, want DeadlineExceeded", err)
		}
		if v, u := q.Snapshot().Version(), userOf(q.Snapshot()); v != 1 || u != 1 {
			t.Errorf("while the store is down: version %d routes to %d, want the old version 1 to user 1", v, u)
		}

		// A caller with no deadline keeps waiting; retries back off.
		errs := make(chan error, 1)
		go func() { errs <- q.Apply(t.Context(), change(3)) }()
		time.Sleep(time.Minute)
		select {
		case err := <-errs:
			t.Fatalf("Apply returned %v while the store is down", err)
		default:
		}
		reads := store.readCount() - before
		if reads < 5 || reads > 15 {
			t.Errorf("%d reads in a minute of the store down, want a few retries that back off", reads)
		}
		if n := gather(t, reg, "tocsin_config_rebuild_errors_total", "").value; int(n) != reads {
			t.Errorf("rebuild errors metric %v, want %d", n, reads)
		}
		if !strings.Contains(logs.String(), "store down") {
			t.Errorf("the failure is not logged; logs:\n%s", logs.String())
		}

		// Once the store is back, the next retry applies both changes.
		store.setErr(nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("Apply after the store came back: %v", err)
			}
		default:
			t.Fatal("Apply still waiting 10s after the store came back")
		}
		if v, u := q.Snapshot().Version(), userOf(q.Snapshot()); v != 2 || u != 2 {
			t.Errorf("after the store came back: version %d routes to %d, want version 2 to user 2", v, u)
		}
		if n := gather(t, reg, "tocsin_config_changes_applied_total", "object=route").value; n != 2 {
			t.Errorf("changes applied %v, want 2 (the one whose caller gave up too)", n)
		}
	})
}

func TestConfigQueueStoreDownAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1), err: errors.New("store down")}
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store})
		time.Sleep(time.Minute)
		if v := q.Snapshot().Version(); v != 0 {
			t.Fatalf("version %d with the store down, want 0", v)
		}
		store.setErr(nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if v, u := q.Snapshot().Version(), userOf(q.Snapshot()); v != 1 || u != 1 {
			t.Errorf("after the store came back: version %d routes to %d, want version 1 to user 1", v, u)
		}
	})
}

// TestConfigQueueSilenceEdges checks that the snapshot follows silences that
// start and end with time, with no Apply.
func TestConfigQueueSilenceEdges(t *testing.T) {
	disk := alerts.Labels{"alertname": "DiskFull"}
	silenced := func(q *alerts.ConfigQueue) bool {
		_, s := q.Snapshot().Resolve(disk)
		return s
	}
	t.Run("active silence ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			now := time.Now()
			rules := oneRoute(1)
			rules.Silences = []alerts.Silence{{
				ID: 1, Matchers: mustMatchers(t, `{alertname="DiskFull"}`),
				StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
			}}
			store := &fakeStore{rules: rules}
			q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Resync: 24 * time.Hour})
			synctest.Wait()
			if !silenced(q) {
				t.Fatal("an active silence does not silence")
			}
			time.Sleep(time.Hour - time.Nanosecond)
			synctest.Wait()
			if !silenced(q) {
				t.Fatal("the silence stopped before its end")
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			if silenced(q) {
				t.Fatal("the silence still silences after its end")
			}
			if n := store.readCount(); n != 2 {
				t.Errorf("%d reads, want 2: the first, and at the silence's end", n)
			}
		})
	})
	t.Run("pending silence starts and ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			now := time.Now()
			rules := oneRoute(1)
			rules.Silences = []alerts.Silence{{
				ID: 1, Matchers: mustMatchers(t, `{alertname="DiskFull"}`),
				StartsAt: now.Add(10 * time.Minute), EndsAt: now.Add(20 * time.Minute),
			}}
			store := &fakeStore{rules: rules}
			q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Resync: 24 * time.Hour})
			synctest.Wait()
			if silenced(q) {
				t.Fatal("a pending silence silences")
			}
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			if !silenced(q) {
				t.Fatal("the silence does not silence once its window starts")
			}
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			if silenced(q) {
				t.Fatal("the silence still silences after its end")
			}
			if v := q.Snapshot().Version(); v != 3 {
				t.Errorf("version %d, want 3: the first, the start, the end", v)
			}
		})
	})
}

func TestConfigQueueResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		rec := &recorder{}
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Subscriber: rec, Resync: time.Minute})
		synctest.Wait()
		// Another node changes the rules; nobody calls Apply here.
		store.set(oneRoute(2))
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if u := userOf(q.Snapshot()); u != 1 {
			t.Fatalf("before the resync interval the snapshot routes to %d, want 1", u)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if u := userOf(q.Snapshot()); u != 2 {
			t.Errorf("after the resync interval the snapshot routes to %d, want 2", u)
		}
		if calls := rec.calls(); len(calls) != 0 {
			t.Errorf("subscriber told of %d changes by a resync, want none", len(calls))
		}
	})
}

func TestConfigQueueMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		reg := prometheus.NewRegistry()
		q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Metrics: reg})
		synctest.Wait()
		ctx := t.Context()
		for _, c := range []alerts.ConfigChange{
			{Object: "route", ID: 1, Action: "update"},
			{Object: "route", ID: 2, Action: "create"},
			{Object: "team", ID: 1, Action: "delete"},
		} {
			if err := q.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		// A change held 2s in its rebuild takes 2s to apply.
		release := store.hold()
		errs := make(chan error, 1)
		go func() { errs <- q.Apply(ctx, alerts.ConfigChange{Object: "silence", ID: 1, Action: "create"}) }()
		time.Sleep(2 * time.Second)
		release()
		if err := <-errs; err != nil {
			t.Fatal(err)
		}

		for _, tt := range []struct {
			name, label string
			want        float64
		}{
			{"tocsin_config_changes_applied_total", "object=route", 2},
			{"tocsin_config_changes_applied_total", "object=team", 1},
			{"tocsin_config_changes_applied_total", "object=silence", 1},
			{"tocsin_config_snapshot_version", "", 5},
			{"tocsin_config_queue_depth", "", 0},
			{"tocsin_config_rebuild_errors_total", "", 0},
			{"tocsin_config_apply_seconds", "", 2}, // the sum
		} {
			if got := gather(t, reg, tt.name, tt.label).value; got != tt.want {
				t.Errorf("%s{%s} = %v, want %v", tt.name, tt.label, got, tt.want)
			}
		}
		if n := gather(t, reg, "tocsin_config_apply_seconds", "").count; n != 4 {
			t.Errorf("tocsin_config_apply_seconds count = %d, want 4", n)
		}
	})
}

// sample is one metric's value (a histogram's sum) and its count (a
// histogram's).
type sample struct {
	value float64
	count uint64
}

// gather returns the metric name from reg with the label "name=value" (or
// none, for ""), failing the test if there is none.
func gather(t *testing.T, reg *prometheus.Registry, name, label string) sample {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(labels, ",") != label {
				continue
			}
			switch {
			case m.Counter != nil:
				return sample{value: m.GetCounter().GetValue()}
			case m.Gauge != nil:
				return sample{value: m.GetGauge().GetValue()}
			case m.Histogram != nil:
				return sample{value: m.GetHistogram().GetSampleSum(), count: m.GetHistogram().GetSampleCount()}
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return sample{}
}

func TestConfigQueueMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: &fakeStore{}, Metrics: reg})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	// The applied counter has no series until a change is applied.
	want := []string{"tocsin_config_apply_seconds", "tocsin_config_queue_depth", "tocsin_config_rebuild_errors_total", "tocsin_config_snapshot_version"}
	if !slices.Equal(names, want) {
		t.Errorf("metrics %v, want %v", names, want)
	}
}

func TestConfigQueueStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{rules: oneRoute(1)}
		q := alerts.NewConfigQueue(alerts.ConfigQueueOptions{Store: store})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- q.Run(ctx) }()
		synctest.Wait()
		if err := q.Run(ctx); err == nil {
			t.Error("a second Run returned nil, want an error")
		}

		// A caller waiting when the worker stops, even in a read, stops
		// waiting.
		release := store.hold()
		defer release()
		errs := make(chan error, 1)
		go func() { errs <- q.Apply(t.Context(), change(2)) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if err := <-errs; !errors.Is(err, alerts.ErrConfigQueueStopped) || !errors.Is(err, alerts.ErrUnavailable) {
			t.Errorf("Apply waiting when Run returned = %v, want ErrConfigQueueStopped", err)
		}
		if err := q.Apply(t.Context(), change(3)); !errors.Is(err, alerts.ErrConfigQueueStopped) {
			t.Errorf("Apply after Run returned = %v, want ErrConfigQueueStopped", err)
		}
	})
}

// versionRules returns rules of which every part that decides a resolution
// encodes n, so that an evaluation that saw parts of two versions would show
// it: a disabled route to user n*10+9 first, then three routes that continue
// and a last that does not, to users n*10+1 (directly), n*10+2 and n*10+3
// (through team n*10), n*10+4 and n*10+5; the routes are named "v<n>-...".
// Odd versions also silence every alert named Test.
func versionRules(t testing.TB, n int64) alerts.Rules {
	name := func(s string) string { return "v" + strconv.FormatInt(n, 10) + "-" + s }
	all := alerts.Matchers{}
	r := alerts.Rules{
		Routes: []alerts.Route{
			{ID: 1, Name: name("off"), Users: []int64{n*10 + 9}, Enabled: false, Continue: true},
			{ID: 2, Name: name("a"), Matchers: all, Users: []int64{n*10 + 1}, Enabled: true, Continue: true},
			{ID: 3, Name: name("b"), Matchers: mustMatchers(t, `{alertname="Test"}`), Teams: []int64{n * 10}, Enabled: true, Continue: true},
			{ID: 4, Name: name("c"), Matchers: all, Users: []int64{n*10 + 4}, Enabled: true, Continue: true},
			{ID: 5, Name: name("d"), Matchers: all, Users: []int64{n*10 + 5}, Enabled: true},
			{ID: 6, Name: name("never"), Matchers: all, Users: []int64{n*10 + 6}, Enabled: true},
		},
		Teams: []alerts.Team{{ID: n * 10, Name: name("team"), Members: []int64{n*10 + 2, n*10 + 3}}},
	}
	if n%2 == 1 {
		r.Silences = []alerts.Silence{{
			ID: n, Matchers: mustMatchers(t, `{alertname="Test"}`),
			StartsAt: time.Now().Add(-time.Hour), EndsAt: time.Now().Add(24 * time.Hour),
		}}
	}
	return r
}

// versionOf returns the version n that res came from, or an error if its
// parts do not all come from one version.
func versionOf(res alerts.Resolution) (int64, error) {
	if len(res.Users) != 5 {
		return 0, fmt.Errorf("users %v, want 5", res.Users)
	}
	n := res.Users[0] / 10
	for i, u := range res.Users {
		if u != n*10+int64(i+1) {
			return 0, fmt.Errorf("users %v are not those of one version", res.Users)
		}
	}
	var names []string
	for _, r := range res.Routes {
		names = append(names, r.Name)
	}
	prefix := "v" + strconv.FormatInt(n, 10) + "-"
	if want := []string{prefix + "a", prefix + "b", prefix + "c", prefix + "d"}; !slices.Equal(names, want) {
		return 0, fmt.Errorf("routes %v with users %v, want %v", names, res.Users, want)
	}
	if res.Silenced != (n%2 == 1) {
		return 0, fmt.Errorf("silenced %v with users %v of version %d", res.Silenced, res.Users, n)
	}
	return n, nil
}

// TestConfigQueueAtomicSwap evaluates label sets on many goroutines while
// writers apply changes, and checks that no evaluation sees parts of two
// versions, that no goroutine sees versions go back, and that every Apply
// returns only once its change is visible.
func TestConfigQueueAtomicSwap(t *testing.T) {
	const (
		readers  = 8
		writers  = 4
		versions = 400
	)
	store := &fakeStore{}
	store.setVersion(t, 1)
	rec := &recorder{}
	q := startQueue(t, alerts.ConfigQueueOptions{Store: store, Subscriber: rec, Size: 4})
	if err := q.Apply(t.Context(), change(1)); err != nil {
		t.Fatal(err)
	}

	ls := alerts.Labels{"alertname": "Test"}
	stop := make(chan struct{})
	var evaluations atomic.Int64
	var readersDone sync.WaitGroup
	for range readers {
		readersDone.Go(func() {
			var lastN int64
			var lastVersion uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := q.Snapshot()
				res := s.Explain(ls)
				n, err := versionOf(res)
				if err != nil {
					t.Errorf("snapshot version %d: %v", s.Version(), err)
					return
				}
				users, silenced := s.Resolve(ls)
				if !slices.Equal(users, res.Users) || silenced != res.Silenced {
					t.Errorf("snapshot version %d: Resolve = %v, %v; Explain = %v, %v", s.Version(), users, silenced, res.Users, res.Silenced)
					return
				}
				if n < lastN || s.Version() < lastVersion {
					t.Errorf("went back from rules v%d (snapshot %d) to v%d (snapshot %d)", lastN, lastVersion, n, s.Version())
					return
				}
				lastN, lastVersion = n, s.Version()
				evaluations.Add(1)
			}
		})
	}

	var next atomic.Int64
	next.Store(1)
	var writersDone sync.WaitGroup
	for range writers {
		writersDone.Go(func() {
			for {
				n := next.Add(1)
				if n > versions {
					return
				}
				store.setVersion(t, n)
				if err := q.Apply(t.Context(), change(n)); err != nil {
					t.Errorf("Apply v%d: %v", n, err)
					return
				}
				got, err := versionOf(q.Snapshot().Explain(ls))
				if err != nil {
					t.Errorf("after Apply v%d: %v", n, err)
					return
				}
				if got < n {
					t.Errorf("after Apply v%d returned, the snapshot holds v%d", n, got)
					return
				}
			}
		})
	}
	writersDone.Wait()
	close(stop)
	readersDone.Wait()

	if got, _ := versionOf(q.Snapshot().Explain(ls)); got != versions {
		t.Errorf("at the end the snapshot holds v%d, want v%d", got, versions)
	}
	calls := rec.calls()
	if len(calls) != versions {
		t.Errorf("subscriber told of %d changes, want %d", len(calls), versions)
	}
	seen := map[int64]bool{}
	for _, c := range calls {
		seen[c.change.ID] = true
		if n, err := versionOf(c.snapshot.Explain(ls)); err != nil || n < c.change.ID {
			t.Errorf("change %d handed with a snapshot of v%d (%v)", c.change.ID, n, err)
		}
	}
	if len(seen) != versions {
		t.Errorf("subscriber told of %d distinct changes, want %d", len(seen), versions)
	}
	t.Logf("%d evaluations, %d snapshots", evaluations.Load(), q.Snapshot().Version())
}
