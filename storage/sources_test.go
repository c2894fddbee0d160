package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// sameSource reports whether two sources are equal field by field, their
// secrets and credentials included.
func sameSource(got, want sources.Source) bool {
	return got.ID == want.ID && got.Name == want.Name && got.Kind == want.Kind && got.Auth == want.Auth &&
		got.Username == want.Username && got.SignatureHeader == want.SignatureHeader &&
		reflect.DeepEqual(got.Mapping, want.Mapping) && got.ManagedBy == want.ManagedBy && got.Version == want.Version &&
		sameTime(got.CreatedAt, want.CreatedAt) && sameTime(got.UpdatedAt, want.UpdatedAt) &&
		got.Secret == want.Secret && bytes.Equal(got.Credential, want.Credential)
}

// testMapping is a valid mapping of a generic source.
func testMapping() *sources.Mapping {
	return &sources.Mapping{
		Alerts:         "data.alerts",
		Labels:         map[string]string{"host": "labels.host", "severity": "level"},
		Annotations:    map[string]string{"summary": "text"},
		Status:         "state",
		ResolvedValues: []string{"ok", "closed"},
	}
}

// secretOf returns a valid secret that differs by n.
func secretOf(n int) string { return fmt.Sprintf("secret-%04d-0123456789abcdef", n) }

// mustCreateSource creates a source as actor, or fails the test.
func mustCreateSource(t *testing.T, db *storage.DB, actor storage.Actor, s sources.Source) sources.Source {
	t.Helper()
	created, err := db.CreateSource(t.Context(), actor, s)
	if err != nil {
		t.Fatalf("CreateSource(%+v): %v", s, err)
	}
	return created
}

// checkSource fails the test unless the store holds want, without its
// secret, under its ID and its name.
func checkSource(t *testing.T, what string, db *storage.DB, want sources.Source) {
	t.Helper()
	want.Secret = ""
	for name, get := range map[string]func() (sources.Source, error){
		"Source":       func() (sources.Source, error) { return db.Source(t.Context(), want.ID) },
		"SourceByName": func() (sources.Source, error) { return db.SourceByName(t.Context(), want.Name) },
	} {
		got, err := get()
		if err != nil || !sameSource(got, want) {
			t.Fatalf("%s: %s = %+v, %v; want %+v", what, name, got, err, want)
		}
	}
}

// allSources reads every source through the store.
func allSources(t *testing.T, db *storage.DB) []sources.Source {
	t.Helper()
	list, err := db.Sources(t.Context(), storage.SourceFilter{}, storage.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("Sources: %v", err)
	}
	return list
}

// checkSourcesUnchanged fails the test unless the store holds the sources
// of before, and the audit log as many rows as audits.
func checkSourcesUnchanged(t *testing.T, what string, e *env, before []sources.Source, audits int) {
	t.Helper()
	after := allSources(t, e.db)
	if len(after) != len(before) {
		t.Fatalf("%s: %d sources after, %d before", what, len(after), len(before))
	}
	for i := range after {
		if !sameSource(after[i], before[i]) {
			t.Fatalf("%s: source changed:\n got %+v\nwant %+v", what, after[i], before[i])
		}
	}
	if got := e.auditRows(t); got != audits {
		t.Fatalf("%s: %d audit rows after, %d before", what, got, audits)
	}
}

