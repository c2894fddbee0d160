package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Bounds of the e2e mode.
const (
	e2eMaxUsers            = 1000
	e2eMaxConnsPerUser     = 10
	e2eMaxRate             = 100_000
	e2eMaxDuration         = 10 * time.Minute
	e2eMaxDrain            = 5 * time.Minute
	e2eMaxAlertsPerRequest = 1000 // the most a webhook request may carry by default
	e2eMaxConcurrency      = 1000
	// e2eMaxDeliveries bounds rate × duration × conns-per-user: the client
	// keeps 32 bytes per delivery.
	e2eMaxDeliveries = 20_000_000
	// e2eGrace is how long senders that fell behind may go on sending
	// after the duration.
	e2eGrace = time.Second
)

// e2eConfig is what the e2e mode's flags set.
type e2eConfig struct {
	users, connsPerUser int
	rate                int // alerts/s
	duration, drain     time.Duration
	perRequest          int // alerts per webhook request
	concurrency         int // senders
	source, secret      string
}

// e2eFlags defines the e2e mode: through the API it creates --users users,
// each with a token and a route that selects its alerts (bench_user="I",
// bench_run="RUN"), opens --conns-per-user WebSockets per user, then posts
// new alerts at --rate for --duration, round-robin over the users, and
// waits up to --drain for every notification to arrive.
//
// latency is, for each fired notification, its receive time (when the
// client has read the whole frame) less the alert's scheduled send time:
// when the pacing made its webhook request due, which the sender stamps in
// the annotation bench_sent_unix_nano; both are this machine's clock. It
// covers the request's transfer, parsing, queueing and commit, routing,
// the push and the frame's transfer, and also the client's own backlog: a
// request that waited for a free sender still carries its due time, so a
// server that answers slowly is not measured only at the pace it allowed
// (no coordinated omission).
//
// max_send_lag_ms is the longest a request waited past its due time for a
// free sender. alerts_unsent are the alerts of requests that came due but
// were never sent, because the senders fell behind and the run's time (the
// duration and a second's grace) ran out; above 2% of the alerts due they
// are a problem, since the run did not offer the --rate it names.
//
// deliveries_per_s is fired notifications received over the time from the
// first send to the last receive; alerts_sent_per_s is alerts answered 202
// over the sending window. Every connection must receive each of its
// user's accepted alerts once, in seq order: a loss, a duplicate, a seq
// out of order, a dropped connection or a failed webhook request is a
// problem, and makes the exit code 1. Alerts answered 503 are counted, and
// not expected.
func e2eFlags(fs *flag.FlagSet) func(ctx context.Context, c common) (*result, error) {
	var cfg e2eConfig
	fs.IntVar(&cfg.users, "users", 50, fmt.Sprintf("users to create, each with a route and its connections (1 to %d)", e2eMaxUsers))
	fs.IntVar(&cfg.connsPerUser, "conns-per-user", 2, fmt.Sprintf("WebSocket connections per user (1 to %d)", e2eMaxConnsPerUser))
	fs.IntVar(&cfg.rate, "rate", 1000, fmt.Sprintf("alerts per second to send (1 to %d)", e2eMaxRate))
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, fmt.Sprintf("how long to send (at most %s)", e2eMaxDuration))
	fs.DurationVar(&cfg.drain, "drain", 10*time.Second, fmt.Sprintf("how long to wait, after sending, for the last notifications (at most %s)", e2eMaxDrain))
	fs.IntVar(&cfg.perRequest, "alerts-per-request", 10, fmt.Sprintf("alerts per webhook request (1 to %d)", e2eMaxAlertsPerRequest))
	fs.IntVar(&cfg.concurrency, "concurrency", 8, fmt.Sprintf("concurrent webhook senders (1 to %d)", e2eMaxConcurrency))
	fs.StringVar(&cfg.source, "source", "", "an existing alertmanager source with bearer auth to post to (default: create one)")
	fs.StringVar(&cfg.secret, "secret", "", "the bearer secret of --source")
	return func(ctx context.Context, c common) (*result, error) {
		if err := cfg.check(); err != nil {
			return nil, err
		}
		return runE2E(ctx, c, cfg)
	}
}

