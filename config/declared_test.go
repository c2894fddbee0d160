package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/sources"
)

func TestDeclaredRules(t *testing.T) {
	secrets := env(map[string]string{"PROD_AM_SECRET": "am-secret-0123456789", "SHOP_SECRET": "shop-secret-0123456789"})
	cfg, err := Load("testdata/declared.yaml", secrets)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	disabled := false
	want := Config{
		Teams: []Team{{Name: "db", Members: []string{"alice", "bob"}}, {Name: "web"}},
		Routes: []Route{
			{Name: "db-critical", Matchers: []string{`team="db"`, `severity=~"critical|page"`}, Teams: []string{"db"}, Continue: true},
			{Name: "everything-else", Users: []string{"alice"}, Enabled: &disabled},
		},
		Sources: []Source{
			{Name: "prod-am", Kind: "alertmanager", Auth: "bearer", SecretEnv: "PROD_AM_SECRET", Secret: "am-secret-0123456789"},
			{Name: "grafana", Kind: "grafana", Auth: "hmac", SignatureHeader: "x-grafana-alerting-signature", Secret: "0123456789abcdef0123"},
			{Name: "shop", Kind: "generic", Auth: "basic", Username: "shop", SecretEnv: "SHOP_SECRET", Secret: "shop-secret-0123456789",
				Mapping: &sources.Mapping{
					Alerts:          "data.items",
					Labels:          map[string]string{"alertname": "title", "host": "data.host"},
					AnnotationsFrom: "details",
					Status:          "state",
					ResolvedValues:  []string{"ok", "resolved"},
				}},
		},
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{{"teams", cfg.Teams, want.Teams}, {"routes", cfg.Routes, want.Routes}, {"sources", cfg.Sources, want.Sources}} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s =\n%+v\nwant\n%+v", c.name, c.got, c.want)
		}
	}
}

func TestDeclaredProblems(t *testing.T) {
	const file = `teams:
  - name: db
    members: [alice, Alice]
  - name: db
  - name: ""
  - nmae: x
routes:
  - name: r1
    matchers: ['team="db"', 'severity=>"x"']
    users: [alice]
  - name: r2
  - name: r3
    users: [alice, alice]
    enabled: maybe
sources:
  - name: a
    kind: alertmanager
    auth: bearer
  - name: b
    kind: nagios
    auth: bearer
    secret_env: B_SECRET
  - name: c
    kind: generic
    auth: hmac
    secret: short
    mapping: {labels: {"bad-name": x}}
  - name: d
    kind: alertmanager
    auth: bearer
    secret: abcdefghijklmnopqrstu
    secret_env: D_SECRET
  - name: e
    kind: generic
    auth: bearer
    secret_env: E_SECRET
    mapping:
      labels: {alertname: "a..b"}
`
	_, err := Parse("config.yaml", []byte(file), env(map[string]string{"D_SECRET": "abcdefghijklmnopqrstu", "E_SECRET": "abcdefghijklmnopqrstu"}))
	if err == nil {
		t.Fatal("Parse: no error")
	}
	want := lines(
		`config.yaml:3: teams[0].members[1]: must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`,
		`config.yaml:4: teams[1].name: "db" is declared twice`,
		`config.yaml:5: teams[2].name: must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`,
		`config.yaml:6: teams[3].nmae: unknown key`,
		`config.yaml:6: teams[3].name: must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`,
		`config.yaml:9: routes[0].matchers[1]: unknown operator "=>" at column 9: want =, !=, =~ or !~`,
		`config.yaml:11: routes[1].users: a route needs at least one user or team to notify`,
		`config.yaml:13: routes[2].users[1]: "alice" is listed twice`,
		`config.yaml:14: routes[2].enabled: want true or false, got "maybe"`,
		`config.yaml:16: sources[0]: set secret_env (or secret) to the source's bearer token, basic password or HMAC key`,
		`config.yaml:20: sources[1].kind: must be one of "alertmanager", "grafana", "prometheus" or "generic", got "nagios"`,
		`config.yaml:22: sources[1].secret_env: the variable B_SECRET is unset or empty`,
		`config.yaml:26: sources[2].secret: must be 16 to 256 characters, got 5`,
		`config.yaml:32: sources[3].secret_env: set secret or secret_env, not both`,
		`config.yaml:38: sources[4].mapping.labels.alertname: "a..b" has an empty part: write member names joined by single dots, such as data.labels`,
	)
	if got := err.Error(); got != want {
		t.Errorf("Parse error:\n%s\nwant:\n%s", got, want)
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Logf("first difference at line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
				break
			}
		}
	}
}