// sha returns the SHA-256 of s.
func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestCreateSource(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		cases := []struct {
			name  string
			actor storage.Actor
			in    sources.Source
			// edit turns the input into the source the store returns.
			edit func(s *sources.Source)
		}{
			{name: "bearer", actor: userActor(admin),
				in:   sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(1)},
				edit: func(s *sources.Source) { s.Credential = sha(secretOf(1)) }},
			{name: "basic", actor: userActor(admin),
				in:   sources.Source{Name: "grafana.prod", Kind: sources.KindGrafana, Auth: sources.AuthBasic, Username: "grafana", Secret: secretOf(2)},
				edit: func(s *sources.Source) { s.Credential = sha(secretOf(2)) }},
			{name: "hmac with the default header", actor: userActor(admin),
				in: sources.Source{Name: "prom", Kind: sources.KindPrometheus, Auth: sources.AuthHMAC, Secret: secretOf(3)},
				edit: func(s *sources.Source) {
					s.SignatureHeader, s.Credential = sources.DefaultSignatureHeader, []byte(secretOf(3))
				}},
			{name: "generic hmac with a header of its own", actor: userActor(admin),
				in: sources.Source{Name: "custom", Kind: sources.KindGeneric, Auth: sources.AuthHMAC, SignatureHeader: "x-hub-signature",
					Mapping: testMapping(), Secret: secretOf(4)},
				edit: func(s *sources.Source) { s.SignatureHeader, s.Credential = "X-Hub-Signature", []byte(secretOf(4)) }},
			{name: "declared in config.yaml", actor: storage.ConfigActor(),
				in: sources.Source{Name: "from-file", Kind: sources.KindGeneric, Auth: sources.AuthBearer, Mapping: &sources.Mapping{LabelsFrom: "labels"},
					Secret: secretOf(5)},
				edit: func(s *sources.Source) { s.ManagedBy, s.Credential = alerts.ManagedByConfig, sha(secretOf(5)) }},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.clock.Advance(time.Second)
				in := c.in
				// ID, version, times and the credential are the store's to set.
				in.ID, in.Version, in.ManagedBy, in.Credential = 99+int64(i), 7, "", []byte("chosen")
				in.CreatedAt, in.UpdatedAt = time.Unix(1, 0), time.Unix(2, 0)
				got, err := e.db.CreateSource(t.Context(), c.actor, in)
				if err != nil {
					t.Fatalf("CreateSource: %v", err)
				}
				want := c.in
				want.ID, want.Version, want.CreatedAt, want.UpdatedAt = got.ID, 1, e.clock.Stored(), e.clock.Stored()
				c.edit(&want)
				if got.ID <= 0 || !sameSource(got, want) {
					t.Fatalf("CreateSource returned %+v, want %+v with an ID > 0", got, want)
				}
				checkSource(t, "after create", e.db, want)
				checkRuleAudit(t, e, "create", c.actor, storage.ActionCreate, "source", got.ID, nil, want)
				// A mapping is NULL where there is none.
				if n := e.count(t, `SELECT COUNT(*) FROM sources WHERE id = ? AND mapping IS NULL`, got.ID); (n == 1) != (c.in.Mapping == nil) {
					t.Fatalf("mapping IS NULL in %d rows, want it NULL only without a mapping", n)
				}
			})
		}
	})
}

func TestCreateSourceRejects(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		mustCreateSource(t, e.db, storage.CLIActor(), sources.Source{Name: "taken", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(0)})
		valid := sources.Source{Name: "new", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(1)}
		cases := []struct {
			name  string
			edit  func(s *sources.Source)
			kind  error
			field string
		}{
			{name: "taken name", edit: func(s *sources.Source) { s.Name = "taken" }, kind: alerts.ErrConflict},
			{name: "bad name", edit: func(s *sources.Source) { s.Name = "New Source" }, kind: alerts.ErrInvalid, field: "name"},
			{name: "no secret", edit: func(s *sources.Source) { s.Secret = "" }, kind: alerts.ErrInvalid, field: "secret"},
			{name: "short secret", edit: func(s *sources.Source) { s.Secret = "short" }, kind: alerts.ErrInvalid, field: "secret"},
			{name: "unknown kind", edit: func(s *sources.Source) { s.Kind = "nagios" }, kind: alerts.ErrInvalid, field: "kind"},
			{name: "unknown auth", edit: func(s *sources.Source) { s.Auth = "none" }, kind: alerts.ErrInvalid, field: "auth"},
			{name: "basic without a user name", edit: func(s *sources.Source) { s.Auth = sources.AuthBasic }, kind: alerts.ErrInvalid, field: "username"},
			{name: "generic without a mapping", edit: func(s *sources.Source) { s.Kind = sources.KindGeneric }, kind: alerts.ErrInvalid, field: "mapping"},
			{name: "mapping on another kind", edit: func(s *sources.Source) { s.Mapping = testMapping() }, kind: alerts.ErrInvalid, field: "mapping"},
			{name: "mapping without labels", kind: alerts.ErrInvalid, field: "mapping.labels", edit: func(s *sources.Source) {
				s.Kind, s.Mapping = sources.KindGeneric, &sources.Mapping{Alerts: "alerts"}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := valid
				c.edit(&in)
				before, audits := allSources(t, e.db), e.auditRows(t)
				_, err := e.db.CreateSource(t.Context(), storage.CLIActor(), in)
				checkErr(t, "CreateSource with "+c.name, err, c.kind, c.field)
				checkSourcesUnchanged(t, c.name, e, before, audits)
			})
		}
	})
}

func TestSourceNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		ctx := t.Context()
		s := mustCreateSource(t, db, storage.CLIActor(), sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(1)})
		missing := s.ID + 1000
		cases := []struct {
			name string
			call func() error
		}{
			{"Source", func() error { _, err := db.Source(ctx, missing); return err }},
			{"SourceByName", func() error { _, err := db.SourceByName(ctx, "nope"); return err }},
			{"SourceByName is case-sensitive", func() error { _, err := db.SourceByName(ctx, "AM"); return err }},
			{"UpdateSource", func() error {
				in := s
				in.ID = missing
				_, err := db.UpdateSource(ctx, storage.CLIActor(), in)
				return err
			}},
			{"DeleteSource", func() error { return db.DeleteSource(ctx, storage.CLIActor(), missing, 0) }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				checkErr(t, c.name, c.call(), alerts.ErrNotFound, "")
			})
		}
	})
}

func TestSourcesByKind(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db *storage.DB) {
		byKind := map[sources.Kind][]int64{}
		var all []int64
		for i, kind := range []sources.Kind{sources.KindGrafana, sources.KindAlertmanager, sources.KindGrafana,
			sources.KindGeneric, sources.KindGrafana, sources.KindAlertmanager} {
			in := sources.Source{Name: fmt.Sprintf("source%d", i), Kind: kind, Auth: sources.AuthBearer, Secret: secretOf(i)}
			if kind == sources.KindGeneric {
				in.Mapping = testMapping()
			}
			id := mustCreateSource(t, db, storage.CLIActor(), in).ID
			byKind[kind] = append(byKind[kind], id)
			all = append(all, id)
		}
		byKind[""] = all
		byKind[sources.KindPrometheus] = nil
		sourceID := func(s sources.Source) int64 { return s.ID }
		for kind, want := range byKind {
			for _, limit := range []int{2, 1000} {
				what := fmt.Sprintf("Sources(kind %q, limit %d)", kind, limit)
				pages := readPages(t, what, limit, func(p storage.Page) ([]sources.Source, error) {
					return db.Sources(t.Context(), storage.SourceFilter{Kind: kind}, p)
				}, sourceID)
				if got := pageIDs(t, what, pages, sourceID, false); !slices.Equal(got, want) {
					t.Fatalf("%s = %v, want %v", what, got, want)
				}
			}
		}
	})
}

func TestUpdateSource(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		mustCreateSource(t, e.db, storage.CLIActor(), sources.Source{Name: "other", Kind: sources.KindGrafana, Auth: sources.AuthBearer, Secret: secretOf(0)})
		s := mustCreateSource(t, e.db, userActor(admin), sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(1)})
		s.Secret = ""

		steps := []struct {
			name string
			// edit changes the stored source into the update's input.
			edit func(s *sources.Source)
			// want changes the input into the stored source after the update.
			want func(s *sources.Source)
		}{
			{name: "rename, keeping the secret",
				edit: func(s *sources.Source) { s.Name, s.Kind = "am2", sources.KindPrometheus },
				want: func(s *sources.Source) { s.Credential = sha(secretOf(1)) }},
			{name: "new secret",
				edit: func(s *sources.Source) { s.Secret = secretOf(2) },
				want: func(s *sources.Source) { s.Credential = sha(secretOf(2)) }},
			{name: "basic auth with a new secret",
				edit: func(s *sources.Source) { s.Auth, s.Username, s.Secret = sources.AuthBasic, "prom", secretOf(3) },
				want: func(s *sources.Source) { s.Credential = sha(secretOf(3)) }},
			{name: "new user name, keeping the secret",
				edit: func(s *sources.Source) { s.Username = "prom2" },
				want: func(s *sources.Source) { s.Credential = sha(secretOf(3)) }},
			{name: "hmac with a new key",
				edit: func(s *sources.Source) { s.Auth, s.Username, s.Secret = sources.AuthHMAC, "", secretOf(4) },
				want: func(s *sources.Source) {
					s.SignatureHeader, s.Credential = sources.DefaultSignatureHeader, []byte(secretOf(4))
				}},
			{name: "generic, keeping the key",
				edit: func(s *sources.Source) { s.Kind, s.Mapping = sources.KindGeneric, testMapping() },
				want: func(s *sources.Source) { s.Credential = []byte(secretOf(4)) }},
			{name: "no longer generic",
				edit: func(s *sources.Source) { s.Kind, s.Mapping = sources.KindGrafana, nil },
				want: func(s *sources.Source) { s.Credential = []byte(secretOf(4)) }},
		}
		for _, step := range steps {
			e.clock.Advance(time.Minute)
			in := s
			step.edit(&in)
			// The credential, the creation time and who manages it are not
			// the client's to set.
			in.Credential, in.CreatedAt, in.ManagedBy = []byte("chosen"), time.Unix(0, 0), alerts.ManagedByConfig
			got, err := e.db.UpdateSource(ctx, userActor(admin), in)
			if err != nil {
				t.Fatalf("%s: UpdateSource: %v", step.name, err)
			}
			want := in
			want.Version, want.CreatedAt, want.UpdatedAt, want.ManagedBy = s.Version+1, s.CreatedAt, e.clock.Stored(), ""
			step.want(&want)
			if !sameSource(got, want) {
				t.Fatalf("%s: UpdateSource returned %+v, want %+v", step.name, got, want)
			}
			checkSource(t, step.name, e.db, want)
			checkRuleAudit(t, e, step.name, userActor(admin), storage.ActionUpdate, "source", s.ID, s, want)
			s = want
			s.Secret = ""
		}

		cases := []struct {
			name  string
			edit  func(s *sources.Source)
			kind  error
			field string
		}{
			{name: "stale version", edit: func(s *sources.Source) { s.Version-- }, kind: alerts.ErrConflict, field: "version"},
			{name: "future version", edit: func(s *sources.Source) { s.Version++ }, kind: alerts.ErrConflict, field: "version"},
			{name: "no version", edit: func(s *sources.Source) { s.Version = 0 }, kind: alerts.ErrConflict, field: "version"},
			{name: "taken name", edit: func(s *sources.Source) { s.Name = "other" }, kind: alerts.ErrConflict},
			{name: "new auth type without a secret", edit: func(s *sources.Source) { s.Auth = sources.AuthBearer; s.SignatureHeader = "" },
				kind: alerts.ErrInvalid, field: "secret"},
			{name: "bad secret", edit: func(s *sources.Source) { s.Secret = "has a space in it, see" }, kind: alerts.ErrInvalid, field: "secret"},
			{name: "generic without a mapping", edit: func(s *sources.Source) { s.Kind = sources.KindGeneric }, kind: alerts.ErrInvalid, field: "mapping"},
			{name: "bad name", edit: func(s *sources.Source) { s.Name = "" }, kind: alerts.ErrInvalid, field: "name"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := s
				in.Name = "renamed"
				c.edit(&in)
				before, audits := allSources(t, e.db), e.auditRows(t)
				_, err := e.db.UpdateSource(ctx, userActor(admin), in)
				checkErr(t, "UpdateSource with "+c.name, err, c.kind, c.field)
				checkSourcesUnchanged(t, c.name, e, before, audits)
			})
		}
	})
}

