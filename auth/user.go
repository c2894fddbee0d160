package auth

import (
	"regexp"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// Role is what a user may do.
type Role string

// The roles. An admin manages users, tokens and rules; a responder handles
// alerts, reads itself and manages its own tokens.
const (
	RoleAdmin     Role = "admin"
	RoleResponder Role = "responder"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleResponder }

// User is a person (or a system) that uses tocsin.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IsAdmin reports whether the user has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// userName is the shape of a user name: a login handle, lower case so that
// the stores agree on uniqueness whatever their collation.
var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate checks the fields a client sets. It returns an alerts.ErrInvalid
// error naming the field at fault.
func (u User) Validate() error {
	if !userName.MatchString(u.Name) {
		return alerts.Invalid("name", "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	if !u.Role.Valid() {
		return alerts.Invalid("role", "must be %q or %q", RoleAdmin, RoleResponder)
	}
	return nil
}
