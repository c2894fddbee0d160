package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
)

// samples are the sender payloads that the sources package's tests keep.
const samples = "../sources/testdata/"

// readSample returns a sample payload.
func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(samples + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// alert is an alert as the API shows it.
type alert struct {
	ID          int64             `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Source      string            `json:"source"`
	Silenced    bool              `json:"silenced"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      *time.Time        `json:"ends_at"`
	Count       int64             `json:"count"`
	AckedBy     string            `json:"acked_by"`
	ResolvedBy  string            `json:"resolved_by"`
	History     []struct {
		Kind  string `json:"kind"`
		Actor string `json:"actor"`
	} `json:"history"`
}

// historyKinds lists the kinds of an alert's history entries.
func (a alert) historyKinds() []string {
	var ks []string
	for _, h := range a.History {
		ks = append(ks, h.Kind)
	}
	return ks
}

// notification is an inbox row as the API shows it.
type notification struct {
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
	Alert alert  `json:"alert"`
}

// newSource creates a source as the admin from the fields in body and
// returns it with its secret.
func (e *env) newSource(body map[string]any) source {
	e.t.Helper()
	var s source
	e.do("POST", "/api/v1/sources", e.admin, body).decode(e.t, http.StatusCreated, &s)
	if s.Secret == "" {
		s.Secret, _ = body["secret"].(string)
	}
	return s
}

// newBearerSource creates a bearer source of kind named name.
func (e *env) newBearerSource(name, kind string) source {
	return e.newSource(map[string]any{"name": name, "kind": kind, "auth": "bearer"})
}

// post sends a webhook body to path with the source's bearer token.
func (e *env) post(path string, src source, body []byte) response {
	e.t.Helper()
	return e.do("POST", path, src.Secret, body)
}

// alerts lists alerts as the admin with the query (such as "state=firing").
func (e *env) alerts(query string) []alert {
	e.t.Helper()
	var page list[alert]
	e.do("GET", "/api/v1/alerts?limit=1000&"+query, e.admin, nil).decode(e.t, http.StatusOK, &page)
	return page.Items
}

// alert reads one alert with its history.
func (e *env) alert(id int64) alert {
	e.t.Helper()
	var a alert
	e.do("GET", fmt.Sprintf("/api/v1/alerts/%d", id), e.admin, nil).decode(e.t, http.StatusOK, &a)
	return a
}

// inbox reads the whole inbox of the token's user.
func (e *env) inbox(token string) []notification {
	e.t.Helper()
	var page list[notification]
	e.do("GET", "/api/v1/inbox?limit=1000", token, nil).decode(e.t, http.StatusOK, &page)
	return page.Items
}

// amPayload is an Alertmanager webhook payload of firing (or resolved)
// alerts, one per label set.
func amPayload(status string, labelSets ...map[string]string) []byte {
	type amAlert struct {
		Status   string            `json:"status"`
		Labels   map[string]string `json:"labels"`
		StartsAt string            `json:"startsAt"`
		EndsAt   string            `json:"endsAt"`
	}
	p := struct {
		Version string    `json:"version"`
		Status  string    `json:"status"`
		Alerts  []amAlert `json:"alerts"`
	}{Version: "4", Status: status}
	now := time.Now().UTC()
	for _, ls := range labelSets {
		a := amAlert{Status: status, Labels: ls, StartsAt: now.Add(-time.Hour).Format(time.RFC3339), EndsAt: "0001-01-01T00:00:00Z"}
		if status == "resolved" {
			a.EndsAt = now.Add(-time.Minute).Format(time.RFC3339)
		}
		p.Alerts = append(p.Alerts, a)
	}
	b, _ := json.Marshal(p)
	return b
}

// Every kind of source takes its sender's payload, authenticated its way,
// and the alerts show up once each, with the fingerprints Alertmanager
// computes and their history.
func TestHookSamples(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am := e.newBearerSource("prod-am", "alertmanager")
		e.post("/hooks/prod-am", am, readSample(t, "alertmanager-firing.json")).decode(t, http.StatusAccepted, nil)

		grafana := e.newSource(map[string]any{"name": "grafana", "kind": "grafana", "auth": "hmac",
			"signature_header": "X-Grafana-Alerting-Signature"})
		body := readSample(t, "grafana-firing.json")
		mac := hmac.New(sha256.New, []byte(grafana.Secret))
		mac.Write(body)
		e.do("POST", "/hooks/grafana", "", body, "X-Grafana-Alerting-Signature", hex.EncodeToString(mac.Sum(nil))).
			decode(t, http.StatusAccepted, nil)

		prom := e.newSource(map[string]any{"name": "prom", "kind": "prometheus", "auth": "basic", "username": "prometheus"})
		// Prometheus sends a firing alert with an end a few intervals ahead.
		promBody := fmt.Sprintf(`[{"labels": {"alertname": "TargetDown", "job": "node"}, "annotations": {"summary": "down"},
			"startsAt": %q, "endsAt": %q, "generatorURL": "http://prom/graph"}]`,
			time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(4*time.Minute).Format(time.RFC3339))
		req, _ := http.NewRequest("POST", e.url+"/hooks/prom/api/v2/alerts", strings.NewReader(promBody))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("prometheus", prom.Secret)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("prometheus POST: status %d, want 202", resp.StatusCode)
		}

		e.newSource(map[string]any{"name": "checks", "kind": "generic", "auth": "bearer", "secret": "generic-secret-0123456789",
			"mapping": map[string]any{"labels": map[string]string{"alertname": "check", "host": "host"},
				"annotations": map[string]string{"detail": "detail"}, "status": "status", "resolved_values": []string{"OK"}}})
		e.post("/hooks/checks", source{Secret: "generic-secret-0123456789"}, readSample(t, "generic-example.json")).
			decode(t, http.StatusAccepted, nil)

		want := map[string]string{ // fingerprint -> source, from the samples
			"a9ce9ad06e7063dc": "prod-am",
			"c93e85b97cc8bb25": "prod-am",
			"cb0d6eca879cb131": "grafana",
		}
		got := e.alerts("")
		if len(got) != 5 {
			t.Fatalf("got %d alerts, want 5: %+v", len(got), got)
		}
		bySource := map[string]int{}
		for _, a := range got {
			bySource[a.Source]++
			if src, ok := want[a.Fingerprint]; ok && src != a.Source {
				t.Errorf("alert %s from %q, want %q", a.Fingerprint, a.Source, src)
			}
			delete(want, a.Fingerprint)
			if a.State != "firing" || a.Count != 1 {
				t.Errorf("alert %+v, want firing once", a)
			}
			full := e.alert(a.ID)
			if k := full.historyKinds(); len(k) != 1 || k[0] != "fired" || full.History[0].Actor != "source:"+a.Source {
				t.Errorf("alert %d history %+v, want fired by source:%s", a.ID, full.History, a.Source)
			}
		}
		if len(want) > 0 {
			t.Errorf("fingerprints not found: %v", want)
		}
		if bySource["prom"] != 1 || bySource["checks"] != 1 {
			t.Errorf("alerts by source %v, want one each from prom and checks", bySource)
		}
	})
}

