package storage_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

// auditWant is what one audit entry must hold. before and after are nil, an
// auth.User or an auth.Token.
type auditWant struct {
	actor         storage.Actor
	action        string
	objectType    string
	objectID      int64
	before, after any
}

// checkAudit compares an audit entry with what it must hold, at time at.
func checkAudit(t *testing.T, step string, got storage.AuditEntry, want auditWant, at time.Time) {
	t.Helper()
	if got.Action != want.action || got.ObjectType != want.objectType || got.ObjectID != want.objectID {
		t.Fatalf("%s: audit entry is %s %s %d, want %s %s %d", step,
			got.Action, got.ObjectType, got.ObjectID, want.action, want.objectType, want.objectID)
	}
	if !sameTime(got.At, at) {
		t.Fatalf("%s: audit entry at %v, want %v", step, got.At, at)
	}
	if got.Actor != want.actor.Name {
		t.Fatalf("%s: audit actor %q, want %q", step, got.Actor, want.actor.Name)
	}
	switch {
	case want.actor.UserID == 0 && got.ActorID != nil:
		t.Fatalf("%s: audit actor ID %d, want none for %q", step, *got.ActorID, want.actor.Name)
	case want.actor.UserID != 0 && (got.ActorID == nil || *got.ActorID != want.actor.UserID):
		t.Fatalf("%s: audit actor ID %v, want %d", step, got.ActorID, want.actor.UserID)
	}
	checkAuditObject(t, step+": before", got.Before, want.before)
	checkAuditObject(t, step+": after", got.After, want.after)
}

// checkAuditObject checks that raw JSON is null when want is nil, or decodes
// to want.
func checkAuditObject(t *testing.T, what string, raw json.RawMessage, want any) {
	t.Helper()
	switch want := want.(type) {
	case nil:
		if string(raw) != "null" {
			t.Fatalf("%s is %s, want null", what, raw)
		}
	case auth.User:
		var got auth.User
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: decode %s: %v", what, raw, err)
		}
		got.CreatedAt, got.UpdatedAt = got.CreatedAt.UTC(), got.UpdatedAt.UTC()
		if !sameUser(got, want) {
			t.Fatalf("%s is %s, want %+v", what, raw, want)
		}
	case auth.Token:
		var got auth.Token
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: decode %s: %v", what, raw, err)
		}
		got.CreatedAt = got.CreatedAt.UTC()
		if got.ExpiresAt != nil {
			got.ExpiresAt = ptr(got.ExpiresAt.UTC())
		}
		if !sameToken(got, want, false) {
			t.Fatalf("%s is %s, want %s", what, raw, fmtToken(want))
		}
		checkNoHash(t, what, raw, want.Hash)
	default:
		t.Fatalf("%s: cannot compare with a %T", what, want)
	}
}

