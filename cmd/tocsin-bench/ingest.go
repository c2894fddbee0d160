package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The bounds of an ingest run.
const (
	maxAlertsPerRequest = 1000
	maxConcurrency      = 256
	maxIngestDuration   = 10 * time.Minute
	maxRequests         = 10_000_000
	// defaultIngestDuration is how long a run sends when neither
	// --duration nor --requests is given.
	defaultIngestDuration = 10 * time.Second
	// repeatPool is how many fingerprints the repeated alerts cycle
	// through: few enough that each is sent many times in a run, as a
	// storm of the same alerts from a few Alertmanagers would.
	repeatPool = 1000
	// maxBackoff caps how long a sender honours a 503's Retry-After.
	maxBackoff = time.Second
)

// ingestOptions are the flags of the ingest mode.
type ingestOptions struct {
	source, secret   string
	alertsPerRequest int
	concurrency      int
	duration         time.Duration
	requests         int
	newShare         float64
}

// ingestFlags defines the ingest mode's flags.
func ingestFlags(fs *flag.FlagSet) func(ctx context.Context, c common) (*result, error) {
	var o ingestOptions
	fs.StringVar(&o.source, "source", "", "an existing alertmanager source to post to, with --secret (default: create a source with a bearer secret)")
	fs.StringVar(&o.secret, "secret", "", "the bearer secret of --source")
	fs.IntVar(&o.alertsPerRequest, "alerts-per-request", 100, "alerts in each webhook request (1 to 1000; the server takes hooks.max_alerts)")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent senders, each with one request in flight on a keep-alive connection (1 to 256)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to send, at most 10m (default 10s, or 10m with --requests: every run ends in time)")
	fs.IntVar(&o.requests, "requests", 0, "stop after this many requests, 503s included, at most 10,000,000, or at --duration (10m unless given), whichever comes first")
	fs.Float64Var(&o.newShare, "new", 1, "share of alerts with a new fingerprint, 0 to 1; the others repeat a pool of 1,000 fingerprints, open after their first time")
	return func(ctx context.Context, c common) (*result, error) {
		if err := o.check(); err != nil {
			return nil, err
		}
		return runIngest(ctx, c, o)
	}
}

// check refuses options out of bounds, and fills in the default duration:
// every run has one, --requests or not, so that it ends in time.
func (o *ingestOptions) check() error {
	switch {
	case o.duration != 0:
	case o.requests == 0:
		o.duration = defaultIngestDuration
	default:
		o.duration = maxIngestDuration
	}
	switch {
	case (o.source == "") != (o.secret == ""):
		return fmt.Errorf("%w: give --source and --secret together, or neither", errUsage)
	case o.alertsPerRequest < 1 || o.alertsPerRequest > maxAlertsPerRequest:
		return fmt.Errorf("%w: --alerts-per-request must be from 1 to %d", errUsage, maxAlertsPerRequest)
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return fmt.Errorf("%w: --concurrency must be from 1 to %d", errUsage, maxConcurrency)
	case !(o.newShare >= 0 && o.newShare <= 1):
		return fmt.Errorf("%w: --new must be from 0 to 1", errUsage)
	}
	return bounds(o.duration, maxIngestDuration, o.requests, maxRequests)
}

// runIngest posts webhooks from o.concurrency senders until the duration
// passes or the requests are sent, or at the first answer that is neither
// 202 nor 503, and reports what the server accepted and how fast.
func runIngest(ctx context.Context, c common, o ingestOptions) (*result, error) {
	id := runID()
	if o.source == "" {
		api := newAPIClient(c)
		secret, err := api.createSource(ctx, id)
		api.close()
		if err != nil {
			return nil, fmt.Errorf("create a source: %w", err)
		}
		o.source, o.secret = id, secret
	}
	transport := loopbackTransport(o.concurrency)
	defer transport.CloseIdleConnections()
	in := &ingest{
		opts:     o,
		client:   loopbackClient(transport, 30*time.Second),
		url:      c.url + "/hooks/" + url.PathEscape(o.source),
		auth:     "Bearer " + o.secret,
		payloads: newPayloads(id, o.alertsPerRequest, o.newShare, time.Now()),
	}
	in.start = time.Now()
	in.deadline = in.start.Add(o.duration)
	stop := startProgress(ctx, c.stderr, in.progress)
	sets := make([]latencies, o.concurrency)
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() { sets[w] = in.send(ctx, w) })
	}
	wg.Wait()
	elapsed := time.Since(in.start)
	stop()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	return in.report(elapsed, sets), nil
}

