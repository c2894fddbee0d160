package api_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// TestRuleRoles checks who may do what with teams, routes, silences and
// sources: admins everything; responders read teams, routes and silences,
// and create, update and expire silences; nobody without a token anything.
func TestRuleRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		rita, tok := e.newResponder("rita")
		tm := e.newTeam("db", rita.ID)
		rt := e.newRoute(map[string]any{"name": "db", "teams": []int64{tm.ID}})
		var src source
		e.do("POST", "/api/v1/sources", e.admin, map[string]any{"name": "am", "kind": "alertmanager", "auth": "bearer"}).decode(t, http.StatusCreated, &src)
		var sil silence
		e.do("POST", "/api/v1/silences", e.admin, map[string]any{
			"matchers": []string{`a="1"`}, "ends_at": e.clock.Now().Add(time.Hour), "comment": "c",
		}).decode(t, http.StatusCreated, &sil)

		team := map[string]any{"name": "db2", "members": []int64{rita.ID}, "version": 1}
		rte := map[string]any{"name": "db2", "users": []int64{rita.ID}, "version": 1}
		sourceBody := map[string]any{"name": "am2", "kind": "alertmanager", "auth": "bearer", "version": 1}
		silenceBody := map[string]any{"matchers": []string{`a="2"`}, "starts_at": sil.StartsAt, "ends_at": e.clock.Now().Add(time.Hour), "comment": "c"}
		silenceUpdate := map[string]any{"matchers": []string{`a="2"`}, "starts_at": sil.StartsAt, "ends_at": e.clock.Now().Add(time.Hour), "comment": "c", "version": 1}
		tests := []struct {
			name         string
			method, path string
			body         any
			status       int
		}{
			{"list teams", "GET", "/api/v1/teams", nil, 200},
			{"read team", "GET", "/api/v1/teams/" + itoa(tm.ID), nil, 200},
			{"create team", "POST", "/api/v1/teams", team, 403},
			{"update team", "PUT", "/api/v1/teams/" + itoa(tm.ID), team, 403},
			{"delete team", "DELETE", "/api/v1/teams/" + itoa(tm.ID), nil, 403},
			{"list routes", "GET", "/api/v1/routes", nil, 200},
			{"read route", "GET", "/api/v1/routes/" + itoa(rt.ID), nil, 200},
			{"create route", "POST", "/api/v1/routes", rte, 403},
			{"update route", "PUT", "/api/v1/routes/" + itoa(rt.ID), rte, 403},
			{"delete route", "DELETE", "/api/v1/routes/" + itoa(rt.ID), nil, 403},
			{"reorder routes", "POST", "/api/v1/routes/order", map[string]any{"ids": []int64{rt.ID}}, 403},
			{"test routes", "POST", "/api/v1/routes/test", map[string]any{"labels": map[string]string{"a": "1"}}, 403},
			{"list sources", "GET", "/api/v1/sources", nil, 403},
			{"read source", "GET", "/api/v1/sources/" + itoa(src.ID), nil, 403},
			{"create source", "POST", "/api/v1/sources", sourceBody, 403},
			{"update source", "PUT", "/api/v1/sources/" + itoa(src.ID), sourceBody, 403},
			{"delete source", "DELETE", "/api/v1/sources/" + itoa(src.ID), nil, 403},
			{"list silences", "GET", "/api/v1/silences", nil, 200},
			{"read silence", "GET", "/api/v1/silences/" + itoa(sil.ID), nil, 200},
			{"create silence", "POST", "/api/v1/silences", silenceBody, 201},
			{"update silence", "PUT", "/api/v1/silences/" + itoa(sil.ID), silenceUpdate, 200},
			{"expire silence", "POST", "/api/v1/silences/" + itoa(sil.ID) + "/expire", nil, 200},
			{"delete silence", "DELETE", "/api/v1/silences/" + itoa(sil.ID), nil, 403},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do(tt.method, tt.path, "", tt.body).wantError(t, 401, "unauthorized", "")
				before := e.auditCount()
				r := e.do(tt.method, tt.path, tok, tt.body)
				if tt.status == http.StatusForbidden {
					r.wantError(t, 403, "forbidden", "")
					if e.auditCount() != before {
						t.Error("a forbidden request wrote an audit row")
					}
					return
				}
				r.decode(t, tt.status, nil)
			})
		}
	})
}

// TestManagedObjectsRefused checks that teams, routes and sources declared
// in config.yaml cannot be changed through the API, though they can be read
// and routes reordered.
func TestManagedObjectsRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t_ctx()
		rita, _ := e.newResponder("rita")
		cfg := storage.ConfigActor()
		tm, err := e.store.CreateTeam(ctx, cfg, alerts.Team{Name: "oncall", Members: []int64{rita.ID}})
		if err != nil {
			t.Fatal(err)
		}
		rt, err := e.store.CreateRoute(ctx, cfg, alerts.Route{Name: "all", Matchers: alerts.Matchers{}, Users: []int64{rita.ID}, Teams: []int64{}, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		src, err := e.store.CreateSource(ctx, cfg, sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: "a-long-enough-secret"})
		if err != nil {
			t.Fatal(err)
		}
		mine := e.newRoute(map[string]any{"name": "mine", "users": []int64{rita.ID}})

		var read team
		e.do("GET", "/api/v1/teams/"+itoa(tm.ID), e.admin, nil).decode(t, http.StatusOK, &read)
		if read.ManagedBy != "config" {
			t.Errorf("managed team reads as managed_by %q, want config", read.ManagedBy)
		}
		before := e.auditCount()
		e.do("PUT", "/api/v1/teams/"+itoa(tm.ID), e.admin, map[string]any{"name": "oncall", "members": []int64{}, "version": 1}).wantError(t, 403, "forbidden", "")
		e.do("DELETE", "/api/v1/teams/"+itoa(tm.ID), e.admin, nil).wantError(t, 403, "forbidden", "")
		e.do("PUT", "/api/v1/routes/"+itoa(rt.ID), e.admin, map[string]any{"name": "all", "users": []int64{rita.ID}, "enabled": false, "version": 1}).wantError(t, 403, "forbidden", "")
		e.do("DELETE", "/api/v1/routes/"+itoa(rt.ID), e.admin, nil).wantError(t, 403, "forbidden", "")
		e.do("PUT", "/api/v1/sources/"+itoa(src.ID), e.admin, map[string]any{"name": "am", "kind": "grafana", "auth": "bearer", "version": 1}).wantError(t, 403, "forbidden", "")
		e.do("DELETE", "/api/v1/sources/"+itoa(src.ID), e.admin, nil).wantError(t, 403, "forbidden", "")
		if e.auditCount() != before {
			t.Error("refused changes to managed objects wrote audit rows")
		}

		// Positions are not the file's: a managed route may be moved.
		var reordered struct {
			Items []route `json:"items"`
		}
		e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{mine.ID, rt.ID}}).decode(t, http.StatusOK, &reordered)
		if got := routeIDsOf(reordered.Items); len(got) != 2 || got[0] != mine.ID {
			t.Errorf("reordered %v, want mine first", got)
		}
	})
}

