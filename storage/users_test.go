package storage_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		u, err := db.CreateUser(ctx, storage.CLIActor(), auth.User{
			// ID, version and times are the store's to set.
			ID: 99, Name: "alice", Role: auth.RoleResponder, Version: 7,
			CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0),
		})
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		now := e.clock.Stored()
		want := auth.User{ID: u.ID, Name: "alice", Role: auth.RoleResponder, Version: 1, CreatedAt: now, UpdatedAt: now}
		if u.ID <= 0 || !sameUser(u, want) {
			t.Fatalf("CreateUser returned %+v, want %+v with an ID > 0", u, want)
		}
		for name, get := range map[string]func() (auth.User, error){
			"User":       func() (auth.User, error) { return db.User(ctx, u.ID) },
			"UserByName": func() (auth.User, error) { return db.UserByName(ctx, "alice") },
		} {
			got, err := get()
			if err != nil || !sameUser(got, want) {
				t.Fatalf("%s = %+v, %v; want %+v", name, got, err, want)
			}
		}

		e.clock.Advance(time.Second)
		second := mustCreateUser(t, db, "bob", auth.RoleAdmin)
		if second.ID <= u.ID {
			t.Fatalf("second user's ID %d is not after the first's %d", second.ID, u.ID)
		}
		if !sameTime(second.CreatedAt, e.clock.Stored()) {
			t.Fatalf("second user created at %v, want the clock's %v", second.CreatedAt, e.clock.Stored())
		}
	})
}

func TestCreateUserRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		mustCreateUser(t, e.db, "taken", auth.RoleAdmin)
		cases := []struct {
			name  string
			user  auth.User
			kind  error
			field string
		}{
			{name: "duplicate name", user: auth.User{Name: "taken", Role: auth.RoleResponder}, kind: alerts.ErrConflict},
			{name: "empty name", user: auth.User{Name: "", Role: auth.RoleAdmin}, kind: alerts.ErrInvalid, field: "name"},
			{name: "upper-case name", user: auth.User{Name: "Taken", Role: auth.RoleAdmin}, kind: alerts.ErrInvalid, field: "name"},
			{name: "name starting with a dash", user: auth.User{Name: "-x", Role: auth.RoleAdmin}, kind: alerts.ErrInvalid, field: "name"},
			{name: "name with a space", user: auth.User{Name: "a b", Role: auth.RoleAdmin}, kind: alerts.ErrInvalid, field: "name"},
			{name: "name of 65 characters", user: auth.User{Name: strings.Repeat("a", 65), Role: auth.RoleAdmin}, kind: alerts.ErrInvalid, field: "name"},
			{name: "empty role", user: auth.User{Name: "carol"}, kind: alerts.ErrInvalid, field: "role"},
			{name: "unknown role", user: auth.User{Name: "carol", Role: "root"}, kind: alerts.ErrInvalid, field: "role"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before, audits := takeSnapshot(t, e.db), e.auditRows(t)
				_, err := e.db.CreateUser(t.Context(), storage.CLIActor(), c.user)
				checkErr(t, fmt.Sprintf("CreateUser(%+v)", c.user), err, c.kind, c.field)
				checkUnchanged(t, c.name, e.db, before)
				if got := e.auditRows(t); got != audits {
					t.Fatalf("%s: %d audit rows after, %d before", c.name, got, audits)
				}
			})
		}
		// A name of 64 characters is the longest allowed.
		mustCreateUser(t, e.db, strings.Repeat("b", 64), auth.RoleResponder)
	})
}

func TestUserNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		missing := u.ID + 1000
		cases := []struct {
			name string
			call func() error
		}{
			{"User", func() error { _, err := db.User(ctx, missing); return err }},
			{"UserByName", func() error { _, err := db.UserByName(ctx, "nobody"); return err }},
			{"UserByName is case-sensitive", func() error { _, err := db.UserByName(ctx, "ALICE"); return err }},
			{"UpdateUser", func() error {
				_, err := db.UpdateUser(ctx, storage.CLIActor(), auth.User{ID: missing, Name: "x", Role: auth.RoleAdmin, Version: 1})
				return err
			}},
			{"DeleteUser", func() error { return db.DeleteUser(ctx, storage.CLIActor(), missing, 0) }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				checkErr(t, c.name, c.call(), alerts.ErrNotFound, "")
			})
		}
	})
}