func TestManagedSource(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin := mustCreateUser(t, e.db, "root", auth.RoleAdmin)
		s := mustCreateSource(t, e.db, storage.ConfigActor(), sources.Source{Name: "file", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(1)})
		s.Secret = ""

		// Neither a user nor the command line may change it.
		for _, actor := range []storage.Actor{userActor(admin), storage.CLIActor()} {
			before, audits := allSources(t, e.db), e.auditRows(t)
			in := s
			in.Kind = sources.KindGrafana
			_, err := e.db.UpdateSource(ctx, actor, in)
			checkErr(t, fmt.Sprintf("UpdateSource of a managed source by %s", actor.Name), err, alerts.ErrForbidden, "")
			err = e.db.DeleteSource(ctx, actor, s.ID, 0)
			checkErr(t, fmt.Sprintf("DeleteSource of a managed source by %s", actor.Name), err, alerts.ErrForbidden, "")
			checkSourcesUnchanged(t, "refused changes to a managed source", e, before, audits)
		}

		// The file may, and the source stays managed.
		e.clock.Advance(time.Minute)
		in := s
		in.Kind = sources.KindGrafana
		got, err := e.db.UpdateSource(ctx, storage.ConfigActor(), in)
		if err != nil {
			t.Fatalf("UpdateSource of a managed source by the file: %v", err)
		}
		want := in
		want.Version, want.UpdatedAt = 2, e.clock.Stored()
		if !sameSource(got, want) || got.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("UpdateSource by the file returned %+v, want %+v", got, want)
		}
		checkRuleAudit(t, e, "update by the file", storage.ConfigActor(), storage.ActionUpdate, "source", s.ID, s, want)

		// A source made through the API that the file declares becomes
		// managed by it.
		api := mustCreateSource(t, e.db, userActor(admin), sources.Source{Name: "api", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secretOf(2)})
		api.Secret = ""
		if got, err := e.db.UpdateSource(ctx, storage.ConfigActor(), api); err != nil || got.ManagedBy != alerts.ManagedByConfig {
			t.Fatalf("UpdateSource of an API source by the file = %+v, %v; want it managed by the file", got, err)
		}

		if err := e.db.DeleteSource(ctx, storage.ConfigActor(), s.ID, want.Version); err != nil {
			t.Fatalf("DeleteSource of a managed source by the file: %v", err)
		}
		checkRuleAudit(t, e, "delete by the file", storage.ConfigActor(), storage.ActionDelete, "source", s.ID, want, nil)
	})
}

