package app_test

import (
	"errors"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// pollersByName reads every poller of the store, by name.
func pollersByName(t *testing.T, store *storage.DB) map[string]sources.Poller {
	t.Helper()
	all, err := store.AllPollers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]sources.Poller, len(all))
	for _, p := range all {
		byName[p.Name] = p
	}
	return byName
}

// Pollers declared in config.yaml are created, updated when the file
// changes any field, deleted when it no longer declares them, and left alone
// by a restart; the API may not change them.
func TestDeclaredPollers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := t.Context()
		// A first start migrates the store; a poller made through the API
		// that the file then declares is taken over.
		if err := start(t, testConfig(target)).stop(t); err != nil {
			t.Fatal(err)
		}
		store := openStore(t, target)
		byHand, err := store.CreatePoller(ctx, storage.CLIActor(), sources.Poller{
			Name: "db", Kind: sources.PollerTCP, Schedule: "@every 1h", Address: "127.0.0.1:9",
			FailAfter: 1, RecoverAfter: 1, Enabled: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		kept, err := store.CreatePoller(ctx, storage.CLIActor(), sources.Poller{
			Name: "by-hand", Kind: sources.PollerTCP, Schedule: "@every 1h", Address: "127.0.0.1:9",
			FailAfter: 1, RecoverAfter: 1, Enabled: true,
		})
		if err != nil {
			t.Fatal(err)
		}

		// Hourly schedules: no check runs while the test does.
		off, five := false, 5
		cfg := testConfig(target)
		cfg.Pollers.Checks = []config.Poller{
			{Name: "shop", Kind: "http", Schedule: "@every 1h", URL: "http://127.0.0.1:9/healthz",
				ExpectStatus: []string{"200", "204"}, Labels: map[string]string{"severity": "critical"}},
			{Name: "db", Kind: "tcp", Schedule: "@every 1h", Address: "127.0.0.1:9", RecoverAfter: &five, Enabled: &off},
		}
		if err := start(t, cfg).stop(t); err != nil {
			t.Fatal(err)
		}
		got := pollersByName(t, store)
		shop, db := got["shop"], got["db"]
		if shop.ManagedBy != alerts.ManagedByConfig || shop.FailAfter != sources.DefaultFailAfter || !shop.Enabled ||
			shop.Method != "GET" || len(shop.ExpectStatus) != 2 || shop.Labels["severity"] != "critical" {
			t.Errorf("declared shop = %+v", shop)
		}
		if db.ID != byHand.ID || db.ManagedBy != alerts.ManagedByConfig || db.Version != 2 || db.RecoverAfter != 5 ||
			db.FailAfter != sources.DefaultFailAfter || db.Enabled {
			t.Errorf("db, taken over by the file = %+v", db)
		}
		if got["by-hand"].Version != kept.Version || got["by-hand"].ManagedBy != "" {
			t.Errorf("a poller the file does not name = %+v, want it untouched", got["by-hand"])
		}
		// The API (any actor but the file) may not change them.
		if _, err := store.UpdatePoller(ctx, storage.CLIActor(), shop); !errors.Is(err, alerts.ErrForbidden) {
			t.Errorf("UpdatePoller of a declared poller by the CLI = %v, want ErrForbidden", err)
		}
		if err := store.DeletePoller(ctx, storage.CLIActor(), db.ID, 0); !errors.Is(err, alerts.ErrForbidden) {
			t.Errorf("DeletePoller of a declared poller by the CLI = %v, want ErrForbidden", err)
		}

		// A restart with the same file changes nothing.
		before := auditCount(t, store)
		if err := start(t, cfg).stop(t); err != nil {
			t.Fatal(err)
		}
		if after := auditCount(t, store); after != before {
			t.Errorf("a restart with the same file wrote %d audit rows, want none", after-before)
		}

		// Any field the file changes is applied; a poller it drops goes.
		cfg.Pollers.Checks[0].Annotations = map[string]string{"summary": "the shop is down"}
		cfg.Pollers.Checks = cfg.Pollers.Checks[:1]
		if err := start(t, cfg).stop(t); err != nil {
			t.Fatal(err)
		}
		got = pollersByName(t, store)
		if s := got["shop"]; s.Version != shop.Version+1 || s.Annotations["summary"] != "the shop is down" {
			t.Errorf("shop after the edit = %+v, want the annotation, one version later", s)
		}
		if _, ok := got["db"]; ok {
			t.Error("db is still there after the file dropped it")
		}
		if got["by-hand"].Version != kept.Version {
			t.Errorf("by-hand = %+v, want it untouched", got["by-hand"])
		}
	})
}
