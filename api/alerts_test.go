package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Acknowledging and resolving over REST: any user may, the answer is the
// changed alert, and acting again on the same state is a 409 naming it.
func TestAlertActions(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am := e.newBearerSource("am", "alertmanager")
		e.post("/hooks/am", am, amPayload("firing", map[string]string{"alertname": "Disk"})).decode(t, http.StatusAccepted, nil)
		a := e.alerts("")[0]
		rita, ritaToken := e.newResponder("rita")
		path := fmt.Sprintf("/api/v1/alerts/%d", a.ID)

		var acked alert
		e.do("POST", path+"/ack", ritaToken, nil).decode(t, http.StatusOK, &acked)
		if acked.State != "acknowledged" || acked.AckedBy != rita.Name {
			t.Errorf("acked alert %+v, want acknowledged by rita", acked)
		}
		e.do("POST", path+"/ack", e.admin, nil).wantError(t, http.StatusConflict, "conflict", "state")

		var resolved alert
		e.do("POST", path+"/resolve", e.admin, nil).decode(t, http.StatusOK, &resolved)
		if resolved.State != "resolved" || resolved.ResolvedBy != "admin" || resolved.EndsAt == nil {
			t.Errorf("resolved alert %+v, want resolved by admin with an end", resolved)
		}
		r := e.do("POST", path+"/resolve", ritaToken, nil)
		if body := r.wantError(t, http.StatusConflict, "conflict", "state"); !strings.Contains(body.Error.Message, "resolved") {
			t.Errorf("message %q does not name the state", body.Error.Message)
		}
		e.do("POST", path+"/ack", ritaToken, nil).wantError(t, http.StatusConflict, "conflict", "state")

		if k := e.alert(a.ID).historyKinds(); !slices.Equal(k, []string{"fired", "acknowledged", "resolved"}) {
			t.Errorf("history %v, want fired, acknowledged, resolved", k)
		}
		e.do("POST", "/api/v1/alerts/999999/ack", e.admin, nil).wantError(t, http.StatusNotFound, "not_found", "")
		e.do("POST", "/api/v1/alerts/x/ack", e.admin, nil).wantError(t, http.StatusBadRequest, "invalid", "id")
		e.do("POST", path+"/ack", "", nil).wantError(t, http.StatusUnauthorized, "unauthorized", "")
		// A firing for labels whose alert was resolved by hand opens a new one.
		e.post("/hooks/am", am, amPayload("firing", map[string]string{"alertname": "Disk"})).decode(t, http.StatusAccepted, nil)
		if got := e.alerts("state=firing"); len(got) != 1 || got[0].ID == a.ID {
			t.Errorf("firing alerts %+v, want a new one", got)
		}
	})
}

// Only the users a route selects get inbox rows; a silenced alert is
// stored, marked, and reaches nobody; whoever heard an alert fire hears it
// acknowledged and resolved.
func TestInboxRouting(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ana, anaToken := e.newResponder("ana")
		_, bobToken := e.newResponder("bob")
		e.newRoute(map[string]any{"name": "payments", "matchers": []string{`team="payments"`}, "users": []int64{ana.ID}})
		am := e.newBearerSource("am", "alertmanager")

		e.post("/hooks/am", am, readSample(t, "alertmanager-firing.json")).decode(t, http.StatusAccepted, nil)
		e.post("/hooks/am", am, amPayload("firing", map[string]string{"alertname": "Other", "team": "search"})).decode(t, http.StatusAccepted, nil)
		inbox := e.inbox(anaToken)
		if len(inbox) != 2 {
			t.Fatalf("ana's inbox has %d rows, want 2 (the payments alerts): %+v", len(inbox), inbox)
		}
		for i, n := range inbox {
			if n.Seq != int64(i+1) || n.Event != "fired" || n.Alert.Labels["team"] != "payments" {
				t.Errorf("row %d = %+v, want seq %d fired for a payments alert", i, n, i+1)
			}
		}
		if got := e.inbox(bobToken); len(got) != 0 {
			t.Errorf("bob, whom no route selects, has %d rows", len(got))
		}

		e.post("/hooks/am", am, readSample(t, "alertmanager-resolved.json")).decode(t, http.StatusAccepted, nil)
		var fired alert
		for _, a := range e.alerts("state=firing&filter=" + url.QueryEscape(`team="payments"`)) {
			fired = a
		}
		e.do("POST", fmt.Sprintf("/api/v1/alerts/%d/ack", fired.ID), bobToken, nil).decode(t, http.StatusOK, nil)
		inbox = e.inbox(anaToken)
		events := []string{}
		for _, n := range inbox {
			events = append(events, n.Event)
		}
		if !slices.Equal(events, []string{"fired", "fired", "resolved", "acknowledged"}) {
			t.Errorf("ana's events %v, want fired, fired, resolved, acknowledged", events)
		}

		// Paging: since and cursor walk the same rows.
		var page list[notification]
		e.do("GET", "/api/v1/inbox?since=1&limit=2", anaToken, nil).decode(t, http.StatusOK, &page)
		if len(page.Items) != 2 || page.Items[0].Seq != 2 || page.NextCursor == "" {
			t.Fatalf("page after 1 = %+v, want seqs 2, 3 and a cursor", page)
		}
		e.do("GET", "/api/v1/inbox?limit=2&cursor="+page.NextCursor, anaToken, nil).decode(t, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].Seq != 4 {
			t.Fatalf("next page = %+v, want seq 4", page)
		}
		e.do("GET", "/api/v1/inbox?since=-1", anaToken, nil).wantError(t, http.StatusBadRequest, "invalid", "since")

		// A silence: the alert is stored and marked, and reaches nobody.
		e.do("POST", "/api/v1/silences", anaToken, map[string]any{"matchers": []string{`alertname="Quiet"`},
			"starts_at": e.clock.Now().Add(-time.Minute), "ends_at": e.clock.Now().Add(time.Hour), "comment": "maintenance"}).
			decode(t, http.StatusCreated, nil)
		e.post("/hooks/am", am, amPayload("firing", map[string]string{"alertname": "Quiet", "team": "payments"})).decode(t, http.StatusAccepted, nil)
		quiet := e.alerts("filter=" + url.QueryEscape(`alertname="Quiet"`))
		if len(quiet) != 1 || !quiet[0].Silenced {
			t.Fatalf("quiet alerts %+v, want one, silenced", quiet)
		}
		if k := e.alert(quiet[0].ID).historyKinds(); !slices.Equal(k, []string{"fired", "silenced"}) {
			t.Errorf("silenced alert's history %v, want fired, silenced", k)
		}
		if got := e.inbox(anaToken); len(got) != 4 {
			t.Errorf("ana has %d rows after a silenced alert, want still 4", len(got))
		}
	})
}

