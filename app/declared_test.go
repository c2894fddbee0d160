package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/app"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// declaredConfig declares a team, two routes and a source on target.
func declaredConfig(target testdb.Target) config.Config {
	cfg := testConfig(target)
	off := false
	cfg.Teams = []config.Team{{Name: "db", Members: []string{"bob", "alice"}}, {Name: "ops", Members: []string{"alice"}}}
	cfg.Routes = []config.Route{
		{Name: "db-critical", Matchers: []string{`team="db"`}, Teams: []string{"db"}},
		{Name: "spare", Users: []string{"alice"}, Enabled: &off},
	}
	cfg.Sources = []config.Source{{Name: "prod-am", Kind: "alertmanager", Auth: "bearer", Secret: "prod-am-secret-0123456789"}}
	return cfg
}

// routesTest posts a label set to /routes/test and returns the users it
// would notify.
func routesTest(t *testing.T, url, token string, labels map[string]string) []int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"labels": labels})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/v1/routes/test", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res alerts.Resolution
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /routes/test = %d, %v", resp.StatusCode, err)
	}
	return res.Users
}

// auditCount counts the audit rows.
func auditCount(t *testing.T, store *storage.DB) int {
	t.Helper()
	entries, err := store.AuditLog(t.Context(), storage.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestDeclaredRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := t.Context()
		// A first start creates the admin; the users the file names come next.
		first := start(t, testConfig(target))
		token := tokenLine.FindStringSubmatch(first.log.String())
		if token == nil {
			t.Fatalf("no admin token in the log:\n%s", first.log)
		}
		if err := first.stop(t); err != nil {
			t.Fatal(err)
		}
		store := openStore(t, target)
		var ids []int64
		for _, name := range []string{"alice", "bob"} {
			u, err := store.CreateUser(ctx, storage.CLIActor(), auth.User{Name: name, Role: auth.RoleResponder})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		alice, bob := ids[0], ids[1]
		// A team made through the API that the file then declares is taken over.
		if _, err := store.CreateTeam(ctx, storage.CLIActor(), alerts.Team{Name: "ops"}); err != nil {
			t.Fatal(err)
		}

		cfg := declaredConfig(target)
		r := start(t, cfg)
		if got := routesTest(t, r.url, token[1], map[string]string{"team": "db"}); !slices.Equal(got, []int64{alice, bob}) {
			t.Errorf("routes/test {team=db} users = %v, want alice and bob %v", got, []int64{alice, bob})
		}
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}

		teams, _ := store.Teams(ctx, storage.TeamFilter{}, storage.Page{Limit: 10})
		for _, team := range teams {
			if team.ManagedBy != alerts.ManagedByConfig {
				t.Errorf("team %s: managed_by %q, want %q", team.Name, team.ManagedBy, alerts.ManagedByConfig)
			}
		}
		routes, _ := store.Routes(ctx, storage.RouteFilter{}, storage.Page{Limit: 10})
		if len(routes) != 2 || routes[0].Name != "db-critical" || routes[1].Name != "spare" || routes[1].Enabled {
			t.Fatalf("routes after the first start = %+v, want db-critical then a disabled spare", routes)
		}
		src, err := store.SourceByName(ctx, "prod-am")
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte("prod-am-secret-0123456789")); !bytes.Equal(src.Credential, sum[:]) || src.ManagedBy != alerts.ManagedByConfig {
			t.Errorf("source prod-am = %+v, want the secret's hash, managed by config", src)
		}
		// The API (any actor but the file) may not change them.
		upd := routes[0]
		if _, err := store.UpdateRoute(ctx, storage.Actor{UserID: alice, Name: "alice"}, upd); !errors.Is(err, alerts.ErrForbidden) {
			t.Errorf("UpdateRoute of a declared route by a user = %v, want ErrForbidden", err)
		}

		// A restart with the same file changes nothing.
		before := auditCount(t, store)
		if err := start(t, cfg).stop(t); err != nil {
			t.Fatal(err)
		}
		if after := auditCount(t, store); after != before {
			t.Errorf("a restart with the same file wrote %d audit rows, want none", after-before)
		}

		// A new file: a team loses a member, a route and the source go.
		cfg.Teams[0].Members = []string{"alice"}
		cfg.Routes = cfg.Routes[:1]
		cfg.Sources = nil
		if err := start(t, cfg).stop(t); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(teams, func(t alerts.Team) bool { return t.Name == "db" })
		db, err := store.Team(ctx, teams[i].ID)
		if err != nil || !slices.Equal(db.Members, []int64{alice}) || db.Version != teams[i].Version+1 {
			t.Errorf("team db after the edit = %+v, %v; want only alice, one version later", db, err)
		}
		routes, _ = store.Routes(ctx, storage.RouteFilter{}, storage.Page{Limit: 10})
		if len(routes) != 1 || routes[0].Name != "db-critical" {
			t.Errorf("routes after removing spare from the file = %+v, want db-critical alone", routes)
		}
		if _, err := store.SourceByName(ctx, "prod-am"); !errors.Is(err, alerts.ErrNotFound) {
			t.Errorf("source prod-am after removing it from the file: %v, want ErrNotFound", err)
		}
	})
}

func TestDeclaredUnknownUser(t *testing.T) {
	target := testdb.SQLite(t)
	cfg := testConfig(target)
	cfg.Teams = []config.Team{{Name: "db", Members: []string{"nobody"}}}
	logger, _ := newLogger()
	a, err := app.New(t.Context(), cfg, logger)
	if err == nil {
		a.Run(canceled())
		t.Fatal("New with a team naming an unknown user: no error")
	}
	for _, want := range []string{"teams[0].members[0]", `"nobody"`, "tocsin user add nobody"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not say %s", err, want)
		}
	}
	checkStoreClosed(t, target)
}
