package sources_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// newChecker returns a Checker whose idle connections close when the test
// ends.
func newChecker(t *testing.T) *sources.Checker {
	t.Helper()
	c := sources.NewChecker(sources.CheckerOptions{})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// validPoller fills in p's schedule, streaks and timeout (1s unless set)
// and validates it, as the API does before a poller is stored.
func validPoller(t *testing.T, p sources.Poller) sources.Poller {
	t.Helper()
	if p.Name == "" {
		p.Name = "check"
	}
	p.Schedule, p.FailAfter, p.RecoverAfter = "@every 30s", 1, 1
	if p.Timeout == 0 {
		p.Timeout = sources.Duration(time.Second)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate %+v: %v", p, err)
	}
	return p
}

// startTarget starts an HTTP server whose handlers the tests check against,
// quiet about the TLS handshakes it refuses; tlsServer makes it HTTPS with
// httptest's certificate, which no system trusts.
func startTarget(t *testing.T, tlsServer bool) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello world") })
	mux.HandleFunc("/503", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status":"ok","ratio":1.50,"checks":[{"name":"db","healthy":true,"count":3,"note":null}]}`)
	})
	mux.HandleFunc("/degraded", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status":"degraded"}`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		// 1 MiB of "a", then what the tests look for past the cap.
		io.WriteString(w, strings.Repeat("a", 1<<20)+"needle")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s %s", r.Method, r.UserAgent(), r.Header.Get("X-Test"), r.Host, body)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// closedPort returns an address on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// checkResult compares a result's outcome, error and status with the
// expected ones.
func checkResult(t *testing.T, got sources.CheckResult, outcome sources.Outcome, errText string, status int) {
	t.Helper()
	if got.Outcome != outcome || got.Error != errText || got.StatusCode != status {
		t.Errorf("result %s %q status %d, want %s %q status %d", got.Outcome, got.Error, got.StatusCode, outcome, errText, status)
	}
	if got.At.IsZero() {
		t.Error("result has no At")
	}
	if got.Latency <= 0 {
		t.Errorf("latency %v, want more than 0", time.Duration(got.Latency))
	}
}

func TestCheckHTTP(t *testing.T) {
	srv := startTarget(t, false)
	c := newChecker(t)
	jsonIs := func(path, equals string) *sources.JSONExpectation {
		return &sources.JSONExpectation{Path: path, Equals: equals}
	}
	tests := []struct {
		name   string
		poller sources.Poller
		// outcome, err and status are the result's.
		outcome sources.Outcome
		err     string
		status  int
	}{
		{name: "ok", poller: sources.Poller{URL: "/ok"}, outcome: sources.OutcomeSuccess, status: 200},
		{name: "503", poller: sources.Poller{URL: "/503"}, outcome: sources.OutcomeFailure, err: "status 503, want 200-299", status: 503},
		{
			name: "503 expected", poller: sources.Poller{URL: "/503", ExpectStatus: []sources.StatusRange{{Min: 500, Max: 599}}},
			outcome: sources.OutcomeSuccess, status: 503,
		},
		{
			name: "404 not in a list", poller: sources.Poller{URL: "/404", ExpectStatus: []sources.StatusRange{{Min: 200, Max: 200}, {Min: 204, Max: 204}, {Min: 301, Max: 302}}},
			outcome: sources.OutcomeFailure, err: "status 404, want 200, 204, 301-302", status: 404,
		},
		{name: "redirect not followed", poller: sources.Poller{URL: "/moved"}, outcome: sources.OutcomeFailure, err: "status 302, want 200-299", status: 302},
		{
			name: "redirect expected", poller: sources.Poller{URL: "/moved", ExpectStatus: []sources.StatusRange{{Min: 302, Max: 302}}},
			outcome: sources.OutcomeSuccess, status: 302,
		},
		{name: "body matches", poller: sources.Poller{URL: "/ok", ExpectBody: `hel+o\s+w`}, outcome: sources.OutcomeSuccess, status: 200},
		{name: "body does not match", poller: sources.Poller{URL: "/ok", ExpectBody: `^bye`}, outcome: sources.OutcomeFailure, err: "body does not match expect_body", status: 200},
		{name: "status before body", poller: sources.Poller{URL: "/503", ExpectBody: `^bye`}, outcome: sources.OutcomeFailure, err: "status 503, want 200-299", status: 503},
		{name: "json string", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("status", "ok")}, outcome: sources.OutcomeSuccess, status: 200},
		{
			name: "json string differs", poller: sources.Poller{URL: "/degraded", ExpectJSON: jsonIs("status", "ok")},
			outcome: sources.OutcomeFailure, err: `expect_json: status is not "ok"`, status: 200,
		},
		{name: "json array index, boolean", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0.healthy", "true")}, outcome: sources.OutcomeSuccess, status: 200},
		{name: "json number", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0.count", "3")}, outcome: sources.OutcomeSuccess, status: 200},
		{name: "json number as written", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("ratio", "1.50")}, outcome: sources.OutcomeSuccess, status: 200},
		{name: "json null", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0.note", "null")}, outcome: sources.OutcomeSuccess, status: 200},
		{
			name: "json number differs", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0.count", "4")},
			outcome: sources.OutcomeFailure, err: `expect_json: checks.0.count is not "4"`, status: 200,
		},
		{
			name: "json index out of range", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.1.name", "db")},
			outcome: sources.OutcomeFailure, err: "expect_json: checks.1.name is missing", status: 200,
		},
		{
			name: "json missing null", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0.absent", "null")},
			outcome: sources.OutcomeFailure, err: "expect_json: checks.0.absent is missing", status: 200,
		},
		{
			name: "json object", poller: sources.Poller{URL: "/health", ExpectJSON: jsonIs("checks.0", "db")},
			outcome: sources.OutcomeFailure, err: `expect_json: checks.0 is an object, want "db"`, status: 200,
		},
		{
			name: "json not JSON", poller: sources.Poller{URL: "/ok", ExpectJSON: jsonIs("status", "ok")},
			outcome: sources.OutcomeFailure, err: "expect_json: the body is not JSON", status: 200,
		},
		{name: "latency under", poller: sources.Poller{URL: "/slow", MaxLatency: sources.Duration(time.Second), Timeout: sources.Duration(2 * time.Second)}, outcome: sources.OutcomeSuccess, status: 200},
		{
			name: "latency above", poller: sources.Poller{URL: "/slow", MaxLatency: sources.Duration(100 * time.Millisecond)},
			outcome: sources.OutcomeFailure, err: "latency above 100ms", status: 200,
		},
		{name: "timeout", poller: sources.Poller{URL: "/hang", Timeout: sources.Duration(200 * time.Millisecond)}, outcome: sources.OutcomeFailure, err: "timed out after 200ms"},
		{
			name: "timeout reading the body", poller: sources.Poller{URL: "/slow-body", Timeout: sources.Duration(200 * time.Millisecond), ExpectJSON: jsonIs("status", "ok")},
			outcome: sources.OutcomeFailure, err: "timed out after 200ms reading the body", status: 200,
		},
		{name: "body past the cap not matched", poller: sources.Poller{URL: "/big", ExpectBody: "needle"}, outcome: sources.OutcomeFailure, err: "body does not match expect_body (in its first 1 MiB)", status: 200},
		{name: "body cap matched", poller: sources.Poller{URL: "/big", ExpectBody: `^a+$`}, outcome: sources.OutcomeSuccess, status: 200},
		{
			name: "json past the cap", poller: sources.Poller{URL: "/big", ExpectJSON: jsonIs("status", "ok")},
			outcome: sources.OutcomeFailure, err: "expect_json: the body is over 1 MiB: not read whole", status: 200,
		},
		{
			name: "request", outcome: sources.OutcomeSuccess, status: 200,
			poller: sources.Poller{
				URL: "/echo", Method: http.MethodPost, Body: "ping", Headers: map[string]string{"X-Test": "yes", "Host": "example.test"},
				ExpectBody: `^POST tocsin-poller/1 yes example\.test ping$`,
			},
		},
		{
			name: "user agent set", outcome: sources.OutcomeSuccess, status: 200,
			poller: sources.Poller{URL: "/echo", Headers: map[string]string{"User-Agent": "probe/2"}, ExpectBody: `^GET probe/2 `},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.poller
			p.Kind, p.URL = sources.PollerHTTP, srv.URL+p.URL
			got := c.Check(t.Context(), validPoller(t, p))
			checkResult(t, got, tt.outcome, tt.err, tt.status)
		})
	}
}

func TestCheckHTTPLatency(t *testing.T) {
	srv := startTarget(t, false)
	c := newChecker(t)
	p := validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL + "/slow"})
	got := c.Check(t.Context(), p)
	if d := time.Duration(got.Latency); d < 300*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("latency %v, want the handler's 300ms and a little", d)
	}
	// A timeout's latency is the timeout.
	p = validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL + "/hang", Timeout: sources.Duration(200 * time.Millisecond)})
	got = c.Check(t.Context(), p)
	if d := time.Duration(got.Latency); d < 200*time.Millisecond || d > 800*time.Millisecond {
		t.Errorf("latency of a timeout %v, want 200ms and a little", d)
	}
}