func TestUsersPaging(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		var want []int64
		for i := range 7 {
			want = append(want, mustCreateUser(t, db, fmt.Sprintf("user%d", i), auth.RoleResponder).ID)
		}
		userID := func(u auth.User) int64 { return u.ID }
		cases := []struct {
			limit int
			sizes []int
		}{
			{limit: 3, sizes: []int{3, 3, 1}},
			{limit: 7, sizes: []int{7, 0}},
			{limit: 1000, sizes: []int{7}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
				what := fmt.Sprintf("Users with limit %d", c.limit)
				pages := readPages(t, what, c.limit, func(p storage.Page) ([]auth.User, error) { return db.Users(t.Context(), p) }, userID)
				if got := pageSizes(pages); !slices.Equal(got, c.sizes) {
					t.Fatalf("%s: page sizes %v, want %v", what, got, c.sizes)
				}
				if got := pageIDs(t, what, pages, userID, false); !slices.Equal(got, want) {
					t.Fatalf("%s: IDs %v, want %v", what, got, want)
				}
			})
		}
		// A cursor in the middle starts after it.
		page, err := db.Users(t.Context(), storage.Page{Cursor: want[4], Limit: 10})
		if err != nil || len(page) != 2 || page[0].ID != want[5] {
			t.Fatalf("Users after cursor %d = %+v, %v; want users %v", want[4], page, err, want[5:])
		}
	})
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		mustCreateUser(t, db, "root", auth.RoleAdmin)
		u := mustCreateUser(t, db, "alice", auth.RoleResponder)
		mustCreateUser(t, db, "bob", auth.RoleResponder)

		e.clock.Advance(time.Minute)
		in := u
		in.Name, in.Role = "alice2", auth.RoleAdmin
		in.CreatedAt = time.Unix(0, 0) // not the client's to change
		updated, err := db.UpdateUser(ctx, storage.CLIActor(), in)
		if err != nil {
			t.Fatalf("UpdateUser at the right version: %v", err)
		}
		want := auth.User{ID: u.ID, Name: "alice2", Role: auth.RoleAdmin, Version: 2, CreatedAt: u.CreatedAt, UpdatedAt: e.clock.Stored()}
		if !sameUser(updated, want) {
			t.Fatalf("UpdateUser returned %+v, want %+v", updated, want)
		}
		if got, err := db.User(ctx, u.ID); err != nil || !sameUser(got, want) {
			t.Fatalf("User after update = %+v, %v; want %+v", got, err, want)
		}
		if _, err := db.UserByName(ctx, "alice"); err == nil {
			t.Fatal("the old name still finds the renamed user")
		}

		cases := []struct {
			name  string
			user  auth.User
			kind  error
			field string
		}{
			{name: "stale version", user: auth.User{ID: u.ID, Name: "alice3", Role: auth.RoleAdmin, Version: 1}, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", user: auth.User{ID: u.ID, Name: "alice3", Role: auth.RoleAdmin, Version: 3}, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", user: auth.User{ID: u.ID, Name: "alice3", Role: auth.RoleAdmin}, kind: alerts.ErrConflict, field: "version"},
			{name: "taken name", user: auth.User{ID: u.ID, Name: "bob", Role: auth.RoleAdmin, Version: 2}, kind: alerts.ErrConflict},
			{name: "invalid name", user: auth.User{ID: u.ID, Name: "Alice", Role: auth.RoleAdmin, Version: 2}, kind: alerts.ErrInvalid, field: "name"},
			{name: "invalid role", user: auth.User{ID: u.ID, Name: "alice3", Role: "owner", Version: 2}, kind: alerts.ErrInvalid, field: "role"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				before, audits := takeSnapshot(t, db), e.auditRows(t)
				_, err := db.UpdateUser(ctx, storage.CLIActor(), c.user)
				checkErr(t, fmt.Sprintf("%s: UpdateUser(%+v)", c.name, c.user), err, c.kind, c.field)
				checkUnchanged(t, c.name, db, before)
				if got := e.auditRows(t); got != audits {
					t.Fatalf("%s: %d audit rows after, %d before", c.name, got, audits)
				}
			})
		}

		// Keeping one's own name is no conflict.
		in = want
		in.Role = auth.RoleResponder
		if _, err := db.UpdateUser(ctx, storage.CLIActor(), in); err != nil {
			t.Fatalf("UpdateUser keeping the name: %v", err)
		}
	})
}

