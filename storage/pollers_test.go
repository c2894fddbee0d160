package storage_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// seconds is n seconds as a poller's duration.
func seconds(n float64) sources.Duration { return sources.Duration(n * float64(time.Second)) }

// httpPoller is an http poller that sets every field of its kind.
func httpPoller(name string) sources.Poller {
	return sources.Poller{
		Name: name, Kind: sources.PollerHTTP, Schedule: "*/30 * * * * *", Timeout: seconds(5),
		URL: "https://status.example.com/health?full=1", Method: http.MethodPost,
		Headers: map[string]string{"Authorization": "Bearer abc", "X-Probe": "tocsin"}, Body: `{"ping":true}`,
		ExpectStatus: []sources.StatusRange{{Min: 200, Max: 204}, {Min: 301, Max: 301}}, ExpectBody: `"ok":\s*true`,
		ExpectJSON: &sources.JSONExpectation{Path: "checks.0.healthy", Equals: "true"}, MaxLatency: seconds(1.5),
		TLSSkipVerify: true,
		Labels:        alerts.Labels{"severity": "page", "team": "web"}, Annotations: map[string]string{"summary": "status page down"},
		FailAfter: 3, RecoverAfter: 2, Enabled: true,
	}
}

// tcpPoller is a tcp poller with no labels, annotations or timeout.
func tcpPoller(name string) sources.Poller {
	return sources.Poller{Name: name, Kind: sources.PollerTCP, Schedule: "@every 1m", Address: "db.internal:5432",
		FailAfter: 1, RecoverAfter: 1}
}

// promPoller is a prometheus poller.
func promPoller(name string) sources.Poller {
	return sources.Poller{Name: name, Kind: sources.PollerPrometheus, Schedule: "0 */5 * * * *", Timeout: seconds(20),
		URL: "http://prometheus:9090", Query: `up{job="api"} == 0`, Labels: alerts.Labels{"severity": "ticket"},
		FailAfter: 2, RecoverAfter: 4, Enabled: true}
}

// mustCreatePoller creates a poller as actor, or fails the test.
func mustCreatePoller(t *testing.T, db *storage.DB, actor storage.Actor, p sources.Poller) sources.Poller {
	t.Helper()
	created, err := db.CreatePoller(t.Context(), actor, p)
	if err != nil {
		t.Fatalf("CreatePoller(%q): %v", p.Name, err)
	}
	return created
}

// allPollers reads every poller through the store.
func allPollers(t *testing.T, db *storage.DB) []sources.Poller {
	t.Helper()
	list, err := db.AllPollers(t.Context())
	if err != nil {
		t.Fatalf("AllPollers: %v", err)
	}
	return list
}

// checkPoller fails the test unless the store holds want under its ID.
func checkPoller(t *testing.T, what string, db *storage.DB, want sources.Poller) {
	t.Helper()
	got, err := db.Poller(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("%s: Poller(%d): %v", what, want.ID, err)
	}
	checkSame(t, what+": Poller", got, want)
}

// pollerRefused runs a write that must fail with kind, naming field when not
// empty, and checks that it changed no poller and wrote no audit row.
func pollerRefused(t *testing.T, e *env, what string, kind error, field string, write func() error) {
	t.Helper()
	before, audits := asJSON(t, allPollers(t, e.db)), e.auditRows(t)
	checkErr(t, what, write(), kind, field)
	if after := asJSON(t, allPollers(t, e.db)); after != before {
		t.Fatalf("%s changed the pollers:\nbefore %s\n after %s", what, before, after)
	}
	if got := e.auditRows(t); got != audits {
		t.Fatalf("%s: wrote %d audit rows, want none", what, got-audits)
	}
}

