package storage_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/storage"
)

func TestCreateToken(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		u := mustCreateUser(t, db, "alice", auth.RoleResponder)
		plain, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		// An expiry with sub-millisecond digits, in another zone.
		expires := e.clock.Now().Add(24*time.Hour + 123456*time.Nanosecond)
		tok, err := db.CreateToken(ctx, storage.CLIActor(), auth.Token{
			ID: 42, UserID: u.ID, Name: "laptop", Hash: hash, ExpiresAt: &expires,
			Version: 9, CreatedAt: time.Unix(1, 0), // the store's to set
		})
		if err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		want := auth.Token{
			ID: tok.ID, UserID: u.ID, Name: "laptop", Hash: hash, Version: 1, CreatedAt: e.clock.Stored(),
			ExpiresAt: ptr(expires.UTC().Truncate(time.Millisecond)),
		}
		if tok.ID <= 0 || !sameToken(tok, want, true) {
			t.Fatalf("CreateToken returned %s, want %s with an ID > 0", fmtToken(tok), fmtToken(want))
		}
		if got, err := db.Token(ctx, tok.ID); err != nil || !sameToken(got, want, true) {
			t.Fatalf("Token(%d) = %s, %v; want %s", tok.ID, fmtToken(got), err, fmtToken(want))
		}
		if gotU, gotT, err := db.Authenticate(ctx, plain); err != nil || !sameUser(gotU, u) || !sameToken(gotT, want, true) {
			t.Fatalf("Authenticate = %+v, %s, %v; want %+v, %s", gotU, fmtToken(gotT), err, u, fmtToken(want))
		}

		// A token without expiry.
		forever, plain2 := mustCreateToken(t, db, u.ID, "forever", nil)
		if forever.ExpiresAt != nil {
			t.Fatalf("token created without expiry expires at %v", forever.ExpiresAt)
		}
		e.clock.Advance(100 * 365 * 24 * time.Hour)
		if _, gotT, err := db.Authenticate(ctx, plain2); err != nil || gotT.ID != forever.ID {
			t.Fatalf("Authenticate a token without expiry, a century on = token %d, %v; want %d", gotT.ID, err, forever.ID)
		}
	})
}

func TestCreateTokenRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		u := mustCreateUser(t, e.db, "alice", auth.RoleResponder)
		_, taken := mustCreateToken(t, e.db, u.ID, "first", nil)
		now := e.clock.Now()
		cases := []struct {
			name  string
			token func(hash []byte) auth.Token
			kind  error
			field string
		}{
			{name: "missing user", kind: alerts.ErrNotFound,
				token: func(h []byte) auth.Token { return auth.Token{UserID: u.ID + 1000, Name: "x", Hash: h} }},
			{name: "no user", kind: alerts.ErrNotFound,
				token: func(h []byte) auth.Token { return auth.Token{Name: "x", Hash: h} }},
			{name: "empty name", kind: alerts.ErrInvalid, field: "name",
				token: func(h []byte) auth.Token { return auth.Token{UserID: u.ID, Hash: h} }},
			{name: "blank name", kind: alerts.ErrInvalid, field: "name",
				token: func(h []byte) auth.Token { return auth.Token{UserID: u.ID, Name: " \t", Hash: h} }},
			{name: "name of 129 characters", kind: alerts.ErrInvalid, field: "name",
				token: func(h []byte) auth.Token { return auth.Token{UserID: u.ID, Name: strings.Repeat("é", 129), Hash: h} }},
			{name: "expired", kind: alerts.ErrInvalid, field: "expires_at",
				token: func(h []byte) auth.Token {
					return auth.Token{UserID: u.ID, Name: "x", Hash: h, ExpiresAt: ptr(now.Add(-time.Hour))}
				}},
			{name: "expiring now", kind: alerts.ErrInvalid, field: "expires_at",
				token: func(h []byte) auth.Token { return auth.Token{UserID: u.ID, Name: "x", Hash: h, ExpiresAt: ptr(now)} }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, hash, err := auth.NewToken()
				if err != nil {
					t.Fatal(err)
				}
				before, audits := takeSnapshot(t, e.db), e.auditRows(t)
				_, err = e.db.CreateToken(t.Context(), storage.CLIActor(), c.token(hash))
				checkErr(t, "CreateToken with "+c.name, err, c.kind, c.field)
				checkUnchanged(t, c.name, e.db, before)
				if got := e.auditRows(t); got != audits {
					t.Fatalf("%s: %d audit rows after, %d before", c.name, got, audits)
				}
			})
		}
		// Not a client error, but refused all the same: a hash that is no
		// SHA-256, or one already stored.
		for name, hash := range map[string][]byte{"no hash": nil, "short hash": []byte("abc"), "duplicate hash": auth.HashToken(taken)} {
			t.Run(name, func(t *testing.T) {
				before := takeSnapshot(t, e.db)
				if _, err := e.db.CreateToken(t.Context(), storage.CLIActor(), auth.Token{UserID: u.ID, Name: "x", Hash: hash}); err == nil {
					t.Fatalf("CreateToken with %s succeeded", name)
				}
				checkUnchanged(t, name, e.db, before)
			})
		}
		// A name of 128 characters is the longest allowed.
		mustCreateToken(t, e.db, u.ID, strings.Repeat("é", 128), nil)
	})
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		mustCreateUser(t, db, "root", auth.RoleAdmin)
		alice := mustCreateUser(t, db, "alice", auth.RoleResponder)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		aliceTok, alicePlain := mustCreateToken(t, db, alice.ID, "alice", nil)
		bobTok, bobPlain := mustCreateToken(t, db, bob.ID, "bob", ptr(e.clock.Now().Add(time.Hour)))
		revoked, revokedPlain := mustCreateToken(t, db, alice.ID, "revoked", nil)
		if err := db.DeleteToken(ctx, storage.CLIActor(), revoked.ID, revoked.Version); err != nil {
			t.Fatalf("DeleteToken: %v", err)
		}
		unknown, _, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name      string
			presented string
			user      auth.User // zero: unauthorized
			token     auth.Token
		}{
			{name: "alice's token", presented: alicePlain, user: alice, token: aliceTok},
			{name: "bob's token", presented: bobPlain, user: bob, token: bobTok},
			{name: "unknown token", presented: unknown},
			{name: "revoked token", presented: revokedPlain},
			{name: "empty token", presented: ""},
			{name: "token with a trailing space", presented: alicePlain + " "},
			{name: "token's hash", presented: string(auth.HashToken(alicePlain))},
			{name: "token's hash in hex", presented: hex.EncodeToString(auth.HashToken(alicePlain))},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u, tok, err := db.Authenticate(ctx, c.presented)
				if c.user.ID == 0 {
					checkErr(t, "Authenticate with "+c.name, err, alerts.ErrUnauthorized, "")
					if u.ID != 0 || tok.ID != 0 {
						t.Fatalf("Authenticate with %s failed but returned user %d, token %d", c.name, u.ID, tok.ID)
					}
					return
				}
				if err != nil || !sameUser(u, c.user) || !sameToken(tok, c.token, true) {
					t.Fatalf("Authenticate with %s = %+v, %s, %v; want %+v, %s", c.name, u, fmtToken(tok), err, c.user, fmtToken(c.token))
				}
			})
		}

		// Bob's token works up to the millisecond before it expires.
		e.clock.Advance(time.Hour - time.Millisecond)
		if _, _, err := db.Authenticate(ctx, bobPlain); err != nil {
			t.Fatalf("Authenticate 1 ms before expiry: %v", err)
		}
		e.clock.Advance(time.Millisecond)
		_, _, err = db.Authenticate(ctx, bobPlain)
		checkErr(t, "Authenticate at expiry", err, alerts.ErrUnauthorized, "")
		e.clock.Advance(time.Hour)
		_, _, err = db.Authenticate(ctx, bobPlain)
		checkErr(t, "Authenticate an hour after expiry", err, alerts.ErrUnauthorized, "")
		// Alice's token, without expiry, still works; bob's is still stored.
		if _, _, err := db.Authenticate(ctx, alicePlain); err != nil {
			t.Fatalf("Authenticate alice after bob's token expired: %v", err)
		}
		if _, err := db.Token(ctx, bobTok.ID); err != nil {
			t.Fatalf("Token(%d) after expiry: %v", bobTok.ID, err)
		}

		// A user's role change shows at once.
		alice.Role = auth.RoleAdmin
		if _, err := db.UpdateUser(ctx, storage.CLIActor(), alice); err != nil {
			t.Fatal(err)
		}
		if u, _, err := db.Authenticate(ctx, alicePlain); err != nil || u.Role != auth.RoleAdmin || u.Version != 2 {
			t.Fatalf("Authenticate after promotion = %+v, %v; want role admin at version 2", u, err)
		}

		// Deleting the user revokes its tokens.
		if err := db.DeleteUser(ctx, storage.CLIActor(), bob.ID, 0); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(-2 * time.Hour) // bob's token would be valid again, were it there
		_, _, err = db.Authenticate(ctx, bobPlain)
		checkErr(t, "Authenticate with a token of a deleted user", err, alerts.ErrUnauthorized, "")
	})
}