// The alert list filters by state, matchers, source and time, newest first,
// a page at a time.
func TestListAlerts(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am, other := e.newBearerSource("am", "alertmanager"), e.newBearerSource("other", "alertmanager")
		for i := range 5 {
			e.post("/hooks/am", am, amPayload("firing", map[string]string{"alertname": "A", "i": fmt.Sprint(i)})).decode(t, http.StatusAccepted, nil)
		}
		e.post("/hooks/other", other, amPayload("firing", map[string]string{"alertname": "B"})).decode(t, http.StatusAccepted, nil)
		e.post("/hooks/am", am, amPayload("resolved", map[string]string{"alertname": "A", "i": "0"})).decode(t, http.StatusAccepted, nil)

		ids := func(as []alert) []int64 {
			var out []int64
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		all := e.alerts("")
		if len(all) != 6 || !slices.IsSortedFunc(all, func(a, b alert) int { return int(b.ID - a.ID) }) {
			t.Fatalf("all alerts %v, want 6, newest first", ids(all))
		}
		tests := []struct {
			query string
			want  int
		}{
			{"state=firing", 5},
			{"state=resolved", 1},
			{"state=firing,resolved", 6},
			{"state=acknowledged", 0},
			{"source=other", 1},
			{"filter=" + url.QueryEscape(`{alertname="A", i=~"[0-2]"}`), 3},
			{"filter=" + url.QueryEscape(`alertname="A"`) + "&filter=" + url.QueryEscape(`i!="1"`), 4},
			{"until=2000-01-01T00:00:00Z", 0},
			{"since=" + url.QueryEscape(e.clock.Now().Add(time.Hour).Format(time.RFC3339)), 5},
		}
		for _, tt := range tests {
			if got := e.alerts(tt.query); len(got) != tt.want {
				t.Errorf("?%s: %d alerts, want %d", tt.query, len(got), tt.want)
			}
		}
		var page list[alert]
		e.do("GET", "/api/v1/alerts?limit=4", e.admin, nil).decode(t, http.StatusOK, &page)
		if len(page.Items) != 4 || page.NextCursor == "" {
			t.Fatalf("first page %v, want 4 and a cursor", ids(page.Items))
		}
		first := ids(page.Items)
		e.do("GET", "/api/v1/alerts?limit=4&cursor="+page.NextCursor, e.admin, nil).decode(t, http.StatusOK, &page)
		if got := append(first, ids(page.Items)...); !slices.Equal(got, ids(all)) || page.NextCursor != "" {
			t.Errorf("pages %v (next %q), want %v and no cursor", got, page.NextCursor, ids(all))
		}
		for _, bad := range []struct{ query, field string }{
			{"state=open", "state"},
			{"filter=" + url.QueryEscape(`a=>"b"`), "filter"},
			{"since=yesterday", "since"},
			{"since=2027-01-02T00:00:00Z&until=2027-01-01T00:00:00Z", "until"},
			{"limit=0", "limit"},
		} {
			e.do("GET", "/api/v1/alerts?"+bad.query, e.admin, nil).wantError(t, http.StatusBadRequest, "invalid", bad.field)
		}
	})
}
