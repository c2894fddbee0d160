package alerts

import (
	"errors"
	"fmt"
)

// Error classes. Every error tocsin returns to a caller that may show it to a
// client wraps one of these, so that the HTTP edge can map it to a status with
// errors.Is. Errors that wrap none of them are internal: their text is logged,
// never shown.
var (
	// ErrInvalid means the input is malformed or breaks a rule; nothing changed.
	ErrInvalid = errors.New("invalid")
	// ErrUnauthorized means the caller did not prove who it is.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means the object does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change collides with the current state: a stale
	// version, a duplicate name, or a rule such as "keep one admin".
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means tocsin cannot take the request now; the caller may retry.
	ErrUnavailable = errors.New("unavailable")
)

// Error is an error whose message is safe to show to a client. Kind is one of
// the error classes above; Field, when set, names the input field at fault in
// the client's terms (a JSON field such as "role" or "matchers[1]").
type Error struct {
	Kind    error
	Field   string
	Message string
}

// Error returns "field: message", or the message alone when no field is set.
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap returns the error class, so errors.Is(err, ErrInvalid) works.
func (e *Error) Unwrap() error { return e.Kind }

// Invalid returns an ErrInvalid error about field, with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns an ErrNotFound error naming what was not found, such as "user 7".
func NotFound(what string) error {
	return &Error{Kind: ErrNotFound, Message: what + " not found"}
}

// Conflict returns an ErrConflict error with a formatted message.
func Conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Message: fmt.Sprintf(format, args...)}
}
