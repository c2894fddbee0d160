package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/alerts"
)

// TokenPrefix starts every token tocsin issues, so that secret scanners and
// people can tell a tocsin token when they see one.
const TokenPrefix = "tsn_"

// tokenBytes is the token's randomness: 256 bits.
const tokenBytes = 32

// maxTokenName caps a token's name.
const maxTokenName = 128

// Token is an API token's metadata. The token itself is never stored: only
// its SHA-256 hash, which is not part of this type's JSON.
type Token struct {
	ID        int64      `json:"id"`
	UserID    int64      `json:"user_id"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
	Version   int64      `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
	// Hash is the SHA-256 hash of the token.
	Hash []byte `json:"-"`
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Matches reports, in constant time, whether presented is this token.
func (t Token) Matches(presented string) bool {
	h := HashToken(presented)
	return subtle.ConstantTimeCompare(h, t.Hash) == 1
}

// Validate checks the fields a client sets, at time now. It returns an
// alerts.ErrInvalid error naming the field at fault.
func (t Token) Validate(now time.Time) error {
	if strings.TrimSpace(t.Name) == "" || utf8.RuneCountInString(t.Name) > maxTokenName || !utf8.ValidString(t.Name) {
		return alerts.Invalid("name", "must be 1 to %d characters, not all blank", maxTokenName)
	}
	if strings.IndexFunc(t.Name, unprintable) >= 0 {
		return alerts.Invalid("name", "must not hold control or formatting characters")
	}
	if t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
		return alerts.Invalid("expires_at", "must be in the future")
	}
	return nil
}

// NewToken returns a new random token and its hash. The token is shown to its
// owner once; only the hash is stored.
func NewToken() (token string, hash []byte, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the SHA-256 hash under which a token is stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// unprintable reports control characters and invisible formatting ones
// (bidirectional overrides, zero-width joiners), which would let a name show
// as something other than it is in a console or a log.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}
