package storage_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

func TestBootstrap(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		token, created, err := db.Bootstrap(ctx)
		if err != nil || !created {
			t.Fatalf("Bootstrap on an empty store = created %v, %v; want created", created, err)
		}
		if !strings.HasPrefix(token, auth.TokenPrefix) || len(token) < len(auth.TokenPrefix)+40 {
			t.Fatalf("Bootstrap returned token %q, want a %s token", token, auth.TokenPrefix)
		}
		admin, err := db.UserByName(ctx, "admin")
		if err != nil {
			t.Fatalf("UserByName(admin) after Bootstrap: %v", err)
		}
		now := e.clock.Stored()
		want := auth.User{ID: admin.ID, Name: "admin", Role: auth.RoleAdmin, Version: 1, CreatedAt: now, UpdatedAt: now}
		if !sameUser(admin, want) {
			t.Fatalf("bootstrapped user = %+v, want %+v", admin, want)
		}
		u, tok, err := db.Authenticate(ctx, token)
		if err != nil || !sameUser(u, admin) {
			t.Fatalf("Authenticate with the bootstrap token = %+v, %v; want %+v", u, err, admin)
		}
		if tok.UserID != admin.ID || tok.ExpiresAt != nil || tok.Version != 1 {
			t.Fatalf("bootstrap token = %s, want admin's, without expiry, at version 1", fmtToken(tok))
		}

		// Later calls do nothing.
		before, audits := takeSnapshot(t, db), e.auditRows(t)
		for range 2 {
			token, created, err := db.Bootstrap(ctx)
			if err != nil || created || token != "" {
				t.Fatalf("Bootstrap again = %q, created %v, %v; want nothing", token, created, err)
			}
		}
		checkUnchanged(t, "Bootstrap again", db, before)
		if got := e.auditRows(t); got != audits {
			t.Fatalf("Bootstrap again wrote %d audit rows", got-audits)
		}
	})
}

func TestBootstrapStoreWithUsers(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		// Any user at all, even one that is no admin, means the store was set
		// up by someone.
		mustCreateUser(t, e.db, "alice", auth.RoleResponder)
		before, audits := takeSnapshot(t, e.db), e.auditRows(t)
		token, created, err := e.db.Bootstrap(t.Context())
		if err != nil || created || token != "" {
			t.Fatalf("Bootstrap on a store with a user = %q, created %v, %v; want nothing", token, created, err)
		}
		checkUnchanged(t, "Bootstrap on a store with a user", e.db, before)
		if got := e.auditRows(t); got != audits {
			t.Fatalf("Bootstrap on a store with a user wrote %d audit rows", got-audits)
		}
		_, err = e.db.UserByName(t.Context(), "admin")
		checkErr(t, "UserByName(admin)", err, alerts.ErrNotFound, "")
	})
}

func TestBootstrapConcurrentNodes(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		const nodes = 8
		dbs := make([]*storage.DB, nodes)
		for i := range dbs {
			dbs[i] = openStore(t, e.target, e.clock)
		}
		type result struct {
			token   string
			created bool
			err     error
		}
		results := make([]result, nodes)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				var r result
				r.token, r.created, r.err = db.Bootstrap(ctx)
				results[i] = r
			})
		}
		close(start)
		wg.Wait()

		var winner string
		for i, r := range results {
			if r.err != nil {
				t.Errorf("node %d: Bootstrap: %v", i, r.err)
			}
			if r.created {
				if winner != "" {
					t.Errorf("node %d: Bootstrap created the admin too", i)
				}
				winner = r.token
			} else if r.token != "" {
				t.Errorf("node %d: Bootstrap returned a token without creating it", i)
			}
		}
		if winner == "" {
			t.Fatalf("no node created the admin: %+v", results)
		}
		users := takeSnapshot(t, e.db)
		if len(users.users) != 1 || users.users[0].Name != "admin" || !users.users[0].IsAdmin() {
			t.Fatalf("after concurrent Bootstrap the store has users %+v, want one admin", users.users)
		}
		if len(users.tokens) != 1 {
			t.Fatalf("after concurrent Bootstrap the store has %d tokens, want 1", len(users.tokens))
		}
		// Audit: one user and one token created.
		if n := e.auditRows(t); n != 2 {
			t.Fatalf("after concurrent Bootstrap the audit log has %d rows, want 2", n)
		}
		for i, db := range dbs {
			if u, _, err := db.Authenticate(ctx, winner); err != nil || u.ID != users.users[0].ID {
				t.Fatalf("node %d: Authenticate with the bootstrap token = user %d, %v; want %d", i, u.ID, err, users.users[0].ID)
			}
		}
	})
}