// rulesFunc is a hand-written api.Rules whose Apply is a function.
type rulesFunc struct {
	apply func(ctx context.Context, change alerts.ConfigChange) error
}

func (r rulesFunc) Apply(ctx context.Context, change alerts.ConfigChange) error {
	return r.apply(ctx, change)
}

func (r rulesFunc) Snapshot() *alerts.Snapshot {
	return alerts.NewSnapshot(7, alerts.Rules{}, time.Time{})
}

// TestChangesAreApplied checks that every committed change is handed to the
// rules, and that a change the rules cannot confirm in time is still
// answered as the success it is, with a warning in the log.
func TestChangesAreApplied(t *testing.T) {
	changes := make(chan alerts.ConfigChange, 16)
	e := start(t, testdb.SQLite(t), func(o *api.Options) {
		o.Rules = rulesFunc{apply: func(ctx context.Context, change alerts.ConfigChange) error {
			changes <- change
			return context.DeadlineExceeded
		}}
	})
	rita, _ := e.newResponder("rita")
	tm := e.newTeam("db", rita.ID)
	if got, want := <-changes, (alerts.ConfigChange{Object: "team", ID: tm.ID, Action: "create", Version: 1}); got != want {
		t.Errorf("change %+v, want %+v", got, want)
	}
	testlog.WaitFor(t, e.log, regexp.MustCompile(`level=WARN msg="change committed but not yet in effect when answered" object=team id=\d+ action=create version=1`), nil)

	rt := e.newRoute(map[string]any{"name": "db", "teams": []int64{tm.ID}})
	<-changes
	e.do("POST", "/api/v1/routes/order", e.admin, map[string]any{"ids": []int64{rt.ID}}).decode(t, http.StatusOK, nil)
	if got, want := <-changes, (alerts.ConfigChange{Object: "route", Action: "reorder"}); got != want {
		t.Errorf("change %+v, want %+v", got, want)
	}
	var sil silence
	e.do("POST", "/api/v1/silences", e.admin, map[string]any{"matchers": []string{`a="1"`}, "ends_at": e.clock.Now().Add(time.Hour), "comment": "c"}).
		decode(t, http.StatusCreated, &sil)
	<-changes
	e.do("POST", "/api/v1/silences/"+itoa(sil.ID)+"/expire", e.admin, nil).decode(t, http.StatusOK, nil)
	if got, want := <-changes, (alerts.ConfigChange{Object: "silence", ID: sil.ID, Action: "expire", Version: 2}); got != want {
		t.Errorf("change %+v, want %+v", got, want)
	}
	if r := e.do("DELETE", "/api/v1/users/"+itoa(rita.ID), e.admin, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete user: status %d", r.status)
	}
	if got, want := <-changes, (alerts.ConfigChange{Object: "user", ID: rita.ID, Action: "delete"}); got != want {
		t.Errorf("change %+v, want %+v", got, want)
	}

	// A refused write is not a change.
	e.do("DELETE", "/api/v1/teams/"+itoa(tm.ID), e.admin, nil, "If-Match", `"9"`).wantError(t, 409, "conflict", "version")
	var res resolution
	e.do("POST", "/api/v1/routes/test", e.admin, map[string]any{"labels": map[string]string{"a": "1"}}).decode(t, http.StatusOK, &res)
	select {
	case c := <-changes:
		t.Errorf("unexpected change %+v", c)
	default:
	}
	if res.SnapshotVersion != 7 {
		t.Errorf("snapshot_version %d, want the rules' 7", res.SnapshotVersion)
	}
}

// TestWithoutRules checks that a server given no rules still serves the
// rules API, testing label sets against empty rules.
func TestWithoutRules(t *testing.T) {
	e := start(t, testdb.SQLite(t), func(o *api.Options) { o.Rules = nil })
	rita, _ := e.newResponder("rita")
	e.newRoute(map[string]any{"name": "db", "users": []int64{rita.ID}})
	var res resolution
	r := e.do("POST", "/api/v1/routes/test", e.admin, map[string]any{"labels": map[string]string{"a": "1"}})
	r.decode(t, http.StatusOK, &res)
	if want := `{"snapshot_version":0,"routes":[],"users":[],"silenced":false,"silences":[]}` + "\n"; string(r.body) != want {
		t.Errorf("test without rules: %s, want %s", r.body, want)
	}
}