func TestTokensPaging(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		a := mustCreateUser(t, db, "a", auth.RoleAdmin)
		b := mustCreateUser(t, db, "b", auth.RoleResponder)
		idle := mustCreateUser(t, db, "idle", auth.RoleResponder)
		byUser := map[int64][]int64{}
		var all []int64
		for i, owner := range []auth.User{a, b, a, a, b, a, b} {
			tok, _ := mustCreateToken(t, db, owner.ID, fmt.Sprintf("t%d", i), nil)
			byUser[owner.ID] = append(byUser[owner.ID], tok.ID)
			all = append(all, tok.ID)
		}
		tokenID := func(tok auth.Token) int64 { return tok.ID }
		cases := []struct {
			name   string
			userID int64
			limit  int
			want   []int64
			sizes  []int
		}{
			{name: "all, 3 a page", userID: 0, limit: 3, want: all, sizes: []int{3, 3, 1}},
			{name: "all, one page", userID: 0, limit: 100, want: all, sizes: []int{7}},
			{name: "user a, 3 a page", userID: a.ID, limit: 3, want: byUser[a.ID], sizes: []int{3, 1}},
			{name: "user b, 1 a page", userID: b.ID, limit: 1, want: byUser[b.ID], sizes: []int{1, 1, 1, 0}},
			{name: "user without tokens", userID: idle.ID, limit: 10, want: nil, sizes: []int{0}},
			{name: "missing user", userID: idle.ID + 1000, limit: 10, want: nil, sizes: []int{0}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pages := readPages(t, c.name, c.limit, func(p storage.Page) ([]auth.Token, error) {
					return db.Tokens(t.Context(), c.userID, p)
				}, tokenID)
				if got := pageSizes(pages); !slices.Equal(got, c.sizes) {
					t.Fatalf("%s: page sizes %v, want %v", c.name, got, c.sizes)
				}
				if got := pageIDs(t, c.name, pages, tokenID, false); !slices.Equal(got, c.want) {
					t.Fatalf("%s: IDs %v, want %v", c.name, got, c.want)
				}
				for _, page := range pages {
					for _, tok := range page {
						if c.userID != 0 && tok.UserID != c.userID {
							t.Fatalf("%s: token %d of user %d listed", c.name, tok.ID, tok.UserID)
						}
						if len(tok.Hash) != sha256.Size {
							t.Fatalf("%s: token %d listed with a hash of %d bytes", c.name, tok.ID, len(tok.Hash))
						}
					}
				}
			})
		}
	})
}

func TestUpdateToken(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		tok, plain := mustCreateToken(t, db, alice.ID, "laptop", nil)
		_, otherHash, _ := auth.NewToken()

		e.clock.Advance(time.Minute)
		expires := e.clock.Now().Add(time.Hour)
		in := tok
		in.Name, in.ExpiresAt = "phone", &expires
		// Neither the owner, the secret nor the creation time change.
		in.UserID, in.Hash, in.CreatedAt = bob.ID, otherHash, time.Unix(0, 0)
		updated, err := db.UpdateToken(ctx, storage.CLIActor(), in)
		if err != nil {
			t.Fatalf("UpdateToken at the right version: %v", err)
		}
		want := tok
		want.Name, want.ExpiresAt, want.Version = "phone", ptr(expires.UTC().Truncate(time.Millisecond)), 2
		if !sameToken(updated, want, true) {
			t.Fatalf("UpdateToken returned %s, want %s", fmtToken(updated), fmtToken(want))
		}
		if got, err := db.Token(ctx, tok.ID); err != nil || !sameToken(got, want, true) {
			t.Fatalf("Token after update = %s, %v; want %s", fmtToken(got), err, fmtToken(want))
		}
		if u, _, err := db.Authenticate(ctx, plain); err != nil || u.ID != alice.ID {
			t.Fatalf("Authenticate after update = user %d, %v; want %d", u.ID, err, alice.ID)
		}

		cases := []struct {
			name  string
			edit  func(tok *auth.Token)
			kind  error
			field string
		}{
			{name: "stale version", edit: func(tok *auth.Token) { tok.Version = 1 }, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", edit: func(tok *auth.Token) { tok.Version = 3 }, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", edit: func(tok *auth.Token) { tok.Version = 0 }, kind: alerts.ErrConflict, field: "version"},
			{name: "missing token", edit: func(tok *auth.Token) { tok.ID += 1000 }, kind: alerts.ErrNotFound},
			{name: "blank name", edit: func(tok *auth.Token) { tok.Name = " " }, kind: alerts.ErrInvalid, field: "name"},
			{name: "expiry in the past", edit: func(tok *auth.Token) { tok.ExpiresAt = ptr(e.clock.Now().Add(-time.Second)) }, kind: alerts.ErrInvalid, field: "expires_at"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := want
				in.Name = "tablet"
				c.edit(&in)
				before, audits := takeSnapshot(t, db), e.auditRows(t)
				_, err := db.UpdateToken(ctx, storage.CLIActor(), in)
				checkErr(t, "UpdateToken with "+c.name, err, c.kind, c.field)
				checkUnchanged(t, c.name, db, before)
				if got := e.auditRows(t); got != audits {
					t.Fatalf("%s: %d audit rows after, %d before", c.name, got, audits)
				}
			})
		}

		// Removing the expiry.
		in = want
		in.ExpiresAt = nil
		updated, err = db.UpdateToken(ctx, storage.CLIActor(), in)
		if err != nil || updated.ExpiresAt != nil || updated.Version != 3 {
			t.Fatalf("UpdateToken removing the expiry = %s, %v; want no expiry at version 3", fmtToken(updated), err)
		}
		e.clock.Advance(2 * time.Hour)
		if _, _, err := db.Authenticate(ctx, plain); err != nil {
			t.Fatalf("Authenticate past the removed expiry: %v", err)
		}
	})
}

