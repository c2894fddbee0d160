package alerts_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
)

// TestFingerprintMatchesAlertmanager checks every alert of the sample
// payloads (copied from shared/samples): the fingerprint Alertmanager put in
// the payload must be the one computed from the labels.
func TestFingerprintMatchesAlertmanager(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in testdata: %v", err)
	}
	checked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var payload struct {
			Alerts []struct {
				Labels      alerts.Labels `json:"labels"`
				Fingerprint string        `json:"fingerprint"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(data, &payload); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, a := range payload.Alerts {
			if got := a.Labels.Fingerprint().String(); got != a.Fingerprint {
				t.Errorf("%s alerts[%d]: fingerprint %s, want %s", file, i, got, a.Fingerprint)
			}
			checked++
		}
	}
	if checked < 4 {
		t.Errorf("checked %d alerts, want every sample alert", checked)
	}
}

func TestFingerprint(t *testing.T) {
	a := alerts.Labels{"alertname": "Down", "job": "api"}
	b := alerts.Labels{"job": "api", "alertname": "Down"}
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("the same labels in another order have another fingerprint")
	}
	// The separator keeps name/value boundaries apart.
	if (alerts.Labels{"a": "bc"}).Fingerprint() == (alerts.Labels{"ab": "c"}).Fingerprint() {
		t.Error(`{a="bc"} and {ab="c"} share a fingerprint`)
	}
	if got := (alerts.Labels{}).Fingerprint().String(); got != "cbf29ce484222325" {
		t.Errorf("empty label set: %s, want the FNV-1a offset basis cbf29ce484222325", got)
	}
	f := a.Fingerprint()
	back, err := alerts.ParseFingerprint(f.String())
	if err != nil || back != f {
		t.Errorf("ParseFingerprint(%s) = %v, %v", f, back, err)
	}
	for _, bad := range []string{"", "123", "zzzzzzzzzzzzzzzz", "0123456789abcdef0"} {
		if _, err := alerts.ParseFingerprint(bad); !errors.Is(err, alerts.ErrInvalid) {
			t.Errorf("ParseFingerprint(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestLabelsValidate(t *testing.T) {
	tests := []struct {
		name   string
		labels alerts.Labels
		field  string // "" when valid
	}{
		{"valid", alerts.Labels{"alertname": "Down", "_x9": ""}, ""},
		{"empty set", alerts.Labels{}, ""},
		{"starts with digit", alerts.Labels{"9lives": "x"}, `labels["9lives"]`},
		{"dash", alerts.Labels{"team-name": "x"}, `labels["team-name"]`},
		{"empty name", alerts.Labels{"": "x"}, `labels[""]`},
		{"bad UTF-8 value", alerts.Labels{"a": "\xff"}, `labels["a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.labels.Validate("labels")
			var e *alerts.Error
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tt.field != "" && (!errors.As(err, &e) || e.Field != tt.field || !errors.Is(err, alerts.ErrInvalid)):
				t.Fatalf("got %v, want ErrInvalid on %s", err, tt.field)
			}
		})
	}
}

// TestFingerprintIsFNV1a checks the inline hash against hash/fnv over the
// input the fingerprint is defined on, for label sets of every size up to
// past the 32 names sorted on the stack.
func TestFingerprintIsFNV1a(t *testing.T) {
	for n := range 40 {
		ls := alerts.Labels{}
		for i := range n {
			ls[fmt.Sprintf("l%02d_%d", (i*7)%40, i)] = strings.Repeat("vé", i)
		}
		h := fnv.New64a()
		for _, name := range slices.Sorted(maps.Keys(ls)) {
			h.Write([]byte(name))
			h.Write([]byte{0xff})
			h.Write([]byte(ls[name]))
			h.Write([]byte{0xff})
		}
		if got, want := ls.Fingerprint(), alerts.Fingerprint(h.Sum64()); got != want {
			t.Errorf("%d labels: fingerprint %s, want %s", n, got, want)
		}
	}
}
