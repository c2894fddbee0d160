package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestSilencesCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, ritaTok := e.newResponder("rita")
		now := e.clock.Now()

		// A responder may silence; starts_at defaults to now.
		var active silence
		r := e.do("POST", "/api/v1/silences", ritaTok, map[string]any{
			"matchers": []string{`alertname="DiskFull"`, `host=~"db-.*"`}, "ends_at": now.Add(2 * time.Hour), "comment": "disk swap",
		})
		r.decode(t, http.StatusCreated, &active)
		if active.ID == 0 || active.State != "active" || !active.StartsAt.Equal(now.Truncate(time.Millisecond)) ||
			active.CreatedBy != "rita" || active.CreatedByID != rita.ID || active.Version != 1 ||
			!slices.Equal(active.Matchers, []string{`alertname="DiskFull"`, `host=~"db-.*"`}) {
			t.Fatalf("created %+v, want active from now, by rita", active)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
		}
		var pending silence
		e.do("POST", "/api/v1/silences", e.admin, map[string]any{
			"matchers": []string{`alertname="Backup"`}, "starts_at": now.Add(time.Hour), "ends_at": now.Add(3 * time.Hour), "comment": "maintenance",
		}).decode(t, http.StatusCreated, &pending)
		if pending.State != "pending" || pending.CreatedBy != "admin" {
			t.Errorf("pending %+v, want state pending by admin", pending)
		}

		states := map[string][]int64{"": {active.ID, pending.ID}, "active": {active.ID}, "pending": {pending.ID}, "expired": {}}
		for state, want := range states {
			var page list[silence]
			e.do("GET", "/api/v1/silences?state="+state, ritaTok, nil).decode(t, http.StatusOK, &page)
			var got []int64
			for _, s := range page.Items {
				got = append(got, s.ID)
				if state != "" && s.State != state {
					t.Errorf("?state=%s lists silence %d in state %s", state, s.ID, s.State)
				}
			}
			if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
				t.Errorf("?state=%s: %v, want %v", state, got, want)
			}
		}

		// The state is judged at the time of the answer.
		e.clock.Advance(time.Hour)
		var read map[string]any
		e.do("GET", "/api/v1/silences/"+itoa(pending.ID), ritaTok, nil).decode(t, http.StatusOK, &read)
		if read["state"] != "active" {
			t.Errorf("pending silence an hour later: state %v, want active", read["state"])
		}

		// A responder may update a silence, sending back what it read; its
		// author stays who created it.
		read["comment"] = "maintenance, longer"
		read["ends_at"] = now.Add(4 * time.Hour)
		var updated silence
		e.do("PUT", "/api/v1/silences/"+itoa(pending.ID), ritaTok, read).decode(t, http.StatusOK, &updated)
		if updated.Comment != "maintenance, longer" || !updated.EndsAt.Equal(now.Add(4*time.Hour).Truncate(time.Millisecond)) ||
			updated.Version != 2 || updated.CreatedBy != "admin" {
			t.Fatalf("updated %+v", updated)
		}

		before := e.auditCount()
		e.do("PUT", "/api/v1/silences/"+itoa(pending.ID), ritaTok, read).wantError(t, 409, "conflict", "version")
		e.do("POST", "/api/v1/silences/"+itoa(pending.ID)+"/expire", ritaTok, nil, "If-Match", `"1"`).wantError(t, 409, "conflict", "version")
		e.do("POST", "/api/v1/silences/"+itoa(pending.ID)+"/expire", ritaTok, map[string]any{"version": 1}).wantError(t, 409, "conflict", "version")
		if e.auditCount() != before {
			t.Error("refused writes wrote audit rows")
		}

		var expired silence
		e.do("POST", "/api/v1/silences/"+itoa(pending.ID)+"/expire", ritaTok, map[string]any{"version": 2}).decode(t, http.StatusOK, &expired)
		if expired.State != "expired" || expired.EndsAt.Sub(e.clock.Now()).Abs() >= time.Millisecond || expired.Version != 3 {
			t.Errorf("expired %+v, want state expired, ending now, version 3", expired)
		}
		e.do("POST", "/api/v1/silences/"+itoa(pending.ID)+"/expire", ritaTok, nil).wantError(t, 409, "conflict", "")
		read["version"] = 3
		e.do("PUT", "/api/v1/silences/"+itoa(pending.ID), ritaTok, read).wantError(t, 409, "conflict", "")

		// Deleting is the admin's.
		e.do("DELETE", "/api/v1/silences/"+itoa(pending.ID), ritaTok, nil).wantError(t, 403, "forbidden", "")
		e.do("DELETE", "/api/v1/silences/"+itoa(pending.ID), e.admin, nil, "If-Match", `"2"`).wantError(t, 409, "conflict", "version")
		if r := e.do("DELETE", "/api/v1/silences/"+itoa(pending.ID), e.admin, nil, "If-Match", `"3"`); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d, body %s", r.status, r.body)
		}
		e.do("GET", "/api/v1/silences/"+itoa(pending.ID), e.admin, nil).wantError(t, 404, "not_found", "")
		wantAudit(t, e, "silence", pending.ID, "create", "update", "update", "delete")
	})
}

func TestSilenceValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		_, ritaTok := e.newResponder("rita")
		now := e.clock.Now()
		ok := map[string]any{"matchers": []string{`alertname="X"`}, "ends_at": now.Add(time.Hour), "comment": "why"}
		with := func(field string, value any) map[string]any {
			m := map[string]any{}
			for k, v := range ok {
				m[k] = v
			}
			if value == nil {
				delete(m, field)
			} else {
				m[field] = value
			}
			return m
		}
		tests := []struct {
			name  string
			body  any
			field string
		}{
			{"no matchers", with("matchers", nil), "matchers"},
			{"bad matcher", with("matchers", []string{`a="1"`, `b=`}), "matchers[1]"},
			{"matchers that match nothing but empty values", with("matchers", []string{`a=~".*"`}), "matchers"},
			{"no end", with("ends_at", nil), "ends_at"},
			{"end before start", with("starts_at", now.Add(2*time.Hour)), "ends_at"},
			{"end in the past", with("ends_at", now.Add(-time.Minute)), "ends_at"},
			{"end not a time", with("ends_at", "tomorrow"), "ends_at"},
			{"start not a time", with("starts_at", 12), "starts_at"},
			{"no comment", with("comment", nil), "comment"},
			{"unknown field", with("author", "me"), "author"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.auditCount()
				e.do("POST", "/api/v1/silences", ritaTok, tt.body).wantError(t, 400, "invalid", tt.field)
				if after := e.auditCount(); after != before {
					t.Errorf("audit rows went from %d to %d: a refused request changed something", before, after)
				}
			})
		}

		var s silence
		e.do("POST", "/api/v1/silences", ritaTok, ok).decode(t, http.StatusCreated, &s)
		// An update replaces the whole silence: leaving the start out is an
		// error, not a move to now.
		e.do("PUT", "/api/v1/silences/"+itoa(s.ID), ritaTok, with("version", s.Version)).wantError(t, 400, "invalid", "starts_at")
		e.do("GET", "/api/v1/silences?state=over", ritaTok, nil).wantError(t, 400, "invalid", "state")
		e.do("POST", "/api/v1/silences/"+itoa(s.ID)+"/expire", ritaTok, map[string]any{"reason": "x"}).wantError(t, 400, "invalid", "reason")
	})
}