func TestCreatePoller(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		cases := []struct {
			name  string
			actor storage.Actor
			in    sources.Poller
			// edit turns the input into the poller the store returns.
			edit func(p *sources.Poller)
		}{
			{name: "http, every field", actor: userActor(admin), in: httpPoller("web"), edit: func(*sources.Poller) {}},
			{name: "http, defaults", actor: userActor(admin),
				in: sources.Poller{Name: "bare", Kind: sources.PollerHTTP, Schedule: "@every 10s", URL: "http://10.0.0.1:8080/",
					Headers: map[string]string{}, FailAfter: 1, RecoverAfter: 1},
				edit: func(p *sources.Poller) {
					p.Timeout, p.Method, p.ExpectStatus = sources.Duration(sources.DefaultPollTimeout), http.MethodGet, sources.DefaultExpectStatus
					p.Headers, p.Labels, p.Annotations = nil, alerts.Labels{}, map[string]string{}
				}},
			{name: "tcp", actor: storage.CLIActor(), in: tcpPoller("db"),
				edit: func(p *sources.Poller) {
					p.Timeout, p.Labels, p.Annotations = sources.Duration(sources.DefaultPollTimeout), alerts.Labels{}, map[string]string{}
				}},
			{name: "prometheus, by the file", actor: storage.ConfigActor(), in: promPoller("prom"),
				edit: func(p *sources.Poller) { p.ManagedBy, p.Annotations = alerts.ManagedByConfig, map[string]string{} }},
		}
		var ids []int64
		for _, c := range cases {
			e.clock.Advance(time.Minute)
			in := c.in
			// The ID, version, times and who manages it are not the client's
			// to set.
			in.ID, in.Version, in.ManagedBy, in.CreatedAt = 99, 7, "someone", time.Unix(0, 0)
			got, err := e.db.CreatePoller(t.Context(), c.actor, in)
			if err != nil {
				t.Fatalf("%s: CreatePoller: %v", c.name, err)
			}
			want := c.in
			want.ID, want.Version, want.CreatedAt, want.UpdatedAt = got.ID, 1, e.clock.Stored(), e.clock.Stored()
			c.edit(&want)
			if got.ID <= 0 || slices.Contains(ids, got.ID) {
				t.Fatalf("%s: CreatePoller returned ID %d, want a new one (have %v)", c.name, got.ID, ids)
			}
			ids = append(ids, got.ID)
			checkSame(t, c.name+": CreatePoller", got, want)
			checkPoller(t, c.name, e.db, want)
			checkRuleAudit(t, e, c.name, c.actor, storage.ActionCreate, "poller", got.ID, nil, want)
		}
		if got := allPollers(t, e.db); len(got) != len(cases) {
			t.Fatalf("AllPollers = %d pollers, want %d", len(got), len(cases))
		}
		for i, p := range allPollers(t, e.db) {
			if p.ID != ids[i] {
				t.Fatalf("AllPollers[%d] has ID %d, want %d (ID order)", i, p.ID, ids[i])
			}
			checkPoller(t, "AllPollers", e.db, p)
		}

		refusals := []struct {
			name  string
			edit  func(p *sources.Poller)
			kind  error
			field string
		}{
			{name: "taken name", edit: func(p *sources.Poller) {}, kind: alerts.ErrConflict, field: "name"},
			{name: "bad name", edit: func(p *sources.Poller) { p.Name = "Web Check" }, kind: alerts.ErrInvalid, field: "name"},
			{name: "bad schedule", edit: func(p *sources.Poller) { p.Name, p.Schedule = "x1", "every minute" }, kind: alerts.ErrInvalid, field: "schedule"},
			{name: "fail_after 0", edit: func(p *sources.Poller) { p.Name, p.FailAfter = "x2", 0 }, kind: alerts.ErrInvalid, field: "fail_after"},
			{name: "bad regex", edit: func(p *sources.Poller) { p.Name, p.ExpectBody = "x3", "(" }, kind: alerts.ErrInvalid, field: "expect_body"},
			{name: "field of another kind", edit: func(p *sources.Poller) { p.Name, p.Address = "x4", "db:5432" }, kind: alerts.ErrInvalid, field: "address"},
		}
		for _, r := range refusals {
			in := httpPoller("web")
			r.edit(&in)
			pollerRefused(t, e, "CreatePoller with "+r.name, r.kind, r.field, func() error {
				_, err := e.db.CreatePoller(t.Context(), userActor(admin), in)
				return err
			})
		}
	})
}