func TestCheckHTTPUnreachable(t *testing.T) {
	c := newChecker(t)
	p := validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: "http://" + closedPort(t) + "/"})
	first := c.Check(t.Context(), p)
	checkResult(t, first, sources.OutcomeFailure, "connection refused", 0)
	// Failures repeat their text, so that a firing alert's error stays put.
	if again := c.Check(t.Context(), p); again.Error != first.Error {
		t.Errorf("second error %q, first %q", again.Error, first.Error)
	}
}

func TestCheckHTTPStableTimeout(t *testing.T) {
	srv := startTarget(t, false)
	c := newChecker(t)
	p := validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL + "/hang", Timeout: sources.Duration(100 * time.Millisecond)})
	var texts []string
	for range 3 {
		texts = append(texts, c.Check(t.Context(), p).Error)
	}
	for _, text := range texts {
		if text != "timed out after 100ms" {
			t.Errorf("errors %q, want each to be %q", texts, "timed out after 100ms")
		}
	}
}

func TestCheckHTTPTLS(t *testing.T) {
	srv := startTarget(t, true)
	c := newChecker(t)
	p := validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL + "/ok"})
	checkResult(t, c.Check(t.Context(), p), sources.OutcomeFailure, "TLS: certificate signed by an unknown authority", 0)

	p.TLSSkipVerify = true
	checkResult(t, c.Check(t.Context(), p), sources.OutcomeSuccess, "", 200)

	// A plain HTTP server does not speak TLS.
	plain := startTarget(t, false)
	p.URL = "https" + strings.TrimPrefix(plain.URL, "http") + "/ok"
	checkResult(t, c.Check(t.Context(), p), sources.OutcomeFailure, "http: server gave HTTP response to HTTPS client", 0)

	// Nor does an SSH server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	served.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n")
		io.Copy(io.Discard, conn)
	})
	defer func() {
		ln.Close()
		served.Wait()
	}()
	p.URL = "https://" + ln.Addr().String() + "/"
	checkResult(t, c.Check(t.Context(), p), sources.OutcomeFailure, "TLS: the server did not answer in TLS", 0)
}

