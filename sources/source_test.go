package sources_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// checkField checks that err is an alerts.ErrInvalid *alerts.Error about
// field; field "" means err must be nil.
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("error %q, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one about %q", field)
	}
	if !errors.Is(err, alerts.ErrInvalid) {
		t.Errorf("error %q is not ErrInvalid", err)
	}
	e, ok := errors.AsType[*alerts.Error](err)
	if !ok {
		t.Fatalf("error %q is %T, want *alerts.Error", err, err)
	}
	if e.Field != field {
		t.Errorf("error %q is about field %q, want %q", err, e.Field, field)
	}
}

// validMapping returns a mapping that uses every field.
func validMapping() *sources.Mapping {
	return &sources.Mapping{
		Alerts:          "data.alerts",
		Labels:          map[string]string{"host": "host.name", "alertname": "title"},
		LabelsFrom:      "tags",
		Annotations:     map[string]string{"summary": "message", "runbook url": "links.0.href"},
		AnnotationsFrom: "details",
		Status:          "state",
		ResolvedValues:  []string{"ok", "resolved"},
	}
}

func TestSourceValidate(t *testing.T) {
	const secret = "0123456789abcdef" // MinSecretLen
	tests := []struct {
		name   string
		source sources.Source
		field  string // "" for valid
	}{
		{"bearer", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer}, ""},
		{"bearer with secret", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secret}, ""},
		{"longest secret", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: strings.Repeat("x", sources.MaxSecretLen)}, ""},
		{"basic", sources.Source{Name: "grafana", Kind: sources.KindGrafana, Auth: sources.AuthBasic, Username: "grafana"}, ""},
		{"hmac", sources.Source{Name: "prom", Kind: sources.KindPrometheus, Auth: sources.AuthHMAC}, ""},
		{"generic", sources.Source{Name: "custom", Kind: sources.KindGeneric, Auth: sources.AuthBearer, Mapping: validMapping()}, ""},

		{"no name", sources.Source{Kind: sources.KindAlertmanager, Auth: sources.AuthBearer}, "name"},
		{"name not URL-safe", sources.Source{Name: "my source", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer}, "name"},
		{"no kind", sources.Source{Name: "am", Auth: sources.AuthBearer}, "kind"},
		{"unknown kind", sources.Source{Name: "am", Kind: "splunk", Auth: sources.AuthBearer}, "kind"},
		{"no auth", sources.Source{Name: "am", Kind: sources.KindAlertmanager}, "auth"},
		{"unknown auth", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: "oauth"}, "auth"},
		{"bearer with username", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Username: "u"}, "username"},
		{"bearer with signature header", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, SignatureHeader: "X-Sig"}, "signature_header"},
		{"basic without username", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic}, "username"},
		{"basic username with colon", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic, Username: "a:b"}, "username"},
		{"basic username with space", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic, Username: "a b"}, "username"},
		{"basic username not ASCII", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic, Username: "josé"}, "username"},
		{"basic username too long", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic, Username: strings.Repeat("u", 129)}, "username"},
		{"basic with signature header", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBasic, Username: "u", SignatureHeader: "X-Sig"}, "signature_header"},
		{"hmac with username", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthHMAC, Username: "u"}, "username"},
		{"hmac header with space", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthHMAC, SignatureHeader: "X Sig"}, "signature_header"},
		{"hmac header with colon", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthHMAC, SignatureHeader: "X-Sig:"}, "signature_header"},
		{"secret too short", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secret[1:]}, "secret"},
		{"secret too long", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: strings.Repeat("x", sources.MaxSecretLen+1)}, "secret"},
		{"secret with space", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secret + " x"}, "secret"},
		{"secret not ASCII", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: secret + "é"}, "secret"},
		{"mapping on another kind", sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Mapping: validMapping()}, "mapping"},
		{"generic without mapping", sources.Source{Name: "custom", Kind: sources.KindGeneric, Auth: sources.AuthBearer}, "mapping"},
		{"generic with a bad mapping", sources.Source{Name: "custom", Kind: sources.KindGeneric, Auth: sources.AuthBearer, Mapping: &sources.Mapping{}}, "mapping.labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.source.Validate(), tt.field)
		})
	}
}

func TestSourceValidateSignatureHeader(t *testing.T) {
	for in, want := range map[string]string{
		"":                    sources.DefaultSignatureHeader,
		"x-hub-signature-256": "X-Hub-Signature-256",
		"X-Signature":         "X-Signature",
	} {
		s := sources.Source{Name: "gh", Kind: sources.KindGeneric, Auth: sources.AuthHMAC, SignatureHeader: in, Mapping: validMapping()}
		if err := s.Validate(); err != nil {
			t.Errorf("signature header %q: %v", in, err)
			continue
		}
		if s.SignatureHeader != want {
			t.Errorf("signature header %q became %q, want %q", in, s.SignatureHeader, want)
		}
	}
}

