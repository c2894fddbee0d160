package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestLeavesAndEnvNames(t *testing.T) {
	ls := leaves(reflect.TypeFor[Config]())
	want := map[string]string{ // a sample; every leaf is checked below
		"server.listen":          "TOCSIN_SERVER_LISTEN",
		"server.max_body_bytes":  "TOCSIN_SERVER_MAX_BODY_BYTES",
		"storage.dsn":            "TOCSIN_STORAGE_DSN",
		"hooks.max_alerts":       "TOCSIN_HOOKS_MAX_ALERTS",
		"queues.alert.size":      "TOCSIN_QUEUES_ALERT_SIZE",
		"queues.config.size":     "TOCSIN_QUEUES_CONFIG_SIZE",
		"push.allowed_origins":   "TOCSIN_PUSH_ALLOWED_ORIGINS",
		"push.max_message_bytes": "TOCSIN_PUSH_MAX_MESSAGE_BYTES",
	}
	valid := regexp.MustCompile(`^TOCSIN_[A-Z0-9_]+$`)
	byName := make(map[string]string)
	for _, lf := range ls {
		name := envName(lf.path)
		if w, ok := want[lf.path]; ok && name != w {
			t.Errorf("envName(%q) = %q, want %q", lf.path, name, w)
		}
		delete(want, lf.path)
		if !valid.MatchString(name) {
			t.Errorf("envName(%q) = %q, not a portable variable name", lf.path, name)
		}
		if other, dup := byName[name]; dup {
			t.Errorf("keys %s and %s share the variable %s", other, lf.path, name)
		}
		byName[name] = lf.path
	}
	for path := range want {
		t.Errorf("leaves(Config) has no key %s", path)
	}
}

// Every leaf can be set from its variable: adding a field of a type the
// loader cannot parse fails here.
func TestEveryLeafSettable(t *testing.T) {
	samples := map[reflect.Kind]string{
		reflect.String: "x", reflect.Bool: "true", reflect.Int: "3", reflect.Int64: "3s", reflect.Slice: "a,b",
	}
	root := reflect.ValueOf(new(Config)).Elem()
	for _, lf := range leaves(root.Type()) {
		t.Run(lf.path, func(t *testing.T) {
			v := root.FieldByIndex(lf.index)
			s, ok := samples[v.Kind()]
			if !ok {
				t.Fatalf("%s has type %s, which the loader does not support", lf.path, v.Type())
			}
			if v.Kind() == reflect.Int64 && !isDuration(v.Type()) {
				s = "3"
			}
			l := newLoader("config.yaml")
			name := envName(lf.path)
			l.applyEnv(root, env(map[string]string{name: s}))
			if len(l.problems) > 0 {
				t.Fatalf("setting %s=%q: %v", name, s, joinProblems(l.problems))
			}
			if got := l.origins[lf.path]; got != (origin{env: name}) {
				t.Errorf("after %s=%q the origin of %s is %+v, want the variable", name, s, lf.path, got)
			}
		})
	}
}

// Validation names keys that exist.
func TestValidationKeysExist(t *testing.T) {
	paths := make(map[string]bool)
	for _, lf := range leaves(reflect.TypeFor[Config]()) {
		paths[lf.path] = true
	}
	bad := Config{Storage: Storage{Driver: "mysql", DSN: "x"}, Push: Push{AllowedOrigins: []string{"x"}}}
	ps := validate(bad)
	if len(ps) < 10 {
		t.Errorf("validate(%+v) found %d problems, want one per rule:\n%v", bad, len(ps), joinProblems(ps))
	}
	for _, p := range ps {
		base, _, _ := strings.Cut(p.key, "[")
		if !paths[base] {
			t.Errorf("validate reports key %q, which Config does not have", p.key)
		}
	}
}

// docs/configuration.md documents every key and its variable.
func TestDocsListEveryKey(t *testing.T) {
	const path = "../docs/configuration.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, lf := range leaves(reflect.TypeFor[Config]()) {
		for _, s := range []string{"`" + lf.path + "`", "`" + envName(lf.path) + "`"} {
			if !strings.Contains(doc, s) {
				t.Errorf("%s does not mention %s", path, s)
			}
		}
	}
}