// An alert fires, repeats, resolves and fires again: one alert per
// incident, counted, with its history.
func TestHookLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am := e.newBearerSource("am", "alertmanager")
		e.post("/hooks/am", am, readSample(t, "alertmanager-firing.json")).decode(t, http.StatusAccepted, nil)
		e.post("/hooks/am", am, readSample(t, "alertmanager-firing.json")).decode(t, http.StatusAccepted, nil)
		firing := e.alerts("state=firing")
		if len(firing) != 2 || firing[0].Count != 2 || firing[1].Count != 2 {
			t.Fatalf("after a repeat: %+v, want 2 firing alerts counted twice", firing)
		}
		e.post("/hooks/am", am, readSample(t, "alertmanager-resolved.json")).decode(t, http.StatusAccepted, nil)
		resolved := e.alerts("state=resolved")
		if len(resolved) != 1 || resolved[0].Fingerprint != "a9ce9ad06e7063dc" || resolved[0].EndsAt == nil {
			t.Fatalf("resolved alerts %+v, want a9ce9ad06e7063dc with an end", resolved)
		}
		if k := e.alert(resolved[0].ID).historyKinds(); strings.Join(k, ",") != "fired,resolved" {
			t.Errorf("history %v, want fired,resolved", k)
		}
		// The same resolve again is for no open alert: accepted, ignored.
		e.post("/hooks/am", am, readSample(t, "alertmanager-resolved.json")).decode(t, http.StatusAccepted, nil)
		// Firing again opens a new incident; the old one stays resolved.
		e.post("/hooks/am", am, readSample(t, "alertmanager-firing.json")).decode(t, http.StatusAccepted, nil)
		all := e.alerts("filter=" + url.QueryEscape(`instance="checkout-7f9c:8080"`))
		if len(all) != 2 || all[0].State != "firing" || all[1].State != "resolved" || all[0].ID <= all[1].ID {
			t.Fatalf("alerts of the re-fired labels %+v, want a new firing one above the resolved one", all)
		}
		if all[0].Count != 1 {
			t.Errorf("new incident counted %d, want 1", all[0].Count)
		}
	})
}

