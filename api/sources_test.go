package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestSourcesCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		// Without a secret, tocsin makes one and shows it this once.
		var am source
		r := e.do("POST", "/api/v1/sources", e.admin, map[string]any{"name": "prod-am", "kind": "alertmanager", "auth": "bearer"})
		r.decode(t, http.StatusCreated, &am)
		if am.ID == 0 || am.Kind != "alertmanager" || am.Auth != "bearer" || am.Version != 1 || am.ManagedBy != "" {
			t.Fatalf("created %+v", am)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(am.Secret) {
			t.Fatalf("secret %q is not 256 random bits in base64url", am.Secret)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}

		// A secret the client chose is not sent back.
		const chosen = "s3cret-the-client-chose"
		r = e.do("POST", "/api/v1/sources", e.admin, map[string]any{
			"name": "hooks", "kind": "generic", "auth": "hmac", "secret": chosen,
			"mapping": map[string]any{"alerts": "items", "labels": map[string]string{"alertname": "title"}, "status": "state", "resolved_values": []string{"ok"}},
		})
		var generic source
		r.decode(t, http.StatusCreated, &generic)
		if strings.Contains(string(r.body), chosen) || strings.Contains(string(r.body), `"secret"`) {
			t.Errorf("create with a chosen secret answers %s, which repeats it", r.body)
		}
		if generic.SignatureHeader != "X-Tocsin-Signature" || generic.Mapping["alerts"] != "items" {
			t.Errorf("generic source %+v, want the default signature header and the mapping", generic)
		}

		var byKind list[source]
		e.do("GET", "/api/v1/sources?kind=generic", e.admin, nil).decode(t, http.StatusOK, &byKind)
		if len(byKind.Items) != 1 || byKind.Items[0].ID != generic.ID {
			t.Errorf("?kind=generic lists %+v, want hooks alone", byKind.Items)
		}

		// Update keeps the secret unless it sends one; a new auth type needs one.
		var read map[string]any
		e.do("GET", "/api/v1/sources/"+itoa(am.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		read["name"] = "prod-alertmanager"
		var renamed source
		e.do("PUT", "/api/v1/sources/"+itoa(am.ID), e.admin, read).decode(t, http.StatusOK, &renamed)
		if renamed.Name != "prod-alertmanager" || renamed.Version != 2 || renamed.Secret != "" {
			t.Fatalf("renamed %+v", renamed)
		}
		read["auth"], read["username"], read["version"] = "basic", "am", 2
		before := e.auditCount()
		e.do("PUT", "/api/v1/sources/"+itoa(am.ID), e.admin, read).wantError(t, 400, "invalid", "secret")
		read["version"] = 1
		read["secret"] = "a-new-basic-password"
		e.do("PUT", "/api/v1/sources/"+itoa(am.ID), e.admin, read).wantError(t, 409, "conflict", "version")
		delete(read, "version")
		e.do("PUT", "/api/v1/sources/"+itoa(am.ID), e.admin, read, "If-Match", `"1"`).wantError(t, 409, "conflict", "version")
		if e.auditCount() != before {
			t.Error("refused updates wrote audit rows")
		}
		r = e.do("PUT", "/api/v1/sources/"+itoa(am.ID), e.admin, read, "If-Match", `"2"`)
		var basic source
		r.decode(t, http.StatusOK, &basic)
		if basic.Auth != "basic" || basic.Username != "am" || basic.Version != 3 || strings.Contains(string(r.body), "a-new-basic-password") {
			t.Errorf("switched to basic: %s", r.body)
		}

		// Secrets are never shown again: not in reads, lists or the audit log.
		for _, path := range []string{"/api/v1/sources/" + itoa(am.ID), "/api/v1/sources/" + itoa(generic.ID), "/api/v1/sources", "/api/v1/audit"} {
			r := e.do("GET", path, e.admin, nil)
			r.decode(t, http.StatusOK, nil)
			for _, secret := range []string{am.Secret, chosen, "a-new-basic-password"} {
				if strings.Contains(string(r.body), secret) {
					t.Errorf("GET %s shows the secret %q", path, secret)
				}
			}
			if strings.Contains(string(r.body), `"secret"`) || strings.Contains(string(r.body), `"credential"`) {
				t.Errorf("GET %s has a secret or credential field: %s", path, r.body)
			}
		}

		if r := e.do("DELETE", "/api/v1/sources/"+itoa(am.ID), e.admin, nil, "If-Match", `"3"`); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/sources/"+itoa(am.ID), e.admin, nil).wantError(t, 404, "not_found", "")
		wantAudit(t, e, "source", am.ID, "create", "update", "update", "delete")
	})
}

func TestSourceValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.do("POST", "/api/v1/sources", e.admin, map[string]any{"name": "taken", "kind": "grafana", "auth": "bearer"}).decode(t, http.StatusCreated, nil)
		mapping := func(m map[string]any) map[string]any {
			return map[string]any{"name": "g", "kind": "generic", "auth": "bearer", "mapping": m}
		}
		e.wantCreatesRefused(t, "/api/v1/sources", []refusal{
			{"bad name", map[string]any{"name": "my source", "kind": "grafana", "auth": "bearer"}, 400, "invalid", "name"},
			{"bad kind", map[string]any{"name": "s", "kind": "nagios", "auth": "bearer"}, 400, "invalid", "kind"},
			{"bad auth", map[string]any{"name": "s", "kind": "grafana", "auth": "none"}, 400, "invalid", "auth"},
			{"basic without user", map[string]any{"name": "s", "kind": "grafana", "auth": "basic"}, 400, "invalid", "username"},
			{"short secret", map[string]any{"name": "s", "kind": "grafana", "auth": "bearer", "secret": "short"}, 400, "invalid", "secret"},
			{"mapping on another kind", map[string]any{"name": "s", "kind": "grafana", "auth": "bearer", "mapping": map[string]any{"labels_from": "labels"}}, 400, "invalid", "mapping"},
			{"generic without mapping", map[string]any{"name": "s", "kind": "generic", "auth": "bearer"}, 400, "invalid", "mapping"},
			{"mapping without labels", mapping(map[string]any{"status": "state", "resolved_values": []string{"ok"}}), 400, "invalid", "mapping.labels"},
			{"mapping with a bad label", mapping(map[string]any{"labels": map[string]string{"0x": "a"}}), 400, "invalid", "mapping.labels.0x"},
			{"mapping unknown field", mapping(map[string]any{"labels_from": "labels", "labelz": map[string]string{}}), 400, "invalid", "mapping.labelz"},
			{"unknown field", map[string]any{"name": "s", "kind": "grafana", "auth": "bearer", "token": "x"}, 400, "invalid", "token"},
			{"name taken", map[string]any{"name": "taken", "kind": "grafana", "auth": "bearer"}, 409, "conflict", "name"},
		})
		e.do("GET", "/api/v1/sources?kind=nagios", e.admin, nil).wantError(t, 400, "invalid", "kind")
	})
}
