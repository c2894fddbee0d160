package sources

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/tocsinhq/tocsin/alerts"
)

// PollerStore is what the scheduler needs of the store; *storage.DB
// implements it.
type PollerStore interface {
	// AllPollers returns every poller, enabled or not.
	AllPollers(ctx context.Context) ([]Poller, error)
	// PollerStates returns the states of the pollers ids, or every state
	// when ids is nil.
	PollerStates(ctx context.Context, ids []int64) ([]PollerState, error)
	// SavePollerState writes a poller's state, replacing the stored one.
	SavePollerState(ctx context.Context, st PollerState) error
	// DeletePollerState deletes a poller's state.
	DeletePollerState(ctx context.Context, pollerID int64) error
}

// AlertSubmitter takes the events of a run and returns once they are
// committed; *alerts.AlertQueue implements it.
type AlertSubmitter interface {
	Submit(ctx context.Context, events []alerts.Event) error
}

// PollerChecker runs one check of a poller; *Checker implements it.
type PollerChecker interface {
	Check(ctx context.Context, p Poller) CheckResult
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Store holds the pollers and their states. Required.
	Store PollerStore
	// Alerts takes the events the checks fire and resolve. Required.
	Alerts AlertSubmitter
	// Checker runs the checks. Required.
	Checker PollerChecker
	// MaxConcurrent bounds the checks in flight; 0 means 16.
	MaxConcurrent int
	// Node names this node in the states it writes.
	Node string
	// Reload is how often the scheduler reads the pollers with no change
	// signalled, to pick up changes made on other nodes; 0 means 15s.
	Reload time.Duration
	// Logger logs runs that fire or resolve, and failures; nil discards.
	Logger *slog.Logger
	// Metrics, when not nil, is where the scheduler registers its metrics.
	Metrics prometheus.Registerer
}

// Defaults of the scheduler.
const (
	DefaultMaxConcurrent = 16
	defaultReload        = 15 * time.Second
	// maxJitter bounds the delay a run waits after its scheduled time, so
	// that pollers sharing a schedule do not all start at once. A poller's
	// delay is fixed (its name's hash), at most a tenth of its interval.
	maxJitter = 5 * time.Second
	// storeTimeout bounds the scheduler's reads and writes of the store.
	storeTimeout = 10 * time.Second
)

// Scheduler runs the enabled pollers on their schedules, with one cron
// instance, while this node leads: Run is called for each term of
// leadership, and returns when it ends.
//
// Each run checks the poller's target, folds the result into the poller's
// state (Poller.Observe), hands the events that fire or resolve alerts to
// the alert queue, and then writes the state to the store, where the next
// leader finds it. At most MaxConcurrent checks are in flight; a run still
// going (or still waiting for a slot) when the next is due makes the next
// one skip, counted in tocsin_poller_runs_skipped_total.
//
// Changes to the pollers are read from the store: at once when the
// config-update queue tells of one (ConfigApplied), and every Reload
// otherwise. A poller that is deleted or disabled has its firing alerts
// resolved.
type Scheduler struct {
	store   PollerStore
	alerts  AlertSubmitter
	checker PollerChecker
	node    string
	reload  time.Duration
	log     *slog.Logger
	// slots holds a token per check in flight.
	slots chan struct{}
	// changed is a flag (a channel of one) that ConfigApplied sets.
	changed chan struct{}
	// running guards against two terms at once.
	running atomic.Bool

	checks   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	skipped  *prometheus.CounterVec
	leading  prometheus.Gauge
	fired    *prometheus.CounterVec
}

// NewScheduler returns a scheduler that runs nothing until Run. It registers
// its metrics on opts.Metrics, and panics if they are registered already.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Reload <= 0 {
		opts.Reload = defaultReload
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		store: opts.Store, alerts: opts.Alerts, checker: opts.Checker, node: opts.Node,
		reload: opts.Reload, log: opts.Logger,
		slots:   make(chan struct{}, opts.MaxConcurrent),
		changed: make(chan struct{}, 1),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_poller_checks_total",
			Help: "Checks run by pollers, by poller and outcome (success, failure, error).",
		}, []string{"poller", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tocsin_poller_check_duration_seconds",
			Help:    "Time a poller's check took, by poller.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"poller"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_poller_runs_skipped_total",
			Help: "Scheduled runs skipped because the poller's previous run had not finished, by poller.",
		}, []string{"poller"}),
		leading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tocsin_poller_leader",
			Help: "1 while this node leads and runs the pollers, 0 otherwise.",
		}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_poller_alert_events_total",
			Help: "Events pollers handed to the alert queue, by status (firing, resolved).",
		}, []string{"status"}),
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(s.checks, s.duration, s.skipped, s.leading, s.fired)
	}
	return s
}