func TestMappingValidate(t *testing.T) {
	with := func(change func(*sources.Mapping)) *sources.Mapping {
		m := validMapping()
		change(m)
		return m
	}
	manyFields := map[string]string{}
	for i := range 65 {
		manyFields["l"+strconv.Itoa(i)] = "x"
	}
	tests := []struct {
		name    string
		mapping *sources.Mapping
		field   string // "" for valid
	}{
		{"every field", validMapping(), ""},
		{"labels only", &sources.Mapping{Labels: map[string]string{"host": "host"}}, ""},
		{"labels_from only", &sources.Mapping{LabelsFrom: "labels"}, ""},
		{"array index path", with(func(m *sources.Mapping) { m.Labels["host"] = "items.0.host" }), ""},
		{"longest path", with(func(m *sources.Mapping) { m.Status = strings.Repeat("a", 256) }), ""},
		{"most path parts", with(func(m *sources.Mapping) { m.Status = strings.Repeat("a.", 31) + "a" }), ""},

		{"alerts path with empty part", with(func(m *sources.Mapping) { m.Alerts = "data..alerts" }), "mapping.alerts"},
		{"no labels", &sources.Mapping{Annotations: map[string]string{"summary": "msg"}}, "mapping.labels"},
		{"bad label name", with(func(m *sources.Mapping) { m.Labels["1host"] = "host" }), "mapping.labels.1host"},
		{"label with no path", with(func(m *sources.Mapping) { m.Labels["host"] = "" }), "mapping.labels.host"},
		{"label path ending in a dot", with(func(m *sources.Mapping) { m.Labels["host"] = "host." }), "mapping.labels.host"},
		{"too many labels", with(func(m *sources.Mapping) { m.Labels = manyFields }), "mapping.labels"},
		{"labels_from with empty part", with(func(m *sources.Mapping) { m.LabelsFrom = ".tags" }), "mapping.labels_from"},
		{"annotation with no name", with(func(m *sources.Mapping) { m.Annotations[""] = "x" }), "mapping.annotations"},
		{"annotation with no path", with(func(m *sources.Mapping) { m.Annotations["summary"] = "" }), "mapping.annotations.summary"},
		{"too many annotations", with(func(m *sources.Mapping) { m.Annotations = manyFields }), "mapping.annotations"},
		{"annotations_from with control character", with(func(m *sources.Mapping) { m.AnnotationsFrom = "de\ttails" }), "mapping.annotations_from"},
		{"status path too long", with(func(m *sources.Mapping) { m.Status = strings.Repeat("a", 257) }), "mapping.status"},
		{"status path with too many parts", with(func(m *sources.Mapping) { m.Status = strings.Repeat("a.", 32) + "a" }), "mapping.status"},
		{"status without resolved values", with(func(m *sources.Mapping) { m.ResolvedValues = nil }), "mapping.resolved_values"},
		{"resolved values without status", with(func(m *sources.Mapping) { m.Status = "" }), "mapping.status"},
		{"empty resolved value", with(func(m *sources.Mapping) { m.ResolvedValues = []string{"ok", ""} }), "mapping.resolved_values[1]"},
		{"too many resolved values", with(func(m *sources.Mapping) { m.ResolvedValues = make([]string, 65) }), "mapping.resolved_values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.mapping.Validate("mapping"), tt.field)
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := sources.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sources.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two secrets are both %q", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Errorf("secret %q: %d bytes (%v), want 32 bytes of base64url", a, len(raw), err)
	}
	// A secret tocsin makes is one a client could have chosen.
	s := sources.Source{Name: "am", Kind: sources.KindAlertmanager, Auth: sources.AuthBearer, Secret: a}
	if err := s.Validate(); err != nil {
		t.Errorf("a new secret does not validate: %v", err)
	}
}

func TestCredential(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	hash := sha256.Sum256([]byte(secret))
	for _, auth := range []sources.AuthType{sources.AuthBearer, sources.AuthBasic} {
		if got := sources.Credential(auth, secret); !bytes.Equal(got, hash[:]) {
			t.Errorf("Credential(%s) = %x, want the SHA-256 of the secret", auth, got)
		}
	}
	if got := sources.Credential(sources.AuthHMAC, secret); string(got) != secret {
		t.Errorf("Credential(hmac) = %q, want the key itself", got)
	}
}