func TestCheckHTTPReusesConnections(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// More than a read buffer, none of it read by the check, of a
		// length the response says.
		w.Header().Set("Content-Length", strconv.Itoa(16<<10))
		io.WriteString(w, strings.Repeat("x", 16<<10))
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newChecker(t)
	for _, p := range []sources.Poller{
		{Kind: sources.PollerHTTP, URL: srv.URL},
		{Kind: sources.PollerHTTP, URL: srv.URL, ExpectBody: "x+"},
		{Kind: sources.PollerHTTP, URL: srv.URL, ExpectStatus: []sources.StatusRange{{Min: 500, Max: 500}}},
		{Kind: sources.PollerHTTP, URL: srv.URL},
	} {
		if r := c.Check(t.Context(), validPoller(t, p)); r.StatusCode != 200 {
			t.Fatalf("check: %+v", r)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 4 checks in a row, want 1", n)
	}
}

// A body of unknown length that never ends is not waited for once the
// check knows its outcome.
func TestCheckHTTPDoesNotWaitForAStream(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newChecker(t)
	began := time.Now()
	r := c.Check(t.Context(), validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL, Timeout: sources.Duration(5 * time.Second)}))
	if r.Outcome != sources.OutcomeSuccess {
		t.Fatalf("check of a stream: %+v", r)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the check took %s: it waited for the stream to end", took)
	}
}

