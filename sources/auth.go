package sources

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/tocsinhq/tocsin/alerts"
)

// Authenticate checks that a request with header h and body body comes
// from s, as s.Auth says:
//
//   - bearer: "Authorization: Bearer TOKEN", whose SHA-256 is s.Credential;
//   - basic: "Authorization: Basic ..." with s.Username and a password whose
//     SHA-256 is s.Credential;
//   - hmac: the header s.SignatureHeader (DefaultSignatureHeader when unset)
//     holds the HMAC-SHA256 of body keyed with s.Credential, in hex of
//     either case, with or without a "sha256=" prefix (as GitHub writes
//     it).
//
// Secrets are compared in constant time. It returns an
// alerts.ErrUnauthorized *alerts.Error that says only "missing credentials"
// (no Authorization or signature header) or "bad credentials" (anything
// else wrong), and a plain error when s.Auth is not a known type.
func (s *Source) Authenticate(h http.Header, body []byte) error {
	switch s.Auth {
	case AuthBearer:
		value := h.Get("Authorization")
		if value == "" {
			return unauthorized(missingCredentials)
		}
		token, ok := cutScheme(value, "Bearer")
		if !ok || !s.secretMatches(token) {
			return unauthorized(badCredentials)
		}
		return nil
	case AuthBasic:
		value := h.Get("Authorization")
		if value == "" {
			return unauthorized(missingCredentials)
		}
		user, password, ok := parseBasic(value)
		// Both compares run, so that the time taken does not tell a wrong
		// user from a wrong password.
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.Username)) == 1
		if !s.secretMatches(password) || !userOK || !ok {
			return unauthorized(badCredentials)
		}
		return nil
	case AuthHMAC:
		name := s.SignatureHeader
		if name == "" {
			name = DefaultSignatureHeader
		}
		value := strings.TrimSpace(h.Get(name))
		if value == "" {
			return unauthorized(missingCredentials)
		}
		if len(value) > len("sha256=") && strings.EqualFold(value[:len("sha256=")], "sha256=") {
			value = value[len("sha256="):]
		}
		got, err := hex.DecodeString(value)
		mac := hmac.New(sha256.New, s.Credential)
		mac.Write(body)
		// An empty key would let anyone sign: a source without one
		// authenticates no request.
		if err != nil || len(s.Credential) == 0 || !hmac.Equal(got, mac.Sum(nil)) {
			return unauthorized(badCredentials)
		}
		return nil
	}
	return fmt.Errorf("source %q has unknown auth type %q", s.Name, s.Auth)
}

// The messages of Authenticate's errors. They say no more than that, so
// that a caller guessing learns nothing of which part was wrong.
const (
	missingCredentials = "missing credentials"
	badCredentials     = "bad credentials"
)

// unauthorized returns an alerts.ErrUnauthorized error with message.
func unauthorized(message string) error {
	return &alerts.Error{Kind: alerts.ErrUnauthorized, Message: message}
}

// secretMatches reports, in constant time, whether the SHA-256 of secret is
// s.Credential.
func (s *Source) secretMatches(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], s.Credential) == 1
}

// cutScheme returns the credentials of an Authorization header value of the
// given scheme, matched without regard to case.
func cutScheme(value, scheme string) (string, bool) {
	if len(value) <= len(scheme) || !strings.EqualFold(value[:len(scheme)], scheme) || value[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimLeft(value[len(scheme)+1:], " "), true
}

// parseBasic reads the user name and password of a basic Authorization
// header value, as net/http's Request.BasicAuth does.
func parseBasic(value string) (user, password string, ok bool) {
	encoded, ok := cutScheme(value, "Basic")
	if !ok {
		return "", "", false
	}
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(decoded), ":")
}
