package api_test

import (
	"net/http"
	"strings"
	"testing"
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
