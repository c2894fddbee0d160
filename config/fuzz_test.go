package config

import (
	"os"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds Parse arbitrary files: it must never panic, must return
// the zero Config with an error, and a config it accepts must validate and
// survive being written back out as YAML and parsed again.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../config.yaml", "testdata/full.yaml", "testdata/problems.yaml", "testdata/declared.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error", data)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v, want the zero Config", data, cfg, err)
			}
			return
		}
		if ps := validate(cfg); len(ps) != 0 {
			t.Fatalf("Parse(%q) accepted a config that does not validate:\n%v", data, joinProblems(ps))
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("yaml.Marshal(%+v): %v", cfg, err)
		}
		again, err := Parse("fuzz-again.yaml", out, nil)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but its re-encoding\n%s\nis rejected: %v", data, out, err)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("Parse(%q) =\n%+v\nbut its re-encoding parses as\n%+v", data, cfg, again)
		}
	})
}