func TestCheckCanceled(t *testing.T) {
	srv := startTarget(t, false)
	c := newChecker(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	p := validPoller(t, sources.Poller{Kind: sources.PollerHTTP, URL: srv.URL + "/hang"})
	checkResult(t, c.Check(ctx, p), sources.OutcomeError, "canceled", 0)
}

func TestCheckBroken(t *testing.T) {
	c := sources.NewChecker(sources.CheckerOptions{Now: func() time.Time { return now }})
	defer c.CloseIdleConnections()
	for _, p := range []sources.Poller{
		{Name: "unknown", Kind: "ftp"},
		{Name: "no url", Kind: sources.PollerHTTP, URL: "::"},
		{Name: "bad regex", Kind: sources.PollerHTTP, URL: "http://127.0.0.1:1/", ExpectBody: "("},
		{Name: "no port", Kind: sources.PollerTCP, Address: "127.0.0.1"},
		{Name: "no prometheus", Kind: sources.PollerPrometheus, URL: "prometheus:9090", Query: "up"},
	} {
		r := c.Check(t.Context(), p)
		if r.Outcome != sources.OutcomeError || r.Error == "" || !r.At.Equal(now) {
			t.Errorf("%s: %+v, want an OutcomeError at %v", p.Name, r, now)
		}
	}
}

func TestCheckPanic(t *testing.T) {
	var logs strings.Builder
	c := sources.NewChecker(sources.CheckerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer c.CloseIdleConnections()
	// A nil context makes the check panic.
	var ctx context.Context
	r := c.Check(ctx, sources.Poller{Name: "web", Kind: sources.PollerTCP, Address: "127.0.0.1:1"})
	if r.Outcome != sources.OutcomeError || r.Error != "internal error: the check panicked" || r.At.IsZero() {
		t.Errorf("result %+v, want an OutcomeError", r)
	}
	if !strings.Contains(logs.String(), "poller check panicked") || !strings.Contains(logs.String(), "poller=web") {
		t.Errorf("log %q does not tell of the panic", logs.String())
	}
}

func TestCheckTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted sync.WaitGroup
	accepted.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	})
	defer func() {
		ln.Close()
		accepted.Wait()
	}()
	c := newChecker(t)
	up := validPoller(t, sources.Poller{Kind: sources.PollerTCP, Address: ln.Addr().String()})
	checkResult(t, c.Check(t.Context(), up), sources.OutcomeSuccess, "", 0)
	down := validPoller(t, sources.Poller{Kind: sources.PollerTCP, Address: closedPort(t)})
	checkResult(t, c.Check(t.Context(), down), sources.OutcomeFailure, "connection refused", 0)
}