// The same alerts from both members of an Alertmanager HA pair, each its
// own source, are one alert each.
func TestHookHAPair(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		a, b := e.newBearerSource("am-a", "alertmanager"), e.newBearerSource("am-b", "alertmanager")
		body := readSample(t, "alertmanager-firing.json")
		e.post("/hooks/am-a", a, body).decode(t, http.StatusAccepted, nil)
		e.post("/hooks/am-b", b, body).decode(t, http.StatusAccepted, nil)
		got := e.alerts("")
		if len(got) != 2 {
			t.Fatalf("got %d alerts, want 2", len(got))
		}
		for _, al := range got {
			if al.Count != 2 || al.Source != "am-a" {
				t.Errorf("alert %+v, want opened by am-a and counted twice", al)
			}
		}
	})
}

// Many senders posting the same alert at once leave exactly one open alert,
// that counts every post.
func TestHookConcurrentSameFingerprint(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am := e.newBearerSource("am", "alertmanager")
		body := amPayload("firing", map[string]string{"alertname": "Storm", "shard": "1"}, map[string]string{"alertname": "Storm", "shard": "2"})
		const senders, posts = 16, 5
		var wg sync.WaitGroup
		statuses := make(chan int, senders*posts)
		for range senders {
			wg.Go(func() {
				for range posts {
					r := e.do("POST", "/hooks/am", am.Secret, body)
					statuses <- r.status
				}
			})
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != http.StatusAccepted {
				t.Errorf("a post got %d, want 202", s)
			}
		}
		got := e.alerts("")
		if len(got) != 2 {
			t.Fatalf("got %d alerts, want exactly 2: %+v", len(got), got)
		}
		for _, a := range got {
			if a.State != "firing" || a.Count != senders*posts {
				t.Errorf("alert %+v, want one firing alert counted %d times", a, senders*posts)
			}
		}
	})
}

