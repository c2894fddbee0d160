package sources

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// Kind is the payload format a source sends.
type Kind string

// The kinds of source.
const (
	KindAlertmanager Kind = "alertmanager" // Alertmanager's webhook payload, version 4
	KindGrafana      Kind = "grafana"      // Grafana's webhook contact point
	KindPrometheus   Kind = "prometheus"   // the Alertmanager v2 API body Prometheus itself sends
	KindGeneric      Kind = "generic"      // any JSON, read through the source's Mapping
)

// kinds lists the kinds in the order error messages name them.
var kinds = []Kind{KindAlertmanager, KindGrafana, KindPrometheus, KindGeneric}

// AuthType is how a source proves who it is.
type AuthType string

// The ways a source authenticates.
const (
	// AuthBearer: Authorization: Bearer <secret>.
	AuthBearer AuthType = "bearer"
	// AuthBasic: HTTP basic auth with Username and the secret as password.
	AuthBasic AuthType = "basic"
	// AuthHMAC: the hex HMAC-SHA256 of the body, keyed with the secret, in
	// the SignatureHeader.
	AuthHMAC AuthType = "hmac"
)

// DefaultSignatureHeader is the header an HMAC source's signature is read
// from when the source names none.
const DefaultSignatureHeader = "X-Tocsin-Signature"

// Secret limits: a secret a client chooses must be long enough not to be
// guessed, and short enough to store.
const (
	MinSecretLen = 16
	MaxSecretLen = 256
)

// Source is a sender of alerts: a monitoring system that POSTs to
// /hooks/{Name} with the credentials of Auth.
type Source struct {
	ID   int64    `json:"id"`
	Name string   `json:"name"`
	Kind Kind     `json:"kind"`
	Auth AuthType `json:"auth"`
	// Username is the basic-auth user name of an AuthBasic source.
	Username string `json:"username,omitempty"`
	// SignatureHeader is the header that carries an AuthHMAC source's
	// signature, in canonical form.
	SignatureHeader string `json:"signature_header,omitempty"`
	// Mapping says how to read a KindGeneric source's payloads; nil for the
	// other kinds.
	Mapping   *Mapping  `json:"mapping,omitempty"`
	ManagedBy string    `json:"managed_by"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Secret is the bearer token, basic password or HMAC key in clear, set
	// only on its way in (a create, or an update that replaces it). It is
	// never stored or shown again after the response that creates it.
	Secret string `json:"-"`
	// Credential is what the store keeps of the secret: see Credential.
	Credential []byte `json:"-"`
}

// Validate checks the fields a client sets and fills in defaults: the
// signature header of an HMAC source. It returns an alerts.ErrInvalid error
// naming the field at fault. Secret may be empty (an update that keeps the
// secret); when set it must be MinSecretLen to MaxSecretLen printable ASCII
// characters, without spaces.
func (s *Source) Validate() error {
	if err := alerts.ValidateName("name", s.Name); err != nil {
		return err
	}
	if !slices.Contains(kinds, s.Kind) {
		return alerts.Invalid("kind", "must be one of %s, got %q", quoteAll(kinds), s.Kind)
	}
	switch s.Auth {
	case AuthBearer:
		if s.Username != "" {
			return alerts.Invalid("username", "is only for basic auth")
		}
		if s.SignatureHeader != "" {
			return alerts.Invalid("signature_header", "is only for hmac auth")
		}
	case AuthBasic:
		if s.Username == "" || len(s.Username) > 128 || strings.ContainsFunc(s.Username, func(r rune) bool { return r <= ' ' || r == ':' || r > '~' }) {
			return alerts.Invalid("username", "basic auth needs a user name of 1 to 128 printable ASCII characters, without spaces or ':'")
		}
		if s.SignatureHeader != "" {
			return alerts.Invalid("signature_header", "is only for hmac auth")
		}
	case AuthHMAC:
		if s.Username != "" {
			return alerts.Invalid("username", "is only for basic auth")
		}
		if s.SignatureHeader == "" {
			s.SignatureHeader = DefaultSignatureHeader
		}
		if !headerName.MatchString(s.SignatureHeader) {
			return alerts.Invalid("signature_header", "must be an HTTP header name such as %s", DefaultSignatureHeader)
		}
		s.SignatureHeader = http.CanonicalHeaderKey(s.SignatureHeader)
	default:
		return alerts.Invalid("auth", "must be one of %s, got %q", quoteAll([]AuthType{AuthBearer, AuthBasic, AuthHMAC}), s.Auth)
	}
	if s.Secret != "" {
		if len(s.Secret) < MinSecretLen || len(s.Secret) > MaxSecretLen {
			return alerts.Invalid("secret", "must be %d to %d characters, got %d", MinSecretLen, MaxSecretLen, len(s.Secret))
		}
		if strings.ContainsFunc(s.Secret, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return alerts.Invalid("secret", "must be printable ASCII without spaces")
		}
	}
	if s.Kind != KindGeneric {
		if s.Mapping != nil {
			return alerts.Invalid("mapping", "is only for the generic kind")
		}
		return nil
	}
	if s.Mapping == nil {
		return alerts.Invalid("mapping", "a generic source needs a mapping")
	}
	return s.Mapping.Validate("mapping")
}

// headerName is the shape of an HTTP header name tocsin accepts.
var headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)

// NewSecret returns a random secret of 32 bytes, base64url-encoded.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Credential returns what the store keeps of secret for auth: the SHA-256
// of a bearer token or basic password, which is enough to check one; and the
// HMAC key itself, which checking a signature needs.
func Credential(auth AuthType, secret string) []byte {
	if auth == AuthHMAC {
		return []byte(secret)
	}
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Limits on a mapping.
const (
	maxPathLen      = 256
	maxPathSegments = 32
	maxMappedFields = 64
)

// Mapping says where a generic JSON payload keeps what tocsin needs; the
// same fields, by the same names, declare it in config.yaml. Paths
// name a JSON value by its members' names joined by dots, with array
// elements by index: "data.alerts", "labels.host", "items.0.name".
type Mapping struct {
	// Alerts is the path of the array of alerts in the body; empty means the
	// body is one alert. The other paths are relative to one alert.
	Alerts string `json:"alerts,omitempty" yaml:"alerts"`
	// Labels maps label names to the paths of their values.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels"`
	// LabelsFrom is the path of an object whose string, number and boolean
	// members are all labels, as well as those of Labels (which win).
	LabelsFrom string `json:"labels_from,omitempty" yaml:"labels_from"`
	// Annotations maps annotation names to the paths of their values.
	Annotations map[string]string `json:"annotations,omitempty" yaml:"annotations"`
	// AnnotationsFrom is the path of an object whose string, number and
	// boolean members are all annotations, as well as those of Annotations
	// (which win).
	AnnotationsFrom string `json:"annotations_from,omitempty" yaml:"annotations_from"`
	// Status is the path of the alert's status; empty means every alert
	// received is firing.
	Status string `json:"status,omitempty" yaml:"status"`
	// ResolvedValues are the values of Status that mean the alert is
	// resolved; every other value means firing.
	ResolvedValues []string `json:"resolved_values,omitempty" yaml:"resolved_values"`
}