// checkNoHash fails the test if a token's audit JSON holds its hash, in any
// usual encoding, or a field named like it.
func checkNoHash(t *testing.T, what string, raw json.RawMessage, hash []byte) {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("%s: decode %s: %v", what, raw, err)
	}
	for k := range fields {
		if strings.Contains(strings.ToLower(k), "hash") {
			t.Fatalf("%s has a field %q: %s", what, k, raw)
		}
	}
	for _, form := range [][]byte{hash, []byte(hex.EncodeToString(hash)), []byte(base64.StdEncoding.EncodeToString(hash)),
		[]byte(base64.RawURLEncoding.EncodeToString(hash)), []byte(base64.RawStdEncoding.EncodeToString(hash))} {
		if bytes.Contains(raw, form) {
			t.Fatalf("%s holds the token's hash: %s", what, raw)
		}
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		var (
			root, bob, bob2 auth.User
			tok, tok2       auth.Token
			hash            []byte
		)
		steps := []struct {
			name string
			do   func(t *testing.T) auditWant
		}{
			{"CLI creates admin", func(t *testing.T) auditWant {
				var err error
				root, err = db.CreateUser(ctx, storage.CLIActor(), auth.User{Name: "root", Role: auth.RoleAdmin})
				if err != nil {
					t.Fatal(err)
				}
				return auditWant{storage.CLIActor(), storage.ActionCreate, "user", root.ID, nil, root}
			}},
			{"admin creates user", func(t *testing.T) auditWant {
				var err error
				bob, err = db.CreateUser(ctx, userActor(root), auth.User{Name: "bob", Role: auth.RoleResponder})
				if err != nil {
					t.Fatal(err)
				}
				return auditWant{userActor(root), storage.ActionCreate, "user", bob.ID, nil, bob}
			}},
			{"admin updates user", func(t *testing.T) auditWant {
				in := bob
				in.Name, in.Role = "robert", auth.RoleAdmin
				var err error
				bob2, err = db.UpdateUser(ctx, userActor(root), in)
				if err != nil {
					t.Fatal(err)
				}
				return auditWant{userActor(root), storage.ActionUpdate, "user", bob.ID, bob, bob2}
			}},
			{"system creates token", func(t *testing.T) auditWant {
				var err error
				_, hash, err = auth.NewToken()
				if err != nil {
					t.Fatal(err)
				}
				tok, err = db.CreateToken(ctx, storage.SystemActor(), auth.Token{UserID: bob2.ID, Name: "ci", Hash: hash, ExpiresAt: ptr(e.clock.Now().Add(time.Hour))})
				if err != nil {
					t.Fatal(err)
				}
				return auditWant{storage.SystemActor(), storage.ActionCreate, "token", tok.ID, nil, tok}
			}},
			{"user updates own token", func(t *testing.T) auditWant {
				in := tok
				in.Name, in.ExpiresAt = "ci-2", nil
				var err error
				tok2, err = db.UpdateToken(ctx, userActor(bob2), in)
				if err != nil {
					t.Fatal(err)
				}
				return auditWant{userActor(bob2), storage.ActionUpdate, "token", tok.ID, tok, tok2}
			}},
			{"admin deletes token", func(t *testing.T) auditWant {
				if err := db.DeleteToken(ctx, userActor(root), tok2.ID, tok2.Version); err != nil {
					t.Fatal(err)
				}
				return auditWant{userActor(root), storage.ActionDelete, "token", tok.ID, tok2, nil}
			}},
			{"CLI deletes user", func(t *testing.T) auditWant {
				if err := db.DeleteUser(ctx, storage.CLIActor(), bob2.ID, 0); err != nil {
					t.Fatal(err)
				}
				return auditWant{storage.CLIActor(), storage.ActionDelete, "user", bob.ID, bob2, nil}
			}},
		}
		var ids []int64
		for _, s := range steps {
			e.clock.Advance(time.Minute + 7*time.Millisecond)
			rows := e.auditRows(t)
			want := s.do(t)
			if got := e.auditRows(t); got != rows+1 {
				t.Fatalf("%s: wrote %d audit rows, want 1", s.name, got-rows)
			}
			latest, err := db.AuditLog(ctx, storage.Page{Limit: 1})
			if err != nil || len(latest) != 1 {
				t.Fatalf("%s: AuditLog(limit 1) = %d entries, %v; want 1", s.name, len(latest), err)
			}
			checkAudit(t, s.name, latest[0], want, e.clock.Stored())
			ids = append(ids, latest[0].ID)
		}
		// The whole log, newest first, is the steps in reverse.
		all, err := db.AuditLog(ctx, storage.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, a := range all {
			got = append(got, a.ID)
		}
		slices.Reverse(ids)
		if !slices.Equal(got, ids) {
			t.Fatalf("AuditLog IDs %v, want the steps' %v", got, ids)
		}
	})
}