func TestKeepOneAdmin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		ctx := t.Context()
		root := mustCreateUser(t, db, "root", auth.RoleAdmin)
		mustCreateUser(t, db, "alice", auth.RoleResponder)

		demote := func(u auth.User) (auth.User, error) {
			u.Role = auth.RoleResponder
			return db.UpdateUser(ctx, storage.CLIActor(), u)
		}
		before := takeSnapshot(t, db)
		_, err := demote(root)
		checkErr(t, "demoting the only admin", err, alerts.ErrConflict, "")
		checkErr(t, "deleting the only admin", db.DeleteUser(ctx, storage.CLIActor(), root.ID, 0), alerts.ErrConflict, "")
		checkUnchanged(t, "refused changes to the only admin", db, before)

		// A rename of the only admin keeps an admin.
		root.Name = "superuser"
		root, err = db.UpdateUser(ctx, storage.CLIActor(), root)
		if err != nil {
			t.Fatalf("renaming the only admin: %v", err)
		}

		// With a second admin, either may go.
		second := mustCreateUser(t, db, "second", auth.RoleAdmin)
		root, err = demote(root)
		if err != nil {
			t.Fatalf("demoting an admin while another exists: %v", err)
		}
		// Now second is the only admin.
		before = takeSnapshot(t, db)
		_, err = demote(second)
		checkErr(t, "demoting the admin left", err, alerts.ErrConflict, "")
		checkErr(t, "deleting the admin left", db.DeleteUser(ctx, storage.CLIActor(), second.ID, second.Version), alerts.ErrConflict, "")
		checkUnchanged(t, "refused changes to the admin left", db, before)

		root.Role = auth.RoleAdmin
		if _, err := db.UpdateUser(ctx, storage.CLIActor(), root); err != nil {
			t.Fatalf("promoting root back: %v", err)
		}
		if err := db.DeleteUser(ctx, storage.CLIActor(), second.ID, second.Version); err != nil {
			t.Fatalf("deleting an admin while another exists: %v", err)
		}
		// Deleting a responder never needs an admin check.
		alice, err := db.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUser(ctx, storage.CLIActor(), alice.ID, 0); err != nil {
			t.Fatalf("deleting a responder: %v", err)
		}
	})
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		mustCreateUser(t, db, "root", auth.RoleAdmin)
		cases := []struct {
			name string
			// version is what DeleteUser is given, from the user's version.
			version func(u auth.User) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(auth.User) int64 { return 0 }},
			{name: "right version", version: func(u auth.User) int64 { return u.Version }},
			{name: "stale version", version: func(u auth.User) int64 { return u.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(u auth.User) int64 { return u.Version + 1 }, kind: alerts.ErrConflict},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u := mustCreateUser(t, db, fmt.Sprintf("victim%d", i), auth.RoleResponder)
				u.Name += "-renamed"
				u, err := db.UpdateUser(ctx, storage.CLIActor(), u) // version 2
				if err != nil {
					t.Fatal(err)
				}
				before := takeSnapshot(t, db)
				err = db.DeleteUser(ctx, storage.CLIActor(), u.ID, c.version(u))
				if c.kind != nil {
					checkErr(t, fmt.Sprintf("DeleteUser(%d, version %d)", u.ID, c.version(u)), err, c.kind, "version")
					checkUnchanged(t, c.name, db, before)
					return
				}
				if err != nil {
					t.Fatalf("DeleteUser(%d, version %d): %v", u.ID, c.version(u), err)
				}
				_, err = db.User(ctx, u.ID)
				checkErr(t, "User after delete", err, alerts.ErrNotFound, "")
				checkErr(t, "second DeleteUser", db.DeleteUser(ctx, storage.CLIActor(), u.ID, 0), alerts.ErrNotFound, "")
				// The name is free again.
				mustCreateUser(t, db, u.Name, auth.RoleResponder)
			})
		}
	})
}

func TestDeleteUserDeletesTokens(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		mustCreateUser(t, db, "root", auth.RoleAdmin)
		gone := mustCreateUser(t, db, "gone", auth.RoleResponder)
		kept := mustCreateUser(t, db, "kept", auth.RoleResponder)
		t1, p1 := mustCreateToken(t, db, gone.ID, "one", nil)
		t2, _ := mustCreateToken(t, db, gone.ID, "two", nil)
		t3, p3 := mustCreateToken(t, db, kept.ID, "three", nil)

		if err := db.DeleteUser(ctx, storage.CLIActor(), gone.ID, gone.Version); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		for _, tok := range []auth.Token{t1, t2} {
			_, err := db.Token(ctx, tok.ID)
			checkErr(t, fmt.Sprintf("Token(%d) of the deleted user", tok.ID), err, alerts.ErrNotFound, "")
		}
		if n := e.count(t, `SELECT COUNT(*) FROM tokens WHERE user_id = ?`, gone.ID); n != 0 {
			t.Fatalf("%d tokens of the deleted user left in the database, want 0", n)
		}
		if toks, err := db.Tokens(ctx, gone.ID, storage.Page{Limit: 10}); err != nil || len(toks) != 0 {
			t.Fatalf("Tokens of the deleted user = %d tokens, %v; want none", len(toks), err)
		}
		_, _, err := db.Authenticate(ctx, p1)
		checkErr(t, "Authenticate with a token of the deleted user", err, alerts.ErrUnauthorized, "")

		// The other user's token is untouched.
		if got, err := db.Token(ctx, t3.ID); err != nil || !sameToken(got, t3, true) {
			t.Fatalf("Token(%d) of the kept user = %s, %v; want %s", t3.ID, fmtToken(got), err, fmtToken(t3))
		}
		if u, _, err := db.Authenticate(ctx, p3); err != nil || u.ID != kept.ID {
			t.Fatalf("Authenticate with the kept user's token = user %d, %v; want %d", u.ID, err, kept.ID)
		}
	})
}
