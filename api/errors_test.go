package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestErrorShape checks that every kind of error answers in the JSON error
// shape, with its status, code and field, and changes nothing.
func TestErrorShape(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		_, responder := e.newResponder("rex")
		big := `{"name":"` + strings.Repeat("x", maxBody) + `","role":"responder"}`
		tests := []struct {
			name         string
			method, path string
			token        string
			body         any
			header       []string
			status       int
			code, field  string
		}{
			{"malformed JSON", "POST", "/api/v1/users", e.admin, `{"name": "a",`, nil, 400, "invalid", ""},
			{"not JSON", "POST", "/api/v1/users", e.admin, `name=a`, nil, 400, "invalid", ""},
			{"empty body", "POST", "/api/v1/users", e.admin, ``, nil, 400, "invalid", ""},
			{"two objects", "POST", "/api/v1/users", e.admin, `{"name":"a","role":"admin"}{}`, nil, 400, "invalid", ""},
			{"unknown field", "POST", "/api/v1/users", e.admin, `{"name":"a","rol":"admin"}`, nil, 400, "invalid", "rol"},
			{"field in another case", "POST", "/api/v1/users", e.admin, `{"NAME":"casey","role":"responder"}`, nil, 400, "invalid", "NAME"},
			{"same field twice", "POST", "/api/v1/users", e.admin, `{"name":"bob","role":"admin","role":"responder"}`, nil, 400, "invalid", "role"},
			{"shadowing field", "POST", "/api/v1/users", e.admin, `{"name":"bob","Name":"eve","role":"responder"}`, nil, 400, "invalid", "Name"},
			{"invalid UTF-8", "POST", "/api/v1/tokens", e.admin, "{\"name\":\"bad\xff\xfe\"}", nil, 400, "invalid", "name"},
			{"number out of range", "PUT", "/api/v1/users/1", e.admin, `{"name":"admin","role":"admin","version":1e99}`, nil, 400, "invalid", "version"},
			{"negative version", "PUT", "/api/v1/users/1", e.admin, `{"name":"admin","role":"admin","version":-1}`, nil, 400, "invalid", "version"},
			{"weak If-Match", "DELETE", "/api/v1/users/1", e.admin, nil, []string{"If-Match", `W/"1"`}, 400, "invalid", "If-Match"},
			{"JSON null", "POST", "/api/v1/users", e.admin, `null`, nil, 400, "invalid", ""},
			{"wrong type", "POST", "/api/v1/users", e.admin, `{"name":7,"role":"admin"}`, nil, 400, "invalid", "name"},
			{"bad role", "POST", "/api/v1/users", e.admin, `{"name":"a","role":"boss"}`, nil, 400, "invalid", "role"},
			{"bad name", "POST", "/api/v1/users", e.admin, `{"name":"Has Space","role":"admin"}`, nil, 400, "invalid", "name"},
			{"bad id", "GET", "/api/v1/users/abc", e.admin, nil, nil, 400, "invalid", "id"},
			{"bad limit", "GET", "/api/v1/users?limit=1001", e.admin, nil, nil, 400, "invalid", "limit"},
			{"bad cursor", "GET", "/api/v1/users?cursor=zzz", e.admin, nil, nil, 400, "invalid", "cursor"},
			{"bad If-Match", "DELETE", "/api/v1/users/1", e.admin, nil, []string{"If-Match", `"x"`}, 400, "invalid", "If-Match"},
			{"missing version", "PUT", "/api/v1/users/1", e.admin, `{"name":"admin","role":"admin"}`, nil, 400, "invalid", "version"},
			{"no token", "GET", "/api/v1/users", "", nil, nil, 401, "unauthorized", ""},
			{"responder lists users", "GET", "/api/v1/users", responder, nil, nil, 403, "forbidden", ""},
			{"responder reads admin", "GET", "/api/v1/users/1", responder, nil, nil, 403, "forbidden", ""},
			{"responder reads audit", "GET", "/api/v1/audit", responder, nil, nil, 403, "forbidden", ""},
			{"unknown route", "GET", "/api/v1/nothing", e.admin, nil, nil, 404, "not_found", ""},
			{"unknown path outside api", "GET", "/nothing", "", nil, nil, 404, "not_found", ""},
			{"unknown user", "GET", "/api/v1/users/999", e.admin, nil, nil, 404, "not_found", ""},
			{"unknown token", "DELETE", "/api/v1/tokens/999", e.admin, nil, nil, 404, "not_found", ""},
			{"wrong method", "PATCH", "/api/v1/users", e.admin, nil, nil, 405, "method_not_allowed", ""},
			{"wrong method on health", "POST", "/healthz", "", nil, nil, 405, "method_not_allowed", ""},
			{"made-up method", "BREW", "/api/v1/users", e.admin, nil, nil, 405, "method_not_allowed", ""},
			{"stale version", "PUT", "/api/v1/users/1", e.admin, `{"name":"admin","role":"admin","version":9}`, nil, 409, "conflict", "version"},
			{"duplicate name", "POST", "/api/v1/users", e.admin, `{"name":"rex","role":"admin"}`, nil, 409, "conflict", "name"},
			{"last admin", "DELETE", "/api/v1/users/1", e.admin, nil, nil, 409, "conflict", ""},
			{"body over the limit", "POST", "/api/v1/users", e.admin, big, nil, 413, "body_too_large", ""},
			{"wrong content type", "POST", "/api/v1/users", e.admin, `{}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.auditCount()
				e.do(tt.method, tt.path, tt.token, tt.body, tt.header...).wantError(t, tt.status, tt.code, tt.field)
				if after := e.auditCount(); after != before {
					t.Errorf("audit rows went from %d to %d: a refused request changed something", before, after)
				}
			})
		}
	})
}

// TestBodyLimitChunked checks the limit holds for a body sent without a
// Content-Length, which the server only learns the size of by reading.
func TestBodyLimitChunked(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		body := io.MultiReader(strings.NewReader(`{"name":"`), bytes.NewReader(bytes.Repeat([]byte("x"), 2*maxBody)), strings.NewReader(`"}`))
		req, err := http.NewRequest("POST", e.url+"/api/v1/users", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if len(resp.TransferEncoding) == 0 && req.TransferEncoding == nil && resp.Request.ContentLength != -1 {
			t.Fatal("request was not sent chunked")
		}
		b, _ := io.ReadAll(resp.Body)
		response{status: resp.StatusCode, header: resp.Header, body: b}.wantError(t, 413, "body_too_large", "")
	})
}

// auditCount is the number of audit rows, read through the store.
func (e *env) auditCount() int {
	e.t.Helper()
	n := 0
	cursor := int64(0)
	for {
		entries, err := e.store.AuditLog(t_ctx(), pageAfter(cursor))
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(entries)
		if len(entries) < 1000 {
			return n
		}
		cursor = entries[len(entries)-1].ID
	}
}