func TestPollersPages(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		if list, err := db.Pollers(t.Context(), storage.Page{Limit: 10}); err != nil || len(list) != 0 {
			t.Fatalf("Pollers of an empty store = %v, %v; want none", list, err)
		}
		var want []int64
		for i := range 5 {
			want = append(want, mustCreatePoller(t, db, storage.CLIActor(), tcpPoller(fmt.Sprintf("p%d", i))).ID)
		}
		pollerID := func(p sources.Poller) int64 { return p.ID }
		for _, limit := range []int{2, 5, 1000} {
			what := fmt.Sprintf("Pollers(limit %d)", limit)
			pages := readPages(t, what, limit, func(p storage.Page) ([]sources.Poller, error) {
				return db.Pollers(t.Context(), p)
			}, pollerID)
			if got := pageIDs(t, what, pages, pollerID, false); !slices.Equal(got, want) {
				t.Fatalf("%s = %v, want %v", what, got, want)
			}
		}
	})
}

func TestUpdatePoller(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		mustCreatePoller(t, e.db, storage.CLIActor(), tcpPoller("other"))
		p := mustCreatePoller(t, e.db, userActor(admin), httpPoller("web"))

		steps := []struct {
			name string
			// edit changes the stored poller into the update's input.
			edit func(p *sources.Poller)
			// want changes the input into the stored poller after the update.
			want func(p *sources.Poller)
		}{
			{name: "rename and relabel, disable",
				edit: func(p *sources.Poller) {
					p.Name, p.Labels, p.Annotations, p.Enabled = "web2", alerts.Labels{"severity": "ticket"}, nil, false
				},
				want: func(p *sources.Poller) { p.Annotations = map[string]string{} }},
			{name: "new schedule and streaks",
				edit: func(p *sources.Poller) { p.Schedule, p.FailAfter, p.RecoverAfter, p.Enabled = "@every 5s", 10, 5, true },
				want: func(*sources.Poller) {}},
			{name: "now a tcp poller",
				edit: func(p *sources.Poller) {
					*p = sources.Poller{ID: p.ID, Name: p.Name, Kind: sources.PollerTCP, Schedule: p.Schedule, Address: "[::1]:22",
						FailAfter: 1, RecoverAfter: 1, Version: p.Version}
				},
				want: func(p *sources.Poller) {
					p.Timeout, p.Labels, p.Annotations = sources.Duration(sources.DefaultPollTimeout), alerts.Labels{}, map[string]string{}
				}},
			{name: "now a prometheus poller",
				edit: func(p *sources.Poller) {
					q := promPoller(p.Name)
					q.ID, q.Version = p.ID, p.Version
					*p = q
				},
				want: func(p *sources.Poller) { p.Annotations = map[string]string{} }},
		}
		for _, step := range steps {
			e.clock.Advance(time.Minute)
			in := p
			step.edit(&in)
			// Times and who manages it are not the client's to set.
			in.CreatedAt, in.UpdatedAt, in.ManagedBy = time.Unix(0, 0), time.Unix(0, 0), alerts.ManagedByConfig
			got, err := e.db.UpdatePoller(ctx, userActor(admin), in)
			if err != nil {
				t.Fatalf("%s: UpdatePoller: %v", step.name, err)
			}
			want := in
			want.Version, want.CreatedAt, want.UpdatedAt, want.ManagedBy = p.Version+1, p.CreatedAt, e.clock.Stored(), ""
			step.want(&want)
			checkSame(t, step.name+": UpdatePoller", got, want)
			checkPoller(t, step.name, e.db, want)
			checkRuleAudit(t, e, step.name, userActor(admin), storage.ActionUpdate, "poller", p.ID, p, want)
			p = want
		}

		cases := []struct {
			name  string
			edit  func(p *sources.Poller)
			kind  error
			field string
		}{
			{name: "stale version", edit: func(p *sources.Poller) { p.Version-- }, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", edit: func(p *sources.Poller) { p.Version++ }, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", edit: func(p *sources.Poller) { p.Version = 0 }, kind: alerts.ErrConflict, field: "version"},
			{name: "taken name", edit: func(p *sources.Poller) { p.Name = "other" }, kind: alerts.ErrConflict, field: "name"},
			{name: "no query", edit: func(p *sources.Poller) { p.Query = " " }, kind: alerts.ErrInvalid, field: "query"},
			{name: "recover_after 0", edit: func(p *sources.Poller) { p.RecoverAfter = 0 }, kind: alerts.ErrInvalid, field: "recover_after"},
			{name: "no such poller", edit: func(p *sources.Poller) { p.ID = 9999 }, kind: alerts.ErrNotFound},
		}
		for _, c := range cases {
			in := p
			in.Name = "renamed"
			c.edit(&in)
			pollerRefused(t, e, "UpdatePoller with "+c.name, c.kind, c.field, func() error {
				_, err := e.db.UpdatePoller(ctx, userActor(admin), in)
				return err
			})
		}
	})
}