// ConfigApplied makes a running scheduler read the pollers again when the
// change is to a poller. It implements alerts.ConfigSubscriber, and never
// blocks.
func (s *Scheduler) ConfigApplied(change alerts.ConfigChange, _ *alerts.Snapshot) {
	if change.Object != objectPoller {
		return
	}
	select {
	case s.changed <- struct{}{}:
	default: // already set
	}
}

// objectPoller names pollers in config changes.
const objectPoller = "poller"

// Run runs the pollers until ctx ends, then cancels the checks in flight and
// returns once every run has ended. It may be called again once it has
// returned, for the next term; never twice at once.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sources: Scheduler.Run called while running")
	}
	defer s.running.Store(false)
	s.leading.Set(1)
	defer s.leading.Set(0)

	t := &term{
		Scheduler: s,
		cron:      cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{s.log})),
		jobs:      make(map[int64]*job),
		orphans:   make(map[int64]PollerState),
	}
	t.ctx, t.cancel = context.WithCancel(ctx)
	defer t.cancel()
	select {
	case <-s.changed: // the first read below includes it
	default:
	}
	if err := t.start(); err != nil {
		s.log.Error("pollers: read the pollers and their states; retrying", "err", err)
	}
	t.cron.Start()
	defer func() {
		t.cancel()
		<-t.cron.Stop().Done()
	}()
	s.log.Info("pollers: running", "node", s.node, "pollers", len(t.jobs))

	ticker := time.NewTicker(s.reload)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.log.Info("pollers: stopped", "node", s.node)
			return nil
		case <-s.changed:
		case <-ticker.C:
		}
		if err := t.reconcile(); err != nil {
			s.log.Error("pollers: read the pollers; keeping the schedule", "err", err)
		}
	}
}

// term is one term of leadership: the schedule and the jobs in it. Its maps
// belong to the Run goroutine.
type term struct {
	*Scheduler
	ctx    context.Context
	cancel context.CancelFunc
	cron   *cron.Cron
	// started is whether the states have been read.
	started bool
	jobs    map[int64]*job
	// orphans are the states with no scheduled poller: of pollers deleted
	// or disabled, whose firing alerts are still to be resolved.
	orphans map[int64]PollerState
}

// start reads the states, then schedules the pollers.
func (t *term) start() error {
	ctx, cancel := context.WithTimeout(t.ctx, storeTimeout)
	states, err := t.store.PollerStates(ctx, nil)
	cancel()
	if err != nil {
		return err
	}
	for _, st := range states {
		t.orphans[st.PollerID] = st
	}
	t.started = true
	return t.reconcile()
}

// reconcile brings the schedule in line with the pollers in the store, then
// retires the orphans.
func (t *term) reconcile() error {
	if !t.started {
		return t.start()
	}
	ctx, cancel := context.WithTimeout(t.ctx, storeTimeout)
	pollers, err := t.store.AllPollers(ctx)
	cancel()
	if err != nil {
		return err
	}
	want := make(map[int64]Poller, len(pollers))
	exists := make(map[int64]bool, len(pollers))
	for _, p := range pollers {
		exists[p.ID] = true
		if p.Enabled {
			want[p.ID] = p
		}
	}
	// carried are the states of the pollers that changed, which keep
	// their streaks across the change.
	carried := make(map[int64]PollerState)
	for id, j := range t.jobs {
		p, ok := want[id]
		if ok && p.Version == j.poller.Version {
			continue
		}
		t.unschedule(j)
		if ok {
			carried[id] = j.state
		} else {
			t.orphans[id] = j.state
		}
	}
	for id, p := range want {
		if _, ok := t.jobs[id]; ok {
			continue
		}
		st, ok := carried[id]
		if !ok {
			st, ok = t.orphans[id]
			delete(t.orphans, id)
		}
		if !ok {
			st = PollerState{PollerID: id}
		}
		t.schedule(p, st)
	}
	t.retireOrphans(exists)
	return nil
}