// ingest is one run of the ingest mode: what its senders share.
type ingest struct {
	opts     ingestOptions
	client   *http.Client
	url      string // the source's webhook
	auth     string // its Authorization header
	payloads *payloads
	start    time.Time
	deadline time.Time // when the senders stop, --requests sent or not

	issued   atomic.Int64 // requests begun
	accepted atomic.Int64 // alerts in 202 answers
	ok       atomic.Int64 // 202 answers
	busy     atomic.Int64 // 503 answers
	invalid  atomic.Int64 // 400 answers
	other    atomic.Int64 // any other status
	broken   atomic.Int64 // requests that got no answer

	failOnce sync.Once
	failure  string // the first answer neither 202 nor 503
	failed   atomic.Bool
}

// send is one sender: it posts requests one at a time until the run ends,
// and returns the latency of each 202.
func (in *ingest) send(ctx context.Context, w int) latencies {
	var lat latencies
	gen := in.payloads.generator(w, in.opts.concurrency)
	var size int
	for in.next(ctx) {
		// A fresh body each time: the transport may still read the last
		// one after its answer came.
		body := gen.build(make([]byte, 0, size))
		size = len(body)
		begun := time.Now()
		status, retryAfter, err := in.post(ctx, body)
		took := time.Since(begun)
		switch {
		case ctx.Err() != nil:
			return lat
		case err != nil:
			in.broken.Add(1)
			in.fail(err.Error())
		case status == http.StatusAccepted:
			in.ok.Add(1)
			in.accepted.Add(int64(in.opts.alertsPerRequest))
			lat = append(lat, took)
		case status == http.StatusServiceUnavailable:
			in.busy.Add(1)
			in.backOff(ctx, retryAfter)
		}
	}
	return lat
}

// next reports whether a sender may begin another request, and counts it.
func (in *ingest) next(ctx context.Context) bool {
	if ctx.Err() != nil || in.failed.Load() || !time.Now().Before(in.deadline) {
		return false
	}
	n := in.issued.Add(1)
	return in.opts.requests == 0 || n <= int64(in.opts.requests)
}

// post sends one webhook and returns the answer's status and Retry-After.
// An answer other than 202 or 503 is counted and recorded as the run's
// failure here, with its body.
func (in *ingest) post(ctx context.Context, body []byte) (status int, retryAfter string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", in.auth)
	resp, err := in.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusServiceUnavailable:
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, "", err
		}
		return resp.StatusCode, resp.Header.Get("Retry-After"), nil
	case http.StatusBadRequest:
		in.invalid.Add(1)
	default:
		in.other.Add(1)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	in.fail(fmt.Sprintf("POST /hooks/%s: %s: %s", in.opts.source, resp.Status, bytes.TrimSpace(answer)))
	return resp.StatusCode, "", nil
}

// fail records the run's first failure and stops every sender.
func (in *ingest) fail(msg string) {
	in.failOnce.Do(func() { in.failure = msg })
	in.failed.Store(true)
}