func TestManagedPoller(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		p := mustCreatePoller(t, e.db, storage.ConfigActor(), tcpPoller("file"))
		if p.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("poller created by the file has ManagedBy %q, want %q", p.ManagedBy, alerts.ManagedByConfig)
		}

		// Neither a user nor the command line may change it.
		for _, actor := range []storage.Actor{userActor(admin), storage.CLIActor()} {
			in := p
			in.Address = "db.internal:6432"
			pollerRefused(t, e, "UpdatePoller of a managed poller by "+actor.Name, alerts.ErrForbidden, "", func() error {
				_, err := e.db.UpdatePoller(ctx, actor, in)
				return err
			})
			pollerRefused(t, e, "DeletePoller of a managed poller by "+actor.Name, alerts.ErrForbidden, "", func() error {
				return e.db.DeletePoller(ctx, actor, p.ID, 0)
			})
		}

		// The file may, and the poller stays managed.
		e.clock.Advance(time.Minute)
		in := p
		in.Address = "db.internal:6432"
		got, err := e.db.UpdatePoller(ctx, storage.ConfigActor(), in)
		if err != nil {
			t.Fatalf("UpdatePoller of a managed poller by the file: %v", err)
		}
		want := in
		want.Version, want.UpdatedAt = 2, e.clock.Stored()
		checkSame(t, "UpdatePoller by the file", got, want)
		checkRuleAudit(t, e, "update by the file", storage.ConfigActor(), storage.ActionUpdate, "poller", p.ID, p, want)

		// A poller made through the API that the file declares becomes
		// managed by it.
		api := mustCreatePoller(t, e.db, userActor(admin), tcpPoller("api"))
		if got, err := e.db.UpdatePoller(ctx, storage.ConfigActor(), api); err != nil || got.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("UpdatePoller of an API poller by the file = %+v, %v; want it managed by the file", got, err)
		}

		if err := e.db.DeletePoller(ctx, storage.ConfigActor(), p.ID, want.Version); err != nil {
			t.Fatalf("DeletePoller of a managed poller by the file: %v", err)
		}
		checkRuleAudit(t, e, "delete by the file", storage.ConfigActor(), storage.ActionDelete, "poller", p.ID, want, nil)
	})
}

func TestDeletePoller(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		cases := []struct {
			name    string
			version func(p sources.Poller) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(sources.Poller) int64 { return 0 }},
			{name: "right version", version: func(p sources.Poller) int64 { return p.Version }},
			{name: "stale version", version: func(p sources.Poller) int64 { return p.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(p sources.Poller) int64 { return p.Version + 1 }, kind: alerts.ErrConflict},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := mustCreatePoller(t, e.db, storage.CLIActor(), tcpPoller(fmt.Sprintf("victim%d", i)))
				p.Enabled = true
				p, err := e.db.UpdatePoller(ctx, storage.CLIActor(), p) // version 2
				if err != nil {
					t.Fatal(err)
				}
				state := sources.PollerState{PollerID: p.ID, Name: p.Name, Outcome: sources.OutcomeFailure, Failures: 1, Node: "n1"}
				if err := e.db.SavePollerState(ctx, state); err != nil {
					t.Fatal(err)
				}
				if c.kind != nil {
					pollerRefused(t, e, "DeletePoller with "+c.name, c.kind, "version", func() error {
						return e.db.DeletePoller(ctx, storage.CLIActor(), p.ID, c.version(p))
					})
					return
				}
				if err := e.db.DeletePoller(ctx, storage.CLIActor(), p.ID, c.version(p)); err != nil {
					t.Fatalf("DeletePoller with %s: %v", c.name, err)
				}
				checkRuleAudit(t, e, "delete", storage.CLIActor(), storage.ActionDelete, "poller", p.ID, p, nil)
				_, err = e.db.Poller(ctx, p.ID)
				checkErr(t, "Poller after delete", err, alerts.ErrNotFound, "")
				checkErr(t, "second DeletePoller", e.db.DeletePoller(ctx, storage.CLIActor(), p.ID, 0), alerts.ErrNotFound, "")
				// The state outlives the poller, for the leader to resolve
				// its alerts.
				states, err := e.db.PollerStates(ctx, []int64{p.ID})
				if err != nil || len(states) != 1 {
					t.Fatalf("PollerStates of the deleted poller = %+v, %v; want its state", states, err)
				}
				checkSame(t, "state of the deleted poller", states[0], state)
				// The name is free again.
				mustCreatePoller(t, e.db, storage.CLIActor(), tcpPoller(p.Name))
			})
		}
	})
}