func TestDeleteToken(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, "alice", auth.RoleAdmin)
		cases := []struct {
			name    string
			version func(tok auth.Token) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(auth.Token) int64 { return 0 }},
			{name: "right version", version: func(tok auth.Token) int64 { return tok.Version }},
			{name: "stale version", version: func(tok auth.Token) int64 { return tok.Version - 1 }, kind: alerts.ErrConflict},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok, plain := mustCreateToken(t, db, u.ID, c.name, nil)
				tok.Name += " renamed"
				tok, err := db.UpdateToken(ctx, storage.CLIActor(), tok) // version 2
				if err != nil {
					t.Fatal(err)
				}
				before := takeSnapshot(t, db)
				err = db.DeleteToken(ctx, storage.CLIActor(), tok.ID, c.version(tok))
				if c.kind != nil {
					checkErr(t, "DeleteToken with "+c.name, err, c.kind, "version")
					checkUnchanged(t, c.name, db, before)
					if _, _, err := db.Authenticate(ctx, plain); err != nil {
						t.Fatalf("Authenticate after a refused delete: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("DeleteToken with %s: %v", c.name, err)
				}
				_, err = db.Token(ctx, tok.ID)
				checkErr(t, "Token after delete", err, alerts.ErrNotFound, "")
				checkErr(t, "second DeleteToken", db.DeleteToken(ctx, storage.CLIActor(), tok.ID, 0), alerts.ErrNotFound, "")
				_, _, err = db.Authenticate(ctx, plain)
				checkErr(t, "Authenticate after delete", err, alerts.ErrUnauthorized, "")
			})
		}
	})
}

// cellText returns a database value as bytes, for searching.
func cellText(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	default:
		return fmt.Appendf(nil, "%v", v)
	}
}