// requests is how many webhook requests the run sends.
func (cfg e2eConfig) requests() int {
	return int(float64(cfg.rate)*cfg.duration.Seconds()) / cfg.perRequest
}

// check returns an errUsage error when a flag is out of its bounds.
func (cfg e2eConfig) check() error {
	var bad string
	switch {
	case cfg.users < 1 || cfg.users > e2eMaxUsers:
		bad = fmt.Sprintf("--users must be from 1 to %d", e2eMaxUsers)
	case cfg.connsPerUser < 1 || cfg.connsPerUser > e2eMaxConnsPerUser:
		bad = fmt.Sprintf("--conns-per-user must be from 1 to %d", e2eMaxConnsPerUser)
	case cfg.rate < 1 || cfg.rate > e2eMaxRate:
		bad = fmt.Sprintf("--rate must be from 1 to %d", e2eMaxRate)
	case cfg.duration <= 0 || cfg.duration > e2eMaxDuration:
		bad = fmt.Sprintf("--duration must be more than 0 and at most %s", e2eMaxDuration)
	case cfg.drain < 0 || cfg.drain > e2eMaxDrain:
		bad = fmt.Sprintf("--drain must be from 0 to %s", e2eMaxDrain)
	case cfg.perRequest < 1 || cfg.perRequest > e2eMaxAlertsPerRequest:
		bad = fmt.Sprintf("--alerts-per-request must be from 1 to %d", e2eMaxAlertsPerRequest)
	case cfg.concurrency < 1 || cfg.concurrency > e2eMaxConcurrency:
		bad = fmt.Sprintf("--concurrency must be from 1 to %d", e2eMaxConcurrency)
	case (cfg.source == "") != (cfg.secret == ""):
		bad = "--source and --secret go together"
	case float64(cfg.rate)*cfg.duration.Seconds()*float64(cfg.connsPerUser) > e2eMaxDeliveries:
		bad = fmt.Sprintf("--rate × --duration × --conns-per-user must be at most %d deliveries", e2eMaxDeliveries)
	case cfg.requests() == 0:
		bad = "--rate × --duration makes less than one request of --alerts-per-request"
	}
	if bad != "" {
		return fmt.Errorf("%w: %s", errUsage, bad)
	}
	return nil
}

// e2eUser is a user the run created, and its token.
type e2eUser struct {
	id    int64
	token string
}

// runE2E sets up the users, routes and connections, sends, drains and
// reports.
func runE2E(ctx context.Context, c common, cfg e2eConfig) (*result, error) {
	api := newAPIClient(c)
	defer api.close()
	run := runID()
	if cfg.source == "" {
		secret, err := api.createSource(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("create a source: %w", err)
		}
		cfg.source, cfg.secret = run, secret
	}
	users, err := createE2EUsers(ctx, api, run, cfg.users)
	if err != nil {
		return nil, err
	}
	if err := checkRouting(ctx, api, run, users); err != nil {
		return nil, err
	}
	fl, err := dialFleet(ctx, c.url, users, cfg.connsPerUser, int64(cfg.requests())*int64(cfg.perRequest))
	if err != nil {
		return nil, err
	}
	defer fl.stop()

	s := newE2ESender(c.url, run, cfg)
	stopProgress := startProgress(ctx, c.stderr, e2eProgress(s, fl))
	sent := s.run(ctx)
	drained := drain(ctx, fl, sent, cfg.drain)
	stopProgress()
	fl.stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e2eReport(cfg, s, sent, fl, drained), nil
}

// e2eProgress returns the progress line of a run: time since the start,
// alerts accepted per second so far, notifications received, and the
// longest latency since the line before.
func e2eProgress(s *e2eSender, fl *fleet) func() string {
	return func() string {
		elapsed := time.Since(s.start)
		var got, lag int64
		for _, c := range fl.conns {
			got += c.fired.Load()
			lag = max(lag, c.maxLag.Swap(0))
		}
		return fmt.Sprintf("e2e %3.0fs  sent %6.0f alerts/s  received %9d  max lag %5d ms",
			elapsed.Seconds(), float64(s.accepted.Load())/elapsed.Seconds(), got, lag/int64(time.Millisecond))
	}
}