func TestDeleteSource(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		cases := []struct {
			name    string
			version func(s sources.Source) int64
			kind    error // nil: the delete succeeds
		}{
			{name: "unconditional", version: func(sources.Source) int64 { return 0 }},
			{name: "right version", version: func(s sources.Source) int64 { return s.Version }},
			{name: "stale version", version: func(s sources.Source) int64 { return s.Version - 1 }, kind: alerts.ErrConflict},
			{name: "future version", version: func(s sources.Source) int64 { return s.Version + 1 }, kind: alerts.ErrConflict},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := mustCreateSource(t, e.db, storage.CLIActor(), sources.Source{Name: fmt.Sprintf("victim%d", i), Kind: sources.KindGrafana, Auth: sources.AuthBearer, Secret: secretOf(i)})
				s.Secret, s.Kind = "", sources.KindAlertmanager
				s, err := e.db.UpdateSource(ctx, storage.CLIActor(), s) // version 2
				if err != nil {
					t.Fatal(err)
				}
				before, audits := allSources(t, e.db), e.auditRows(t)
				err = e.db.DeleteSource(ctx, storage.CLIActor(), s.ID, c.version(s))
				if c.kind != nil {
					checkErr(t, "DeleteSource with "+c.name, err, c.kind, "version")
					checkSourcesUnchanged(t, c.name, e, before, audits)
					return
				}
				if err != nil {
					t.Fatalf("DeleteSource with %s: %v", c.name, err)
				}
				checkRuleAudit(t, e, "delete", storage.CLIActor(), storage.ActionDelete, "source", s.ID, s, nil)
				_, err = e.db.Source(ctx, s.ID)
				checkErr(t, "Source after delete", err, alerts.ErrNotFound, "")
				checkErr(t, "second DeleteSource", e.db.DeleteSource(ctx, storage.CLIActor(), s.ID, 0), alerts.ErrNotFound, "")
				// The name is free again.
				mustCreateSource(t, e.db, storage.CLIActor(), sources.Source{Name: s.Name, Kind: sources.KindGrafana, Auth: sources.AuthBearer, Secret: secretOf(i)})
			})
		}
	})
}

func TestSourceSecretIsNotAudited(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var secrets []string
		for i, auth := range []sources.AuthType{sources.AuthBearer, sources.AuthBasic, sources.AuthHMAC} {
			in := sources.Source{Name: fmt.Sprintf("s%d", i), Kind: sources.KindAlertmanager, Auth: auth, Secret: secretOf(10 + i)}
			if auth == sources.AuthBasic {
				in.Username = "user"
			}
			s := mustCreateSource(t, e.db, storage.CLIActor(), in)
			// A new secret, then a change that keeps it.
			s.Secret = secretOf(20 + i)
			s, err := e.db.UpdateSource(ctx, storage.CLIActor(), s)
			if err != nil {
				t.Fatal(err)
			}
			s.Secret, s.Kind = "", sources.KindGrafana
			if s, err = e.db.UpdateSource(ctx, storage.CLIActor(), s); err != nil {
				t.Fatal(err)
			}
			if err := e.db.DeleteSource(ctx, storage.CLIActor(), s.ID, s.Version); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, secretOf(10+i), secretOf(20+i))
		}

		var forms [][]byte
		for _, s := range secrets {
			h := sha(s)
			forms = append(forms, []byte(s), h, []byte(hex.EncodeToString(h)),
				[]byte(base64.StdEncoding.EncodeToString(h)), []byte(base64.RawURLEncoding.EncodeToString(h)),
				[]byte(base64.StdEncoding.EncodeToString([]byte(s))))
		}
		rows := 0
		scanTable(t, e.raw, "audit_log", func(column string, value []byte) {
			if column == "id" {
				rows++
			}
			for _, f := range forms {
				if bytes.Contains(value, f) {
					t.Errorf("audit_log.%s holds a secret or its credential: %q", column, value)
				}
			}
			for _, name := range []string{"secret", "credential"} {
				if bytes.Contains(value, []byte(`"`+name+`"`)) {
					t.Errorf("audit_log.%s has a field %q: %q", column, name, value)
				}
			}
		})
		if want := 3 * 4; rows != want {
			t.Fatalf("audit_log has %d rows, want %d: the scan checked too little", rows, want)
		}
	})
}