// schedule adds poller p, whose state is st, to the schedule, and saves the
// state with its next run.
func (t *term) schedule(p Poller, st PollerState) {
	sched, err := ParseSchedule(p.Schedule)
	if err != nil { // the store validated it: this is a bug
		t.log.Error("pollers: a stored poller has a bad schedule", "poller", p.Name, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	j := &job{term: t, poller: p, state: st, sched: sched, jitter: jitterOf(p.Name, sched), ctx: ctx, cancel: cancel}
	j.state.Name = p.Name
	j.state.NextRunAt = j.next(time.Now())
	// Saved before the job is on the schedule, whose runs write the state
	// from then on.
	t.save(j.ctx, j.state)
	j.entry = t.cron.Schedule(sched, j)
	t.jobs[p.ID] = j
}

// unschedule takes job j off the schedule, cancels its run in flight and
// waits for it to end, so that its state is final.
func (t *term) unschedule(j *job) {
	t.cron.Remove(j.entry)
	j.cancel()
	j.mu.Lock()
	j.retired = true
	j.mu.Unlock()
	delete(t.jobs, j.poller.ID)
	t.checks.DeletePartialMatch(prometheus.Labels{"poller": j.poller.Name})
	t.duration.DeletePartialMatch(prometheus.Labels{"poller": j.poller.Name})
	t.skipped.DeletePartialMatch(prometheus.Labels{"poller": j.poller.Name})
}

// retireOrphans resolves the firing alerts of the orphans, then deletes the
// states of deleted pollers and clears those of disabled ones. An orphan
// whose alerts could not be handed over stays, to be tried again.
func (t *term) retireOrphans(exists map[int64]bool) {
	for id, st := range t.orphans {
		if events := st.Retire(time.Now()); len(events) > 0 {
			if err := t.submit(t.ctx, events); err != nil {
				t.log.Warn("pollers: resolve the alerts of a deleted or disabled poller; will retry",
					"poller", st.Name, "poller_id", id, "err", err)
				continue
			}
			t.log.Info("pollers: resolved the alerts of a deleted or disabled poller", "poller", st.Name, "alerts", len(events))
		}
		ctx, cancel := context.WithTimeout(t.ctx, storeTimeout)
		var err error
		if exists[id] {
			st.Series, st.NextRunAt, st.Failures, st.Successes = nil, time.Time{}, 0, 0
			err = t.store.SavePollerState(ctx, st)
		} else {
			err = t.store.DeletePollerState(ctx, id)
		}
		cancel()
		if err != nil {
			t.log.Warn("pollers: write the state of a deleted or disabled poller; will retry", "poller", st.Name, "err", err)
			continue
		}
		delete(t.orphans, id)
	}
}

// submit hands events to the alert queue and counts them.
func (t *term) submit(ctx context.Context, events []alerts.Event) error {
	if err := t.alerts.Submit(ctx, events); err != nil {
		return err
	}
	for _, e := range events {
		t.fired.WithLabelValues(string(e.Status)).Inc()
	}
	return nil
}

// save writes a state, logging a failure: the next run writes it again.
func (t *term) save(ctx context.Context, st PollerState) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := t.store.SavePollerState(ctx, st); err != nil && ctx.Err() == nil {
		t.log.Warn("pollers: write a poller's state", "poller", st.Name, "err", err)
	}
}

// job is one scheduled poller: the cron.Job that runs it.
type job struct {
	term   *term
	poller Poller
	sched  cron.Schedule
	jitter time.Duration
	entry  cron.EntryID
	// ctx ends when the job leaves the schedule.
	ctx    context.Context
	cancel context.CancelFunc
	// busy is set from the time a run is due until it has ended.
	busy atomic.Bool
	// mu is held by a run while it checks and records, and by unschedule;
	// it guards state and retired.
	mu      sync.Mutex
	state   PollerState
	retired bool
}

// Run runs the poller once, unless its previous run is still going. It
// implements cron.Job, and is called on a goroutine of cron's, which
// cron.Stop waits for.
func (j *job) Run() {
	t := j.term
	if !j.busy.CompareAndSwap(false, true) {
		t.skipped.WithLabelValues(j.poller.Name).Inc()
		t.log.Warn("pollers: skipped a run: the previous one has not finished", "poller", j.poller.Name)
		return
	}
	defer j.busy.Store(false)
	if !sleep(j.ctx, j.jitter) {
		return
	}
	select {
	case t.slots <- struct{}{}:
		defer func() { <-t.slots }()
	case <-j.ctx.Done():
		return
	}
	j.run()
}

// run checks the poller, hands the events to the alert queue, and records
// the new state.
func (j *job) run() {
	t := j.term
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.retired {
		return
	}
	p := j.poller
	result := t.checker.Check(j.ctx, p)
	if j.ctx.Err() != nil {
		return // cancelled: the run does not count
	}
	t.checks.WithLabelValues(p.Name, string(result.Outcome)).Inc()
	t.duration.WithLabelValues(p.Name).Observe(time.Duration(result.Latency).Seconds())
	next, events := p.Observe(j.state, result)
	next.Node = t.node
	next.NextRunAt = j.next(time.Now())
	if len(events) > 0 {
		// Until the events are known to be committed, the state the store
		// holds must not lose an alert: one about to fire is saved as
		// firing first, so that whoever runs the poller next resolves it
		// in time, and one about to resolve stays firing, so that it is
		// resolved again. Either repeat is harmless to the alert queue.
		cautious := keepUnresolved(j.state, next, events)
		if firingGrew(j.state, cautious) {
			t.save(j.ctx, cautious)
		}
		if err := t.submit(j.ctx, events); err != nil {
			// The events may or may not be committed: the cautious state
			// covers both.
			j.state = cautious
			if j.ctx.Err() != nil {
				return
			}
			j.state.LastError = joinError(next.LastError, "alerts not stored: "+err.Error())
			t.log.Warn("pollers: hand a run's alerts to the alert queue; the next run tries again",
				"poller", p.Name, "events", len(events), "err", err)
			t.save(j.ctx, j.state)
			return
		}
		logEvents(t.log, p, result, events)
	}
	j.state = next
	t.save(j.ctx, next)
}

// firingGrew reports whether next has an alert firing that prev does not.
func firingGrew(prev, next PollerState) bool {
	firing := make(map[alerts.Fingerprint]bool, len(prev.Series))
	for _, s := range prev.Series {
		firing[s.Fingerprint] = s.Firing
	}
	for _, s := range next.Series {
		if s.Firing && !firing[s.Fingerprint] {
			return true
		}
	}
	return false
}

// next returns when the run after now is due, its jitter included. The
// schedule is read in UTC, as cron runs it.
func (j *job) next(now time.Time) time.Time {
	return j.sched.Next(now.UTC()).Add(j.jitter)
}

// keepUnresolved returns next with the alerts that events would have
// resolved put back as they were in prev, still firing, so that the next
// run resolves them again. Alerts that events fire need nothing: a firing
// alert is sent again at every failed run.
func keepUnresolved(prev, next PollerState, events []alerts.Event) PollerState {
	resolving := make(map[alerts.Fingerprint]bool)
	for _, e := range events {
		if e.Status == alerts.StatusResolved {
			resolving[e.Fingerprint] = true
		}
	}
	kept := next.Series[:0:0]
	for _, s := range next.Series {
		if !resolving[s.Fingerprint] {
			kept = append(kept, s)
		}
	}
	for _, s := range prev.Series {
		if resolving[s.Fingerprint] {
			kept = append(kept, s)
		}
	}
	next.Series = kept
	return next
}

// joinError joins two error texts.
func joinError(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// logEvents logs the alerts a run fired for the first time and resolved.
func logEvents(log *slog.Logger, p Poller, r CheckResult, events []alerts.Event) {
	for _, e := range events {
		log.Info("pollers: alert "+string(e.Status), "poller", p.Name, "fingerprint", e.Fingerprint.String(),
			"outcome", r.Outcome, "error", r.Error)
	}
}

// jitterOf returns the fixed delay of the poller named name after each
// scheduled time: spread by the name's hash over a tenth of its interval,
// at most maxJitter.
func jitterOf(name string, sched cron.Schedule) time.Duration {
	first := sched.Next(time.Now().UTC())
	window := min(sched.Next(first).Sub(first)/10, maxJitter)
	if window <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(window))
}

// sleep waits d, or until ctx ends; it reports whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// cronLogger writes cron's log lines to slog: its routine lines at debug.
type cronLogger struct{ log *slog.Logger }

// Info logs a routine line of cron's at debug level.
func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.log.Debug("cron: "+msg, keysAndValues...)
}

// Error logs an error of cron's.
func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, append(keysAndValues, "err", err)...)
}
