package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
)

func TestHealthAndReadiness(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.do("GET", "/healthz", "", nil).decode(t, http.StatusOK, nil)
		var ready struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		e.do("GET", "/readyz", "", nil).decode(t, http.StatusOK, &ready)
		if ready.Status != "ready" || ready.Checks["store"] != "ok" {
			t.Errorf("readyz %+v", ready)
		}

		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		got := e.do("GET", "/readyz", "", nil).wantError(t, http.StatusServiceUnavailable, "unavailable", "")
		if !strings.Contains(got.Error.Message, "store") {
			t.Errorf("readyz message %q does not say the store is the reason", got.Error.Message)
		}
		e.do("GET", "/healthz", "", nil).decode(t, http.StatusOK, nil)
		e.do("GET", "/api/v1/users", e.admin, nil).wantError(t, http.StatusInternalServerError, "internal", "")
	})
}

func TestMetrics(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.do("GET", "/api/v1/users/1", e.admin, nil).decode(t, http.StatusOK, nil)
		e.do("GET", "/nowhere", "", nil).wantError(t, 404, "not_found", "")
		r := e.do("GET", "/metrics", "", nil)
		r.decode(t, http.StatusOK, nil)
		for _, want := range []string{
			`tocsin_http_requests_total{code="200",method="GET",route="/api/v1/users/:id"} 1`,
			`tocsin_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
			`tocsin_http_request_duration_seconds_bucket{method="GET",route="/api/v1/users/:id",le="+Inf"} 1`,
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func TestProbesAnswerHEAD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := e.do("HEAD", path, "", nil); r.status != http.StatusOK || len(r.body) != 0 {
				t.Errorf("HEAD %s: status %d with %d body bytes, want 200 and none", path, r.status, len(r.body))
			}
		}
	})
}

func TestRequestLog(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do("GET", "/api/v1/users/1", e.admin, nil, "X-Request-Id", "abc-123", "X-Real-IP", "203.0.113.9")
		if got := r.header.Get("X-Request-Id"); got != "abc-123" {
			t.Errorf("X-Request-Id %q, want the client's abc-123 back", got)
		}
		line := testlog.WaitFor(t, e.log, regexp.MustCompile(`level=DEBUG msg=request method=GET path=/api/v1/users/1 status=200 latency=\S+ request_id=abc-123 remote_ip=(\S+)`), nil)
		if line[1] != "127.0.0.1" {
			t.Errorf("remote_ip %s, want the peer 127.0.0.1, not a forged header", line[1])
		}

		// A client's error is news at info level.
		e.do("GET", "/nowhere", "", nil).wantError(t, 404, "not_found", "")
		testlog.WaitFor(t, e.log, regexp.MustCompile(`level=INFO msg=request method=GET path=/nowhere status=404 `), nil)

		long := strings.Repeat("x", 500)
		r = e.do("GET", "/healthz", "", nil, "X-Request-Id", long+` level=ERROR msg="forged"`)
		id := r.header.Get("X-Request-Id")
		if id == "" || strings.Contains(id, "forged") || len(id) > 64 {
			t.Errorf("a malformed client request ID came back as %q, want one of tocsin's own", id)
		}
		testlog.WaitFor(t, e.log, regexp.MustCompile(`path=/healthz status=200 latency=\S+ request_id=`+regexp.QuoteMeta(id)+` `), nil)
	})
}

func TestMetricsBoundMethods(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		for i := range 20 {
			e.do("XMETH"+itoa(int64(i)), "/healthz", "", nil)
		}
		r := e.do("GET", "/metrics", "", nil)
		if strings.Contains(string(r.body), "XMETH") {
			t.Fatal("made-up methods became metric labels")
		}
		if !strings.Contains(string(r.body), `tocsin_http_requests_total{code="405",method="other",route="/healthz"} 20`) {
			t.Errorf("made-up methods not counted under method=\"other\":\n%s", r.body)
		}
	})
}

func TestPprofOnlyForAdminsInDebug(t *testing.T) {
	debug := start(t, testdb.SQLite(t), func(o *api.Options) { o.Debug = true })
	_, responder := debug.newResponder("rudi")
	debug.do("GET", "/debug/pprof/", debug.admin, nil).decode(t, http.StatusOK, nil)
	debug.do("GET", "/debug/pprof/cmdline", debug.admin, nil).decode(t, http.StatusOK, nil)
	debug.do("GET", "/debug/pprof/", responder, nil).wantError(t, 403, "forbidden", "")
	debug.do("GET", "/debug/pprof/", "", nil).wantError(t, 401, "unauthorized", "")

	plain := start(t, testdb.SQLite(t))
	plain.do("GET", "/debug/pprof/", plain.admin, nil).wantError(t, 404, "not_found", "")
}
