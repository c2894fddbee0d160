package alerts

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Labels identify an alert: a set of names and values, such as
// {alertname="HighLatency", service="checkout"}.
type Labels map[string]string

// labelName is the Prometheus label name syntax.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ValidLabelName reports whether name is a valid Prometheus label name.
func ValidLabelName(name string) bool { return labelName.MatchString(name) }

// Validate checks that every name is a valid label name and every value is
// UTF-8. It returns an ErrInvalid error whose field is field (such as
// "alerts[2].labels") followed by the offending name in brackets.
func (ls Labels) Validate(field string) error {
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		if !ValidLabelName(name) {
			return Invalid(field+"["+strconv.Quote(name)+"]", "is not a valid label name: want [a-zA-Z_][a-zA-Z0-9_]*")
		}
		if !utf8.ValidString(ls[name]) {
			return Invalid(field+"["+strconv.Quote(name)+"]", "value is not valid UTF-8")
		}
	}
	return nil
}

// Fingerprint identifies an alert by its labels, computed exactly as
// Prometheus and Alertmanager compute it, so that an alert keeps its
// identity across senders: FNV-1a 64 over the names in sorted order, each
// name and each value followed by a 0xff byte.
type Fingerprint uint64

// separator follows each name and value in a fingerprint's input. It can
// not occur in UTF-8 text, so no two label sets share an input.
const separator = 0xff

// The FNV-1a 64 parameters, as hash/fnv has them.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Fingerprint returns the labels' fingerprint. It hashes inline rather
// than through hash/fnv, and sorts the names in a buffer on the stack for
// up to 32 labels, so that it allocates nothing: it runs for every alert
// received.
func (ls Labels) Fingerprint() Fingerprint {
	var buf [32]string
	names := buf[:0]
	for name := range ls {
		names = append(names, name)
	}
	slices.Sort(names)
	h := uint64(fnvOffset64)
	for _, name := range names {
		h = fnvAdd(h, name)
		h = fnvAdd(h, ls[name])
	}
	return Fingerprint(h)
}

// fnvAdd hashes s, then the separator, into h.
func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return (h ^ separator) * fnvPrime64
}

// String formats the fingerprint as Alertmanager does: 16 hex digits.
func (f Fingerprint) String() string {
	return fmt.Sprintf("%016x", uint64(f))
}

// ParseFingerprint parses the 16 hex digits that String makes. It returns
// an ErrInvalid error for anything else.
func ParseFingerprint(s string) (Fingerprint, error) {
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) != 16 {
		return 0, Invalid("fingerprint", "want 16 hex digits, got %q", s)
	}
	return Fingerprint(n), nil
}

// MarshalText writes the fingerprint as String does, so that JSON shows it
// as Alertmanager does.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses the 16 hex digits that MarshalText writes.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	fp, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*f = fp
	return nil
}
