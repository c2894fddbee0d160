package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/tocsinhq/tocsin/internal/testdb"
)

// createPaths are the endpoints FuzzCreateBodies posts to.
var createPaths = []string{
	"/api/v1/users", "/api/v1/tokens", "/api/v1/teams", "/api/v1/routes", "/api/v1/silences", "/api/v1/sources",
	"/api/v1/pollers",
}

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
		`{"name":"db","members":[1]}`,
		`{"name":"db","members":[1,1,-1],"managed_by":"config"}`,
		`{"name":"r","matchers":["a=\"1\"","b=~\"x|y\""],"users":[1]}`,
		`{"name":"r","matchers":["a=>\"1\"","b!~\"(\""],"users":[1],"teams":[9]}`,
		`{"name":"r","matchers":[],"teams":[1],"enabled":false,"continue":true,"position":3}`,
		`{"name":"r","users":[1],"enabled":null,"position":-1}`,
		`{"matchers":["alertname=\"X\""],"ends_at":"2099-01-01T00:00:00Z","comment":"why"}`,
		`{"matchers":["a=~\".*\""],"starts_at":"2098-01-01T00:00:00Z","ends_at":"2099-01-01T00:00:00Z","comment":"x","state":"active"}`,
		`{"matchers":["a=\"1\""],"starts_at":"2099-01-01T00:00:00Z","ends_at":"2098-01-01T00:00:00Z","comment":"\u200b"}`,
		`{"matchers":["a=\"1\""],"ends_at":"soon","comment":"x"}`,
		`{"name":"am","kind":"alertmanager","auth":"bearer"}`,
		`{"name":"b","kind":"grafana","auth":"basic","username":"u:1","secret":"short"}`,
		`{"name":"g","kind":"generic","auth":"hmac","secret":"0123456789abcdef","mapping":{"labels":{"alertname":"title"},"status":"state","resolved_values":["ok"]}}`,
		`{"name":"g","kind":"generic","auth":"bearer","mapping":{"alerts":"a..b","labels_from":"x","labelz":{}}}`,
		`{"name":"p","kind":"http","schedule":"@every 30s","url":"http://x.example/","expect_status":["200","301-302"],"expect_json":{"path":"a.0","equals":"1"}}`,
		`{"name":"p","kind":"tcp","schedule":"*/5 * * * * *","address":"[::1]:5432","timeout":"-1s","fail_after":0,"status":{}}`,
		`{"name":"p","kind":"prometheus","schedule":"@every 0s","url":"http://p:9090","query":"up == 0","labels":{"poller":"x"},"max_latency":"1h"}`,
	} {
		for _, path := range createPaths {
			f.Add(path, seed)
		}
	}
	e := start(f, testdb.SQLite(f))
	f.Fuzz(func(t *testing.T, path, body string) {
		if !slices.Contains(createPaths, path) {
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