// promVector writes the answer of a query that returns series with the
// given labels.
func promVector(series ...string) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i, s := range series {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"metric":%s,"value":[1764000000.5,"1"]}`, s)
	}
	b.WriteString(`]},"warnings":["ignored"]}`)
	return b.String()
}

// fakePrometheus is a Prometheus HTTP API whose answers the test sets by
// query.
type fakePrometheus struct {
	*httptest.Server
	mu sync.Mutex
	// answers are the status and body answered to each query.
	answers map[string]promAnswer
	// requests are the method, path and query of each request.
	requests []string
}

// promAnswer is what the fake Prometheus answers.
type promAnswer struct {
	status int
	body   string
}

// startPrometheus starts a fake Prometheus API under /prom/.
func startPrometheus(t *testing.T) *fakePrometheus {
	t.Helper()
	fp := &fakePrometheus{answers: make(map[string]promAnswer)}
	fp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query := r.FormValue("query")
		fp.mu.Lock()
		fp.requests = append(fp.requests, r.Method+" "+r.URL.Path+" "+r.URL.Query().Get("tenant")+" "+r.Header.Get("Content-Type"))
		a, ok := fp.answers[query]
		fp.mu.Unlock()
		if r.URL.Path != "/prom/api/v1/query" || !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(fp.Close)
	return fp
}

// answer sets the answer to query.
func (fp *fakePrometheus) answer(query string, status int, body string) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.answers[query] = promAnswer{status: status, body: body}
}

// lastRequest returns the method, path, tenant parameter and content type
// of the last request.
func (fp *fakePrometheus) lastRequest() string {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.requests) == 0 {
		return ""
	}
	return fp.requests[len(fp.requests)-1]
}

func TestCheckPrometheus(t *testing.T) {
	fp := startPrometheus(t)
	many := make([]string, sources.MaxPrometheusSeries+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"instance":"host-%d"}`, i)
	}
	longQuery := "up{job=~\"" + strings.Repeat("a|", 1500) + "b\"} == 0"
	fp.answer(`up == 0`, 200, promVector(`{"__name__":"up","job":"api","instance":"a:9100"}`, `{"__name__":"up","job":"api","instance":"b:9100","empty":""}`))
	fp.answer(`vector(1)`, 200, promVector(`{}`))
	fp.answer(`absent(up)`, 200, promVector())
	fp.answer(`up ==`, 400, `{"status":"error","errorType":"bad_data","error":"1:6: parse error: unexpected end of input"}`)
	fp.answer(`slow_query`, 503, `{"status":"error","errorType":"timeout","error":"query timed out in query execution"}`)
	fp.answer(`garbage`, 200, `<html>not JSON</html>`)
	fp.answer(`proxied`, 502, `<html>Bad Gateway</html>`)
	fp.answer(`many`, 200, promVector(many...))
	fp.answer(`scalar(up)`, 200, `{"status":"success","data":{"resultType":"scalar","result":[1764000000.5,"1"]}}`)
	fp.answer(`bad_label`, 200, promVector(`{"bad-name":"x"}`))
	fp.answer(`huge`, 200, promVector(`{"pad":"`+strings.Repeat("x", 8<<20)+`"}`))
	fp.answer(longQuery, 200, promVector())

	c := newChecker(t)
	tests := []struct {
		query   string
		outcome sources.Outcome
		err     string
		status  int
		series  []alerts.Labels
	}{
		{
			query: "up == 0", outcome: sources.OutcomeFailure, status: 200,
			series: []alerts.Labels{{"__name__": "up", "job": "api", "instance": "a:9100"}, {"__name__": "up", "job": "api", "instance": "b:9100"}},
		},
		{query: "vector(1)", outcome: sources.OutcomeFailure, status: 200, series: []alerts.Labels{{}}},
		{query: "absent(up)", outcome: sources.OutcomeSuccess, status: 200},
		{query: "up ==", outcome: sources.OutcomeError, err: "prometheus: bad_data: 1:6: parse error: unexpected end of input", status: 400},
		{query: "slow_query", outcome: sources.OutcomeError, err: "prometheus: timeout: query timed out in query execution", status: 503},
		{
			query: "garbage", outcome: sources.OutcomeError, status: 200,
			err: "the answer is not a Prometheus query result: want a JSON object",
		},
		{query: "proxied", outcome: sources.OutcomeError, err: "status 502, want 200-299", status: 502},
		{query: "many", outcome: sources.OutcomeError, err: "the query returned more than 1000 series", status: 200},
		{query: "scalar(up)", outcome: sources.OutcomeError, err: "the query returns a scalar, want an instant vector (such as up == 0)", status: 200},
		{
			query: "bad_label", outcome: sources.OutcomeError, status: 200,
			err: `the answer is not a Prometheus query result: /data/result/0/metric: "bad-name" is not a valid label name`,
		},
		{query: "huge", outcome: sources.OutcomeError, err: "the answer is over 8 MiB", status: 200},
		{query: "unknown", outcome: sources.OutcomeError, err: "status 404, want 200-299", status: 404},
		{query: longQuery, outcome: sources.OutcomeSuccess, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 20)], func(t *testing.T) {
			p := validPoller(t, sources.Poller{Kind: sources.PollerPrometheus, URL: fp.URL + "/prom/", Query: tt.query})
			got := c.Check(t.Context(), p)
			checkResult(t, got, tt.outcome, tt.err, tt.status)
			if len(got.Series) != len(tt.series) {
				t.Fatalf("series %v, want %v", got.Series, tt.series)
			}
			for i := range tt.series {
				if !maps.Equal(got.Series[i], tt.series[i]) {
					t.Errorf("series %d: %v, want %v", i, got.Series[i], tt.series[i])
				}
			}
		})
	}
}