// Validate checks the mapping, naming fields under prefix. Labels must come
// from somewhere (Labels or LabelsFrom), label names must be valid, every
// path well formed, and Status and ResolvedValues go together.
func (m *Mapping) Validate(prefix string) error {
	if err := validatePath(prefix+".alerts", m.Alerts); err != nil {
		return err
	}
	if len(m.Labels) == 0 && m.LabelsFrom == "" {
		return alerts.Invalid(prefix+".labels", "say where labels come from: labels, labels_from, or both")
	}
	if err := validateFields(prefix+".labels", m.Labels, true); err != nil {
		return err
	}
	if err := validatePath(prefix+".labels_from", m.LabelsFrom); err != nil {
		return err
	}
	if err := validateFields(prefix+".annotations", m.Annotations, false); err != nil {
		return err
	}
	if err := validatePath(prefix+".annotations_from", m.AnnotationsFrom); err != nil {
		return err
	}
	if err := validatePath(prefix+".status", m.Status); err != nil {
		return err
	}
	switch {
	case m.Status == "" && len(m.ResolvedValues) > 0:
		return alerts.Invalid(prefix+".status", "resolved_values needs the path of the status")
	case m.Status != "" && len(m.ResolvedValues) == 0:
		return alerts.Invalid(prefix+".resolved_values", "say which status values mean resolved")
	case len(m.ResolvedValues) > maxMappedFields:
		return alerts.Invalid(prefix+".resolved_values", "at most %d values", maxMappedFields)
	}
	for i, v := range m.ResolvedValues {
		if v == "" {
			return alerts.Invalid(prefix+".resolved_values["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	return nil
}

// validateFields checks a map of names to paths; label names must be valid
// Prometheus label names, annotation names merely non-empty.
func validateFields(field string, fields map[string]string, labels bool) error {
	if len(fields) > maxMappedFields {
		return alerts.Invalid(field, "at most %d fields", maxMappedFields)
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // report the same field first every time
	for _, name := range names {
		if labels && !alerts.ValidLabelName(name) {
			return alerts.Invalid(field+"."+name, "is not a valid label name")
		}
		if name == "" || len(name) > 128 {
			return alerts.Invalid(field, "names must be 1 to 128 characters")
		}
		if fields[name] == "" {
			return alerts.Invalid(field+"."+name, "needs a path")
		}
		if err := validatePath(field+"."+name, fields[name]); err != nil {
			return err
		}
	}
	return nil
}

// validatePath checks a dotted path; the empty path is valid (unset).
func validatePath(field, path string) error {
	if path == "" {
		return nil
	}
	if len(path) > maxPathLen {
		return alerts.Invalid(field, "paths are at most %d characters", maxPathLen)
	}
	segments := strings.Split(path, ".")
	if len(segments) > maxPathSegments {
		return alerts.Invalid(field, "paths have at most %d parts", maxPathSegments)
	}
	for _, s := range segments {
		if s == "" {
			return alerts.Invalid(field, "%q has an empty part: write member names joined by single dots, such as data.labels", path)
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return alerts.Invalid(field, "paths must not hold control characters")
		}
	}
	return nil
}

// quoteAll writes a list of names as "a", "b" or "c".
func quoteAll[T ~string](names []T) string {
	var b strings.Builder
	for i, n := range names {
		switch {
		case i == len(names)-1 && i > 0:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(`"` + string(n) + `"`)
	}
	return b.String()
}
