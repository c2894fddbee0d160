package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tocsinhq/tocsin/internal/testdb"
)

// FuzzCreateBodies posts arbitrary bodies to the endpoints that create
// objects. Whatever the body, the answer is a 201 with the object or a 4xx in
// the JSON error shape: never a 500, never a panic.
func FuzzCreateBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"alice","role":"responder"}`,
		`{"name":"bob","role":"admin","version":3,"id":9}`,
		`{"name":"laptop","expires_at":"2099-01-01T00:00:00Z"}`,
		`{"name":"x","expires_at":null,"user_id":1}`,
		`{"name":"\u0000","role":"responder"}`,
		`{"name":1e999}`,
		`[]`,
		`{"name":"a"}{}`,
		``,
	} {
		f.Add("/api/v1/users", seed)
		f.Add("/api/v1/tokens", seed)
	}
	e := start(f, testdb.SQLite(f))
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/api/v1/users" && path != "/api/v1/tokens" {
			t.Skip()
		}
		e.t = t
		r := e.do("POST", path, e.admin, body)
		switch {
		case r.status == http.StatusCreated:
			var obj map[string]any
			if err := json.Unmarshal(r.body, &obj); err != nil || obj["id"] == nil {
				t.Fatalf("201 with body %s, want an object with an id", r.body)
			}
		case r.status >= 400 && r.status < 500:
			var shape apiError
			if err := json.Unmarshal(r.body, &shape); err != nil || shape.Error.Code == "" || shape.Error.Message == "" {
				t.Fatalf("%d with body %s, want the JSON error shape", r.status, r.body)
			}
		default:
			t.Fatalf("POST %s %q: status %d, body %s", path, body, r.status, r.body)
		}
	})
}