func TestCheckPrometheusRequest(t *testing.T) {
	fp := startPrometheus(t)
	short := "up == 0"
	long := "up{job=~\"" + strings.Repeat("a|", 1500) + "b\"} == 0"
	fp.answer(short, 200, promVector())
	fp.answer(long, 200, promVector())
	c := newChecker(t)
	for _, tt := range []struct{ query, want string }{
		// The base URL's own parameters are kept.
		{short, "GET /prom/api/v1/query team-a "},
		{long, "POST /prom/api/v1/query team-a application/x-www-form-urlencoded"},
	} {
		p := validPoller(t, sources.Poller{Kind: sources.PollerPrometheus, URL: fp.URL + "/prom?tenant=team-a", Query: tt.query})
		if r := c.Check(t.Context(), p); r.Outcome != sources.OutcomeSuccess {
			t.Errorf("query of %d bytes: %+v", len(tt.query), r)
		}
		if got := fp.lastRequest(); got != tt.want {
			t.Errorf("query of %d bytes: request %q, want %q", len(tt.query), got, tt.want)
		}
	}
}

func TestCheckPrometheusUnreachable(t *testing.T) {
	c := newChecker(t)
	p := validPoller(t, sources.Poller{Kind: sources.PollerPrometheus, URL: "http://" + closedPort(t), Query: "up == 0"})
	checkResult(t, c.Check(t.Context(), p), sources.OutcomeError, "connection refused", 0)
}