// Bad webhooks get the right status and field, and store nothing.
func TestHookRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		e := startWith(t, target, startOptions{api: func(opts *api.Options) { opts.MaxAlertsPerRequest = 10 }})
		am := e.newBearerSource("am", "alertmanager")
		good := readSample(t, "alertmanager-firing.json")
		tooMany := make([]map[string]string, 11)
		for i := range tooMany {
			tooMany[i] = map[string]string{"alertname": "Many", "i": fmt.Sprint(i)}
		}
		tests := []struct {
			name   string
			path   string
			token  string
			body   []byte
			header []string
			status int
			code   string
			field  string
		}{
			{"unknown source", "/hooks/nope", am.Secret, good, nil, 401, "unauthorized", ""},
			{"bad source name", "/hooks/NOPE!", am.Secret, good, nil, 401, "unauthorized", ""},
			{"no token", "/hooks/am", "", good, []string{"Content-Type", "application/json"}, 401, "unauthorized", ""},
			{"wrong token", "/hooks/am", "not-the-token-0123456789", good, nil, 401, "unauthorized", ""},
			{"wrong content type", "/hooks/am", am.Secret, good, []string{"Content-Type", "text/plain"}, 400, "invalid", "Content-Type"},
			{"malformed JSON", "/hooks/am", am.Secret, []byte(`{"alerts": [`), nil, 400, "invalid", ""},
			{"no labels", "/hooks/am", am.Secret, []byte(`{"alerts": [{"status": "firing", "labels": {}}]}`), nil, 400, "invalid", "alerts[0].labels"},
			{"bad label name", "/hooks/am", am.Secret, amPayload("firing", map[string]string{"alert-name": "x"}), nil, 400, "invalid", `alerts[0].labels["alert-name"]`},
			{"absurd time", "/hooks/am", am.Secret, []byte(`{"alerts": [{"status": "firing", "labels": {"a": "b"}, "startsAt": "1970-01-01T00:00:00Z"}]}`), nil, 400, "invalid", "alerts[0].startsAt"},
			{"too many alerts", "/hooks/am", am.Secret, amPayload("firing", tooMany...), nil, 400, "invalid", "alerts"},
			{"too large", "/hooks/am", am.Secret, bytes.Repeat([]byte(" "), maxBody+1), nil, 413, "body_too_large", ""},
			{"prometheus path of an alertmanager source", "/hooks/am/api/v2/alerts", am.Secret, []byte(`[]`), nil, 404, "not_found", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", tt.path, tt.token, tt.body, tt.header...).wantError(t, tt.status, tt.code, tt.field)
			})
		}
		if got := e.alerts(""); len(got) != 0 {
			t.Errorf("refused webhooks stored %d alerts", len(got))
		}
	})
}

// Sources are kept for a few seconds after a webhook reads them; a change
// made through this node's API takes effect on its webhooks at once.
func TestHookSourceChangesTakeEffectAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		e := startWith(t, target, startOptions{})
		am := e.newBearerSource("am", "alertmanager")
		body := readSample(t, "alertmanager-firing.json")
		if r := e.post("/hooks/am", am, body); r.status != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", r.status, r.body)
		}

		var stored map[string]any
		e.do("GET", fmt.Sprintf("/api/v1/sources/%d", am.ID), e.admin, nil).decode(t, http.StatusOK, &stored)
		stored["secret"] = "a-new-secret-0123456789"
		if r := e.do("PUT", fmt.Sprintf("/api/v1/sources/%d", am.ID), e.admin, stored); r.status != http.StatusOK {
			t.Fatalf("update the secret: %d %s", r.status, r.body)
		}
		if r := e.post("/hooks/am", am, body); r.status != http.StatusUnauthorized {
			t.Errorf("the old secret after the change: %d, want 401", r.status)
		}
		if r := e.do("POST", "/hooks/am", "a-new-secret-0123456789", body); r.status != http.StatusAccepted {
			t.Errorf("the new secret: %d %s, want 202", r.status, r.body)
		}

		if r := e.do("DELETE", fmt.Sprintf("/api/v1/sources/%d", am.ID), e.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete the source: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/hooks/am", "a-new-secret-0123456789", body); r.status != http.StatusUnauthorized {
			t.Errorf("a deleted source's webhook: %d, want 401", r.status)
		}
	})
}