func TestPollerStates(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		if states, err := db.PollerStates(ctx, nil); err != nil || len(states) != 0 {
			t.Fatalf("PollerStates of an empty store = %+v, %v; want none", states, err)
		}

		// Times with sub-millisecond digits, outside UTC; a latency with
		// sub-microsecond digits.
		at := e.clock.Now().Add(123_456 * time.Nanosecond)
		web := sources.PollerState{
			PollerID: 7, Name: "web", LastRunAt: at, NextRunAt: at.Add(30 * time.Second), Outcome: sources.OutcomeFailure,
			Latency: 1234567 * time.Nanosecond, LastError: "GET https://status.example.com: 503 Service Unavailable",
			Failures: 4, Node: "node-a",
			Series: []sources.SeriesState{{
				Fingerprint: alerts.Labels{"alertname": "web"}.Fingerprint(), Labels: alerts.Labels{"alertname": "web"},
				Failures: 4, Since: at.Add(-time.Minute), Firing: true,
			}},
		}
		// A state before its first run: no times, no series.
		fresh := sources.PollerState{PollerID: 3, Name: "fresh", Node: "node-b"}
		for _, st := range []sources.PollerState{web, fresh} {
			if err := db.SavePollerState(ctx, st); err != nil {
				t.Fatalf("SavePollerState(%d): %v", st.PollerID, err)
			}
		}
		// What the store keeps: times in UTC to the millisecond, latency to
		// the microsecond.
		storedWeb := web
		storedWeb.LastRunAt, storedWeb.NextRunAt = stored(web.LastRunAt), stored(web.NextRunAt)
		storedWeb.Latency = 1234 * time.Microsecond
		storedWeb.Series = slices.Clone(web.Series)
		storedWeb.Series[0].Since = stored(web.Series[0].Since)

		checkStates := func(what string, ids []int64, want ...sources.PollerState) {
			t.Helper()
			got, err := db.PollerStates(ctx, ids)
			if err != nil {
				t.Fatalf("%s: PollerStates(%v): %v", what, ids, err)
			}
			checkSame(t, fmt.Sprintf("%s: PollerStates(%v)", what, ids), got, want)
			for i := range got {
				for _, tm := range []time.Time{got[i].LastRunAt, got[i].NextRunAt} {
					if !tm.IsZero() && tm.Location() != time.UTC {
						t.Fatalf("%s: state %d has a time in %v, want UTC", what, got[i].PollerID, tm.Location())
					}
				}
			}
		}
		checkStates("saved", nil, fresh, storedWeb)
		checkStates("saved", []int64{7, 3, 7, 12345}, fresh, storedWeb)
		checkStates("saved", []int64{7}, storedWeb)
		checkStates("saved", []int64{}, []sources.PollerState(nil)...)

		// A save replaces the state.
		e.clock.Advance(time.Minute)
		next := sources.PollerState{PollerID: 7, Name: "web2", LastRunAt: e.clock.Stored(), Outcome: sources.OutcomeSuccess,
			Latency: 3 * time.Millisecond, Successes: 1, Node: "node-b"}
		if err := db.SavePollerState(ctx, next); err != nil {
			t.Fatalf("SavePollerState again: %v", err)
		}
		checkStates("replaced", nil, fresh, next)
		if n := e.count(t, `SELECT COUNT(*) FROM poller_state`); n != 2 {
			t.Fatalf("poller_state has %d rows, want 2", n)
		}

		if err := db.DeletePollerState(ctx, 7); err != nil {
			t.Fatalf("DeletePollerState: %v", err)
		}
		checkStates("deleted", nil, fresh)
		if err := db.DeletePollerState(ctx, 7); err != nil {
			t.Fatalf("DeletePollerState of a state that is gone: %v", err)
		}
		checkStates("deleted twice", nil, fresh)
	})
}