func TestParsePrometheusAnswer(t *testing.T) {
	tests := []struct {
		name, body string
		// want are the series; err, when set, the error instead.
		want []alerts.Labels
		err  string
	}{
		{name: "empty vector", body: promVector(), want: []alerts.Labels{}},
		{name: "series", body: promVector(`{"job":"api"}`, `{"job":"db","env":""}`), want: []alerts.Labels{{"job": "api"}, {"job": "db"}}},
		{
			name: "native histogram",
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"histogram":[1764000000,{"count":"3","sum":"1.5","buckets":[]}]}]}}`,
			want: []alerts.Labels{{"job": "api"}},
		},
		{name: "special values", body: strings.Replace(promVector(`{}`), `"1"]`, `"NaN"]`, 1), want: []alerts.Labels{{}}},
		{name: "error", body: `{"status":"error","errorType":"execution","error":"many-to-many\nmatching not allowed"}`, err: "prometheus: execution: many-to-many matching not allowed"},
		{name: "error without words", body: `{"status":"error"}`, err: "prometheus: the query failed, and the answer does not say why"},
		{name: "array", body: `[]`, err: "the answer is not a Prometheus query result: want a JSON object"},
		{name: "trailing data", body: promVector() + "{}", err: "the answer is not a Prometheus query result: malformed JSON at byte 86: invalid character '{' after top-level value"},
		{name: "truncated", body: promVector()[:40], err: "the answer is not a Prometheus query result: malformed JSON at byte 40: unexpected EOF"},
		{name: "unknown status", body: `{"status":"partial"}`, err: `the answer is not a Prometheus query result: status "partial", want "success" or "error"`},
		{name: "status not a string", body: `{"status":1}`, err: "the answer is not a Prometheus query result: want a string at /status, got a number"},
		{name: "no data", body: `{"status":"success"}`, err: "the answer is not a Prometheus query result: no data"},
		{name: "matrix", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, err: "the query returns a matrix, want an instant vector (such as up == 0)"},
		{name: "unknown result type", body: `{"status":"success","data":{"resultType":"table","result":[]}}`, err: `the answer is not a Prometheus query result: resultType "table", want "vector"`},
		{name: "result null", body: `{"status":"success","data":{"resultType":"vector","result":null}}`, err: "the answer is not a Prometheus query result: /data/result: not an array"},
		{name: "series not an object", body: `{"status":"success","data":{"resultType":"vector","result":[1]}}`, err: "the answer is not a Prometheus query result: want an object at /data/result/0, got a number"},
		{name: "no metric", body: `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]}]}}`, err: "the answer is not a Prometheus query result: /data/result/0: no metric"},
		{
			name: "no value", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}`,
			err: "the answer is not a Prometheus query result: /data/result/0: want one of value and histogram",
		},
		{name: "label value a number", body: promVector(`{"job":1}`), err: "the answer is not a Prometheus query result: want a string at /data/result/0/metric/job, got a number"},
		{name: "label value null", body: promVector(`{"job":null}`), err: `the answer is not a Prometheus query result: /data/result/0/metric: label "job" is null`},
		{name: "duplicate label", body: promVector(`{"job":"a","job":"b"}`), err: "the answer is not a Prometheus query result: malformed JSON at byte 81: duplicate object member name"},
		{name: "invalid UTF-8", body: promVector("{\"job\":\"\xff\"}"), err: "the answer is not a Prometheus query result: malformed JSON at byte 78: invalid UTF-8"},
		{
			name: "value and histogram", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"],"histogram":[1,{}]}]}}`,
			err: "the answer is not a Prometheus query result: /data/result/0: want one of value and histogram",
		},
		{
			name: "value not a number", body: strings.Replace(promVector(`{}`), `"1"]`, `"one"]`, 1),
			err: `the answer is not a Prometheus query result: /data/result/0: value must be [time, "number"]`,
		},
		{
			name: "value of one", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["1"]}]}}`,
			err: `the answer is not a Prometheus query result: /data/result/0: value must be [time, "number"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sources.ParsePrometheusAnswer([]byte(tt.body))
			if tt.err != "" || tt.want == nil {
				if err == nil || err.Error() != tt.err || got != nil {
					t.Fatalf("got %v, error %v; want the error %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range tt.want {
				if !maps.Equal(got[i], tt.want[i]) {
					t.Errorf("series %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParsePrometheusQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		series, err := sources.ParsePrometheusAnswer(body)
		if err != nil {
			if series != nil {
				t.Fatalf("%d series with error %v", len(series), err)
			}
			if len(err.Error()) > 512 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if len(series) > sources.MaxPrometheusSeries {
			t.Fatalf("%d series, over the limit of %d", len(series), sources.MaxPrometheusSeries)
		}
		for i, ls := range series {
			if err := ls.Validate("series"); err != nil {
				t.Fatalf("series %d: %v", i, err)
			}
			for name, value := range ls {
				if value == "" {
					t.Fatalf("series %d: label %q is empty", i, name)
				}
			}
		}
	})
}
