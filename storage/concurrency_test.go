package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// race runs the calls at once and returns their errors, in order.
func race(calls ...func() error) []error {
	errs := make([]error, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() {
			<-start
			errs[i] = call()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWins fails the test unless exactly one error is nil and every other
// one is a conflict. It returns the index of the winner.
func oneWins(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: calls %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, alerts.ErrConflict):
			t.Fatalf("%s: call %d: got error %v, want a conflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: every call failed: %v", what, errs)
	}
	return winner
}

func TestConcurrentUpdateUser(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		mustCreateUser(t, db, "root", auth.RoleAdmin)
		u := mustCreateUser(t, db, "contested", auth.RoleResponder)
		for round := range 5 {
			what := fmt.Sprintf("round %d", round)
			rows := e.auditRows(t)
			results := make([]auth.User, 2)
			errs := race(
				func() (err error) {
					in := u
					in.Name = fmt.Sprintf("first-%d", round)
					results[0], err = db.UpdateUser(ctx, storage.CLIActor(), in)
					return err
				},
				func() (err error) {
					in := u
					in.Name, in.Role = fmt.Sprintf("second-%d", round), auth.RoleAdmin
					results[1], err = db.UpdateUser(ctx, storage.CLIActor(), in)
					return err
				},
			)
			w := oneWins(t, what, errs)
			got, err := db.User(ctx, u.ID)
			if err != nil || !sameUser(got, results[w]) || got.Version != u.Version+1 {
				t.Fatalf("%s: stored user %+v, %v; want the winner's %+v at version %d", what, got, err, results[w], u.Version+1)
			}
			if n := e.auditRows(t); n != rows+1 {
				t.Fatalf("%s: %d audit rows written, want 1", what, n-rows)
			}
			// Back to a responder for the next round.
			got.Role = auth.RoleResponder
			if u, err = db.UpdateUser(ctx, storage.CLIActor(), got); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestConcurrentAdminRemoval races two changes that would each leave one
// admin, and together none: exactly one may pass.
func TestConcurrentAdminRemoval(t *testing.T) {
	t.Parallel()
	type remover func(ctx context.Context, db *storage.DB, u auth.User) func() error
	demote := func(ctx context.Context, db *storage.DB, u auth.User) func() error {
		return func() error {
			u.Role = auth.RoleResponder
			_, err := db.UpdateUser(ctx, storage.CLIActor(), u)
			return err
		}
	}
	remove := func(ctx context.Context, db *storage.DB, u auth.User) func() error {
		return func() error { return db.DeleteUser(ctx, storage.CLIActor(), u.ID, u.Version) }
	}
	cases := []struct {
		name string
		a, b remover
	}{
		{"demote both", demote, demote},
		{"delete both", remove, remove},
		{"demote one, delete the other", demote, remove},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachEnv(t, func(t *testing.T, e *env) {
				ctx := t.Context()
				// Each round races the admin left by the round before (or
				// a new one) against a new admin.
				a := mustCreateUser(t, e.db, "first", auth.RoleAdmin)
				for round := range 5 {
					what := fmt.Sprintf("%s, round %d", c.name, round)
					b := mustCreateUser(t, e.db, fmt.Sprintf("new%d", round), auth.RoleAdmin)
					oneWins(t, what, race(c.a(ctx, e.db, a), c.b(ctx, e.db, b)))
					var admins []auth.User
					for _, u := range takeSnapshot(t, e.db).users {
						if u.IsAdmin() {
							admins = append(admins, u)
						} else if err := e.db.DeleteUser(ctx, storage.CLIActor(), u.ID, 0); err != nil {
							t.Fatalf("%s: delete the demoted user: %v", what, err)
						}
					}
					if len(admins) != 1 {
						t.Fatalf("%s: admins left %+v, want one", what, admins)
					}
					a = admins[0]
				}
			})
		})
	}
}