func TestAuditSkipsFailedWrites(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		root := mustCreateUser(t, db, "root", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		tok, _ := mustCreateToken(t, db, bob.ID, "t", nil)
		// bob at version 2, so that version 1 is stale.
		bob.Name = "bobby"
		bob, err := db.UpdateUser(ctx, storage.CLIActor(), bob)
		if err != nil {
			t.Fatal(err)
		}
		stale := func(u auth.User) auth.User { u.Version--; return u }
		cases := []struct {
			name string
			kind error
			do   func() error
		}{
			{"create user with a taken name", alerts.ErrConflict, func() error {
				_, err := db.CreateUser(ctx, userActor(root), auth.User{Name: "bobby", Role: auth.RoleAdmin})
				return err
			}},
			{"create invalid user", alerts.ErrInvalid, func() error {
				_, err := db.CreateUser(ctx, userActor(root), auth.User{Name: "Bob", Role: auth.RoleAdmin})
				return err
			}},
			{"update user at a stale version", alerts.ErrConflict, func() error {
				u := stale(bob)
				u.Name = "robert"
				_, err := db.UpdateUser(ctx, userActor(root), u)
				return err
			}},
			{"rename user to a taken name", alerts.ErrConflict, func() error {
				u := bob
				u.Name = "root"
				_, err := db.UpdateUser(ctx, userActor(root), u)
				return err
			}},
			{"demote the last admin", alerts.ErrConflict, func() error {
				u := root
				u.Role = auth.RoleResponder
				_, err := db.UpdateUser(ctx, userActor(root), u)
				return err
			}},
			{"delete the last admin", alerts.ErrConflict, func() error { return db.DeleteUser(ctx, userActor(root), root.ID, 0) }},
			{"delete user at a stale version", alerts.ErrConflict, func() error { return db.DeleteUser(ctx, userActor(root), bob.ID, 7) }},
			{"delete missing user", alerts.ErrNotFound, func() error { return db.DeleteUser(ctx, userActor(root), bob.ID+100, 0) }},
			{"create token of a missing user", alerts.ErrNotFound, func() error {
				_, h, _ := auth.NewToken()
				_, err := db.CreateToken(ctx, userActor(root), auth.Token{UserID: bob.ID + 100, Name: "x", Hash: h})
				return err
			}},
			{"update token at a stale version", alerts.ErrConflict, func() error {
				in := tok
				in.Version, in.Name = 5, "renamed"
				_, err := db.UpdateToken(ctx, userActor(root), in)
				return err
			}},
			{"delete token at a stale version", alerts.ErrConflict, func() error { return db.DeleteToken(ctx, userActor(root), tok.ID, 5) }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				before, rows := takeSnapshot(t, db), e.auditRows(t)
				checkErr(t, c.name, c.do(), c.kind, "")
				checkUnchanged(t, c.name, db, before)
				if got := e.auditRows(t); got != rows {
					t.Fatalf("%s: wrote %d audit rows, want none", c.name, got-rows)
				}
			})
		}
	})
}

func TestAuditLogPaging(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		for i := range 10 {
			e.clock.Advance(time.Second)
			mustCreateUser(t, e.db, fmt.Sprintf("u%d", i), auth.RoleAdmin)
		}
		rows, err := e.raw.QueryContext(ctx, `SELECT id FROM audit_log ORDER BY id DESC`)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		rows.Close()
		if len(want) != 10 {
			t.Fatalf("audit log has %d rows, want 10", len(want))
		}
		entryID := func(a storage.AuditEntry) int64 { return a.ID }
		cases := []struct {
			limit int
			sizes []int
		}{
			{limit: 4, sizes: []int{4, 4, 2}},
			{limit: 5, sizes: []int{5, 5, 0}},
			{limit: 1, sizes: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}},
			{limit: 100, sizes: []int{10}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
				what := fmt.Sprintf("AuditLog with limit %d", c.limit)
				pages := readPages(t, what, c.limit, func(p storage.Page) ([]storage.AuditEntry, error) { return e.db.AuditLog(ctx, p) }, entryID)
				if got := pageSizes(pages); !slices.Equal(got, c.sizes) {
					t.Fatalf("%s: page sizes %v, want %v", what, got, c.sizes)
				}
				if got := pageIDs(t, what, pages, entryID, true); !slices.Equal(got, want) {
					t.Fatalf("%s: IDs %v, want %v", what, got, want)
				}
				// Newest first holds for the times too.
				var last time.Time
				for _, page := range pages {
					for _, a := range page {
						if !last.IsZero() && !a.At.Before(last) {
							t.Fatalf("%s: entry %d at %v is not older than the one before, at %v", what, a.ID, a.At, last)
						}
						last = a.At
					}
				}
			})
		}
	})
}
