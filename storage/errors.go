package storage

import (
	"fmt"

	"github.com/tocsinhq/tocsin/alerts"
)

// staleVersion is the conflict of a write that named an old version.
func staleVersion(object string, id, got, current int64) error {
	return &alerts.Error{
		Kind:    alerts.ErrConflict,
		Field:   "version",
		Message: fmt.Sprintf("%s %d is at version %d, not %d: reload it and try again", object, id, current, got),
	}
}

// nameTaken is the conflict of a create or rename whose name another object
// of the same type has.
func nameTaken(object, name string) error {
	return &alerts.Error{Kind: alerts.ErrConflict, Field: "name", Message: fmt.Sprintf("%s name %q is taken", object, name)}
}