// backOff waits as a 503's Retry-After asks, for at most maxBackoff (and
// 1s when it says nothing readable), and not past the run's end.
func (in *ingest) backOff(ctx context.Context, retryAfter string) {
	wait := maxBackoff
	if secs, err := strconv.Atoi(retryAfter); err == nil && secs >= 0 {
		wait = min(time.Duration(secs)*time.Second, maxBackoff)
	}
	wait = min(wait, time.Until(in.deadline))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// progress is the progress line: time so far, accepted alerts/s, 503s.
func (in *ingest) progress() string {
	elapsed := time.Since(in.start)
	return fmt.Sprintf("ingest %.0fs: %.0f alerts/s accepted, %d answered 503",
		elapsed.Seconds(), float64(in.accepted.Load())/elapsed.Seconds(), in.busy.Load())
}

// report turns the run's counts and latencies into its result.
func (in *ingest) report(elapsed time.Duration, sets []latencies) *result {
	r := &result{mode: "ingest"}
	secs := elapsed.Seconds()
	r.add("alerts_per_request", float64(in.opts.alertsPerRequest), "alerts")
	r.add("concurrency", float64(in.opts.concurrency), "senders")
	r.add("new_share", in.opts.newShare, "")
	r.add("duration_s", secs, "s")
	r.add("alerts_accepted", float64(in.accepted.Load()), "alerts")
	r.add("alerts_per_s", float64(in.accepted.Load())/secs, "alerts/s")
	r.add("requests_per_s", float64(in.ok.Load())/secs, "requests/s")
	addTo(r, "latency", sets...)
	r.add("responses_202", float64(in.ok.Load()), "requests")
	r.add("responses_503", float64(in.busy.Load()), "requests")
	r.add("responses_400", float64(in.invalid.Load()), "requests")
	r.add("responses_other", float64(in.other.Load()), "requests")
	r.add("transport_errors", float64(in.broken.Load()), "requests")
	if in.failed.Load() {
		r.problem("%s (the run stopped there)", in.failure)
	}
	return r
}

// payloads writes Alertmanager v4 webhook bodies from a template encoded
// once: from one alert to the next only the instance label changes, so a
// body costs a few appends instead of a JSON encoding.
type payloads struct {
	head      []byte // the body up to the first alert
	alertHead []byte // an alert up to its instance label's value
	alertTail []byte // the rest of the alert
	tail      []byte // the rest of the body
	perBody   int
	newPPM    int64 // new alerts per million
}

// newPayloads returns the bodies of run id: perBody alerts each, of which
// the share newShare are new. Every alert carries bench_run=id, so that
// no two runs share a fingerprint, and starts at start.
func newPayloads(id string, perBody int, newShare float64, start time.Time) *payloads {
	labels := `"alertname":"TocsinBench","bench_run":"` + id + `"`
	annotations := `{"summary":"load from tocsin-bench"}`
	return &payloads{
		head: []byte(`{"version":"4","groupKey":"{}:{alertname=\"TocsinBench\"}","truncatedAlerts":0,"status":"firing",` +
			`"receiver":"tocsin-bench","groupLabels":{"alertname":"TocsinBench"},"commonLabels":{` + labels + `},` +
			`"commonAnnotations":` + annotations + `,"externalURL":"http://tocsin-bench.invalid","alerts":[`),
		alertHead: []byte(`{"status":"firing","labels":{` + labels + `,"instance":"`),
		alertTail: []byte(`"},"annotations":` + annotations + `,"startsAt":"` + start.UTC().Format(time.RFC3339) +
			`","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://tocsin-bench.invalid/"}`),
		tail:    []byte(`]}`),
		perBody: perBody,
		newPPM:  int64(math.Round(newShare * 1e6)),
	}
}

// generator returns sender w's (of n) own source of bodies. Its new
// alerts are instance="n<w>.<k>", unique in the run; its repeats cycle
// through instance="r<k>" for k below repeatPool, each sender from its own
// place in the pool.
func (p *payloads) generator(w, n int) *generator {
	return &generator{p: p, sender: int64(w), repeat: int64(w * repeatPool / n)}
}

// generator writes one sender's bodies.
type generator struct {
	p      *payloads
	sender int64
	fresh  int64 // new alerts so far
	repeat int64 // the next repeat's place in the pool
	owed   int64 // millionths of a new alert carried over, for an exact share
}

// build appends a body of the next alerts to dst.
func (g *generator) build(dst []byte) []byte {
	dst = append(dst, g.p.head...)
	for i := range g.p.perBody {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, g.p.alertHead...)
		g.owed += g.p.newPPM
		if g.owed >= 1e6 {
			g.owed -= 1e6
			dst = append(dst, 'n')
			dst = strconv.AppendInt(dst, g.sender, 10)
			dst = append(dst, '.')
			dst = strconv.AppendInt(dst, g.fresh, 10)
			g.fresh++
		} else {
			dst = append(dst, 'r')
			dst = strconv.AppendInt(dst, g.repeat, 10)
			g.repeat = (g.repeat + 1) % repeatPool
		}
		dst = append(dst, g.p.alertTail...)
	}
	return append(dst, g.p.tail...)
}