// createE2EUsers creates n responders and a token each, several at a
// time, then a route per user that selects its alerts, one at a time:
// concurrent route creates can deadlock on MariaDB (each takes the next
// position) and fail with 500.
func createE2EUsers(ctx context.Context, api *apiClient, run string, n int) ([]e2eUser, error) {
	users := make([]e2eUser, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range users {
		g.Go(func() error {
			id, err := api.createUser(gctx, fmt.Sprintf("%s-u%d", run, i))
			if err != nil {
				return fmt.Errorf("create user %d: %w", i, err)
			}
			token, err := api.createToken(gctx, id)
			if err != nil {
				return fmt.Errorf("create a token for user %d: %w", i, err)
			}
			users[i] = e2eUser{id: id, token: token}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, u := range users {
		matchers := []string{fmt.Sprintf("bench_run=%q", run), fmt.Sprintf("bench_user=\"%d\"", i)}
		if err := api.createRoute(ctx, fmt.Sprintf("%s-u%d", run, i), matchers, []int64{u.id}); err != nil {
			return nil, fmt.Errorf("create the route of user %d: %w", i, err)
		}
	}
	return users, nil
}

// checkRouting asks the server whom the first user's alerts go to: a route
// placed before the run's (one without matchers, say) would take them.
func checkRouting(ctx context.Context, api *apiClient, run string, users []e2eUser) error {
	labels := map[string]string{"alertname": "TocsinBench", "bench_run": run, "bench_user": "0", "bench_seq": "0"}
	var out struct {
		Users []int64 `json:"users"`
	}
	if err := api.do(ctx, http.MethodPost, "/api/v1/routes/test", map[string]any{"labels": labels}, &out); err != nil {
		return fmt.Errorf("test the routes: %w", err)
	}
	if want := []int64{users[0].id}; !slices.Equal(out.Users, want) {
		return fmt.Errorf("the routes send the first user's alerts to users %v, not %v: does an earlier route catch them?", out.Users, want)
	}
	return nil
}

// drain waits until every connection has received each of its user's
// accepted alerts, or has ended, or for at most timeout, and returns how
// long it waited. Only the accepted alerts count: those of uncertain
// requests may never come, and when they do they must not stand in for
// an accepted one still on its way.
func drain(ctx context.Context, fl *fleet, sent sentAlerts, timeout time.Duration) time.Duration {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	next := fl.firstAlerts()
	for !fl.received(sent, next) {
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-deadline.C:
			return time.Since(start)
		case <-tick.C:
		}
	}
	return time.Since(start)
}

// e2eReport makes the result of a run: its figures, and its problems.
func e2eReport(cfg e2eConfig, s *e2eSender, sent sentAlerts, fl *fleet, drained time.Duration) *result {
	r := &result{mode: "e2e"}
	want := sent.acceptedPerUser()
	unsent, due := sent.unsent(), sent.total()
	var got, others, expected int64
	var last time.Time
	logs := make([]connLog, len(fl.conns))
	sets := make([]latencies, len(fl.conns))
	for i, c := range fl.conns {
		got += c.fired.Load()
		others += int64(c.others)
		expected += want[c.user]
		if c.lastRecv.After(last) {
			last = c.lastRecv
		}
		logs[i] = connLog{user: c.user, index: c.index, hello: c.hello, records: c.records}
		sets[i] = c.lat
	}
	window := s.end.Sub(s.start).Seconds()
	deliveryWindow := last.Sub(s.start).Seconds()
	r.add("users", float64(cfg.users), "users")
	r.add("connections", float64(len(fl.conns)), "conns")
	r.add("rate_target", float64(cfg.rate), "alerts/s")
	r.add("alerts_sent", float64(s.accepted.Load()), "alerts")
	r.add("alerts_503", float64(s.unavailable.Load()), "alerts")
	r.add("alerts_unsent", float64(unsent), "alerts")
	r.add("max_send_lag_ms", float64(s.maxSendLag())/float64(time.Millisecond), "ms")
	r.add("alerts_sent_per_s", perSecond(float64(s.accepted.Load()), window), "alerts/s")
	r.add("deliveries", float64(got), "notifications")
	r.add("deliveries_expected", float64(expected), "notifications")
	r.add("deliveries_per_s", perSecond(float64(got), deliveryWindow), "notifications/s")
	r.add("other_notifications", float64(others), "notifications")
	r.add("drain_ms", float64(drained)/float64(time.Millisecond), "ms")
	addTo(r, "latency", sets...)

	if unsent*100 > due*2 {
		r.problem("the senders fell behind: %d of %d alerts were not sent; raise --concurrency or lower --rate", unsent, due)
	}
	for _, c := range fl.conns {
		if c.err != nil {
			r.problem("user %d conn %d: %v", c.user, c.index, c.err)
		}
	}
	if n, first := s.failures(); n > 0 {
		r.problem("%d webhook requests failed (the first: %s)", n, first)
	}
	found := checkDeliveries(logs, sent)
	r.add("completeness_problems", float64(found.total), "problems")
	for _, p := range found.shown {
		r.problem("%s", p)
	}
	if more := found.total - len(found.shown); more > 0 {
		r.problem("and %d more completeness problems", more)
	}
	return r
}

// perSecond is n over seconds, or 0 for an empty window.
func perSecond(n, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return n / seconds
}

// outcome is what became of a webhook request, and so of its alerts.
type outcome uint8

// The outcomes of a request.
const (
	notSent   outcome = iota // the run stopped before its turn
	dropped                  // due, but not sent: the senders fell behind, and the run's time ran out
	accepted                 // answered 2xx: committed
	refused                  // answered 503, 3xx or 4xx: not taken
	uncertain                // no answer, or another 5xx: maybe taken
)

// sentAlerts is what became of the alerts a run sent: alert n (its
// bench_seq label) went to user n % users, in request n / perRequest.
type sentAlerts struct {
	users, perRequest int
	outcomes          []outcome // by request
}

// total is how many alerts the run meant to send.
func (s sentAlerts) total() int64 { return int64(len(s.outcomes)) * int64(s.perRequest) }

// outcome is what became of alert n.
func (s sentAlerts) outcome(n int64) outcome { return s.outcomes[n/int64(s.perRequest)] }

// unsent is how many alerts were dropped: due, but not sent in time.
func (s sentAlerts) unsent() int64 {
	var n int64
	for _, o := range s.outcomes {
		if o == dropped {
			n += int64(s.perRequest)
		}
	}
	return n
}

// acceptedPerUser is how many alerts were accepted for each user.
func (s sentAlerts) acceptedPerUser() []int64 {
	n := make([]int64, s.users)
	for a := range s.total() {
		if s.outcome(a) == accepted {
			n[a%int64(s.users)]++
		}
	}
	return n
}

// e2eSender posts the run's webhook requests on a schedule: request k is
// due at start + k × perRequest / rate, and is taken by the next free
// sender, at once when it is late. Requests still unsent e2eGrace after
// the end of the duration are dropped.
type e2eSender struct {
	hook, secret, runLabel string // runLabel is the bench_run label
	cfg                    e2eConfig
	client                 *http.Client
	transport              *http.Transport
	start, end             time.Time // end is set when run returns

	outcomes    []outcome // by request; each written by the sender that took it
	next        atomic.Int64
	accepted    atomic.Int64  // alerts answered 2xx
	unavailable atomic.Int64  // alerts answered 503
	tallies     []senderTally // one per sender
	halt        context.CancelFunc
}

// senderTally is what one sender counts: its failed requests, and how
// late it sent.
type senderTally struct {
	n      int    // failed requests
	first  string // what the first failure got
	maxLag time.Duration
}

// newE2ESender returns the sender of a run starting now.
func newE2ESender(base, run string, cfg e2eConfig) *e2eSender {
	t := loopbackTransport(cfg.concurrency)
	return &e2eSender{
		hook:      base + "/hooks/" + url.PathEscape(cfg.source),
		secret:    cfg.secret,
		runLabel:  run,
		cfg:       cfg,
		client:    loopbackClient(t, 30*time.Second),
		transport: t,
		start:     time.Now(),
		outcomes:  make([]outcome, cfg.requests()),
		tallies:   make([]senderTally, cfg.concurrency),
	}
}

// run sends every request, until ctx ends or a request is answered 3xx or
// 4xx, and returns what became of the alerts.
func (s *e2eSender) run(ctx context.Context) sentAlerts {
	ctx, s.halt = context.WithCancel(ctx)
	defer s.halt()
	var wg sync.WaitGroup
	for i := range s.cfg.concurrency {
		wg.Go(func() { s.send(ctx, &s.tallies[i]) })
	}
	wg.Wait()
	s.end = time.Now()
	s.transport.CloseIdleConnections()
	return sentAlerts{users: s.cfg.users, perRequest: s.cfg.perRequest, outcomes: s.outcomes}
}

// send is one sender: it takes the next request, waits for its time, and
// posts it, stamped with its due time. Once the run's time is up it drops
// the requests it takes instead, to the last.
func (s *e2eSender) send(ctx context.Context, tally *senderTally) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var size int
	for {
		k := s.next.Add(1) - 1
		if k >= int64(len(s.outcomes)) {
			return
		}
		if time.Since(s.start) >= s.cfg.duration+e2eGrace {
			s.outcomes[k] = dropped // the run is bounded in time
			continue
		}
		first := k * int64(s.cfg.perRequest)
		due := s.start.Add(time.Duration(first * int64(time.Second) / int64(s.cfg.rate)))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		tally.maxLag = max(tally.maxLag, time.Since(due))
		// A fresh body each time: the transport may still read the last
		// one after its answer came.
		body := appendWebhook(make([]byte, 0, size), s.runLabel, first, s.cfg.perRequest, s.cfg.users, due.UnixNano())
		size = len(body)
		s.outcomes[k] = s.post(ctx, body, tally)
	}
}

// post sends one webhook request and says what became of it.
func (s *e2eSender) post(ctx context.Context, body []byte, tally *senderTally) outcome {
	fail := func(what string) {
		if tally.n == 0 {
			tally.first = what
		}
		tally.n++
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.hook, bytes.NewReader(body))
	if err != nil {
		fail(err.Error())
		return notSent
	}
	req.Header.Set("Authorization", "Bearer "+s.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil { // not the run's end cutting it short
			fail(err.Error())
		}
		return uncertain
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code/100 == 2:
		s.accepted.Add(int64(s.cfg.perRequest))
		return accepted
	case code == http.StatusServiceUnavailable:
		s.unavailable.Add(int64(s.cfg.perRequest))
		return refused
	case code/100 == 3 || code/100 == 4: // the bench's fault, or the secret's: no point going on
		fail(resp.Status + ": " + string(bytes.TrimSpace(answer)))
		s.halt()
		return refused
	default:
		fail(resp.Status + ": " + string(bytes.TrimSpace(answer)))
		return uncertain
	}
}

// failures is how many requests failed, and what the first one got.
func (s *e2eSender) failures() (n int, first string) {
	for _, t := range s.tallies {
		if n == 0 {
			first = t.first
		}
		n += t.n
	}
	return n, first
}

// maxSendLag is the longest a sent request waited past its due time.
func (s *e2eSender) maxSendLag() time.Duration {
	var lag time.Duration
	for _, t := range s.tallies {
		lag = max(lag, t.maxLag)
	}
	return lag
}

// appendWebhook appends an Alertmanager v4 webhook of count new alerts,
// first to first+count-1, to b: alert n has the labels bench_run=run,
// bench_user=n%users and bench_seq=n, and the annotation
// bench_sent_unix_nano=sent (the request's due time).
func appendWebhook(b []byte, run string, first int64, count, users int, sent int64) []byte {
	b = append(b, `{"version":"4","status":"firing","receiver":"tocsin-bench","alerts":[`...)
	for n := first; n < first+int64(count); n++ {
		if n > first {
			b = append(b, ',')
		}
		b = append(b, `{"status":"firing","labels":{"alertname":"TocsinBench","bench_run":"`...)
		b = append(b, run...) // runID makes [a-z0-9-] only: nothing to escape
		b = append(b, `","bench_user":"`...)
		b = strconv.AppendInt(b, n%int64(users), 10)
		b = append(b, `","bench_seq":"`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `"},"annotations":{"bench_sent_unix_nano":"`...)
		b = strconv.AppendInt(b, sent, 10)
		b = append(b, `"}}`...)
	}
	return append(b, "]}"...)
}