// scanTable calls fn with each column of each row of a table.
func scanTable(t *testing.T, raw *sql.DB, table string, fn func(column string, value []byte)) {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for i, c := range cols {
			fn(c, cellText(vals[i]))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
}

func TestTokenSecretIsNotStored(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		db := e.db
		bootPlain, created, err := db.Bootstrap(ctx)
		if err != nil || !created {
			t.Fatalf("Bootstrap = %v, %v; want created", created, err)
		}
		admin, err := db.UserByName(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		tok, plain := mustCreateToken(t, db, admin.ID, "ci", ptr(e.clock.Now().Add(time.Hour)))
		tok.Name = "ci2"
		if _, err := db.UpdateToken(ctx, userActor(admin), tok); err != nil {
			t.Fatal(err)
		}
		gone, gonePlain := mustCreateToken(t, db, admin.ID, "gone", nil)
		if err := db.DeleteToken(ctx, userActor(admin), gone.ID, 0); err != nil {
			t.Fatal(err)
		}

		raw := e.raw
		for _, c := range []struct {
			name, plain, where string
			arg                any
		}{
			{name: "bootstrap", plain: bootPlain, where: "name = ?", arg: "bootstrap"},
			{name: "created", plain: plain, where: "id = ?", arg: tok.ID},
		} {
			var stored []byte
			if err := raw.QueryRowContext(ctx, `SELECT hash FROM tokens WHERE `+c.where, c.arg).Scan(&stored); err != nil {
				t.Fatalf("read the %s token's hash: %v", c.name, err)
			}
			if sum := sha256.Sum256([]byte(c.plain)); !bytes.Equal(stored, sum[:]) {
				t.Fatalf("stored hash of the %s token = %x, want its SHA-256 %x", c.name, stored, sum)
			}
		}

		// No form of a token, nor (outside tokens.hash) its hash, is stored.
		type secret struct {
			form  string
			value []byte
			// isHash: a form of the hash, which tokens.hash holds raw.
			isHash bool
		}
		var secrets []secret
		for _, p := range []string{bootPlain, plain, gonePlain} {
			h := auth.HashToken(p)
			secrets = append(secrets,
				secret{"token", []byte(p), false},
				secret{"token without prefix", []byte(strings.TrimPrefix(p, auth.TokenPrefix)), false},
				secret{"raw hash", h, true},
				secret{"hex hash", []byte(hex.EncodeToString(h)), true},
				secret{"base64 hash", []byte(base64.StdEncoding.EncodeToString(h)), true},
				secret{"base64url hash", []byte(base64.RawURLEncoding.EncodeToString(h)), true},
			)
		}
		for _, table := range []string{"tokens", "audit_log", "users"} {
			cells := 0
			scanTable(t, raw, table, func(column string, value []byte) {
				cells++
				for _, s := range secrets {
					if s.isHash && table == "tokens" && column == "hash" {
						continue
					}
					if bytes.Contains(value, s.value) {
						t.Errorf("%s.%s holds a %s: %q", table, column, s.form, value)
					}
				}
			})
			if cells == 0 {
				t.Fatalf("%s is empty: the scan checked nothing", table)
			}
		}
	})
}

func TestLiveTokens(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx, db := t.Context(), e.db
		alice := mustCreateUser(t, db, "alice", auth.RoleResponder)
		bob := mustCreateUser(t, db, "bob", auth.RoleResponder)
		forever, _ := mustCreateToken(t, db, alice.ID, "forever", nil)
		hour, _ := mustCreateToken(t, db, alice.ID, "hour", ptr(e.clock.Now().Add(time.Hour)))
		revoked, _ := mustCreateToken(t, db, alice.ID, "revoked", nil)
		bobs, _ := mustCreateToken(t, db, bob.ID, "bob", nil)
		if err := db.DeleteToken(ctx, storage.CLIActor(), revoked.ID, 0); err != nil {
			t.Fatal(err)
		}
		check := func(what string, ids []int64, want ...int64) {
			t.Helper()
			live, err := db.LiveTokens(ctx, ids)
			if err != nil {
				t.Fatalf("%s: LiveTokens: %v", what, err)
			}
			var got []int64
			for id, ok := range live {
				if !ok {
					t.Fatalf("%s: LiveTokens holds %d as false; want live IDs only", what, id)
				}
				got = append(got, id)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: LiveTokens(%v) = %v, want %v", what, ids, got, want)
			}
		}
		all := []int64{forever.ID, hour.ID, revoked.ID, bobs.ID, bobs.ID + 1000}
		check("at first", all, forever.ID, hour.ID, bobs.ID)
		check("no IDs", nil)
		check("repeated IDs", []int64{forever.ID, forever.ID, bobs.ID}, forever.ID, bobs.ID)

		// The hour token lives up to the millisecond before it expires.
		e.clock.Advance(time.Hour - time.Millisecond)
		check("1 ms before expiry", all, forever.ID, hour.ID, bobs.ID)
		e.clock.Advance(time.Millisecond)
		check("at expiry", all, forever.ID, bobs.ID)

		// A deleted user's tokens die with it.
		if err := db.DeleteUser(ctx, storage.CLIActor(), bob.ID, 0); err != nil {
			t.Fatal(err)
		}
		check("bob deleted", all, forever.ID)

		// More IDs than one statement takes.
		many := make([]int64, 0, 2500)
		for i := range int64(2500) {
			many = append(many, forever.ID+1000+i)
		}
		many = append(many, forever.ID)
		check("2501 IDs", many, forever.ID)
	})
}
