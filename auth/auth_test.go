package auth_test

import (
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
)

func TestNewToken(t *testing.T) {
	shape := regexp.MustCompile(`^tsn_[A-Za-z0-9_-]{43}$`) // 32 bytes of base64url
	seen := map[string]bool{}
	for range 100 {
		token, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(token) {
			t.Fatalf("token %q is not tsn_ + 256 bits of base64url", token)
		}
		if seen[token] {
			t.Fatalf("token %q issued twice", token)
		}
		seen[token] = true
		if want := sha256.Sum256([]byte(token)); string(hash) != string(want[:]) {
			t.Fatalf("hash of %q is not its SHA-256", token)
		}
		tk := auth.Token{Hash: hash}
		if !tk.Matches(token) {
			t.Errorf("token does not match its own hash")
		}
		if tk.Matches(token[:len(token)-1]) || tk.Matches("") {
			t.Errorf("a different token matches")
		}
	}
}

func TestTokenExpired(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := now.Add(time.Minute)
	tests := []struct {
		name    string
		expires *time.Time
		now     time.Time
		want    bool
	}{
		{"never expires", nil, now, false},
		{"before expiry", &at, now, false},
		{"at expiry", &at, at, true},
		{"after expiry", &at, at.Add(time.Millisecond), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (auth.Token{ExpiresAt: tt.expires}).Expired(tt.now); got != tt.want {
				t.Errorf("Expired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	tests := []struct {
		name  string
		err   error
		field string // "" for a valid object
	}{
		{"user ok", auth.User{Name: "rita.k_9-x", Role: auth.RoleResponder}.Validate(), ""},
		{"user 64 chars", auth.User{Name: strings.Repeat("a", 64), Role: auth.RoleAdmin}.Validate(), ""},
		{"user 65 chars", auth.User{Name: strings.Repeat("a", 65), Role: auth.RoleAdmin}.Validate(), "name"},
		{"user upper case", auth.User{Name: "Rita", Role: auth.RoleAdmin}.Validate(), "name"},
		{"user starts with dot", auth.User{Name: ".rita", Role: auth.RoleAdmin}.Validate(), "name"},
		{"user empty", auth.User{Role: auth.RoleAdmin}.Validate(), "name"},
		{"user unknown role", auth.User{Name: "rita", Role: "root"}.Validate(), "role"},
		{"token ok", auth.Token{Name: "laptop", ExpiresAt: &future}.Validate(now), ""},
		{"token blank", auth.Token{Name: " \t"}.Validate(now), "name"},
		{"token too long", auth.Token{Name: strings.Repeat("ü", 129)}.Validate(now), "name"},
		{"token not UTF-8", auth.Token{Name: "\xff"}.Validate(now), "name"},
		{"token NUL", auth.Token{Name: "a\x00b"}.Validate(now), "name"},
		{"token newline", auth.Token{Name: "a\nb"}.Validate(now), "name"},
		{"token bidi override", auth.Token{Name: "lap\u202etop"}.Validate(now), "name"},
		{"token unicode ok", auth.Token{Name: "Ritas Telefon ☎"}.Validate(now), ""},
		{"token expired", auth.Token{Name: "x", ExpiresAt: &past}.Validate(now), "expires_at"},
		{"token expires now", auth.Token{Name: "x", ExpiresAt: &now}.Validate(now), "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				if tt.err != nil {
					t.Fatalf("got %v, want valid", tt.err)
				}
				return
			}
			var e *alerts.Error
			if !errors.As(tt.err, &e) || !errors.Is(tt.err, alerts.ErrInvalid) || e.Field != tt.field {
				t.Fatalf("got %v, want ErrInvalid on field %q", tt.err, tt.field)
			}
		})
	}
}
