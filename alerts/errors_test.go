package alerts_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
)

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
		text string
	}{
		{"invalid with field", alerts.Invalid("role", "must be %q", "admin"), alerts.ErrInvalid, `role: must be "admin"`},
		{"invalid without field", alerts.Invalid("", "empty body"), alerts.ErrInvalid, "empty body"},
		{"not found", alerts.NotFound("user 7"), alerts.ErrNotFound, "user 7 not found"},
		{"conflict", alerts.Conflict("name %q is taken", "bob"), alerts.ErrConflict, `name "bob" is taken`},
		{"wrapped", fmt.Errorf("create user: %w", alerts.NotFound("team 2")), alerts.ErrNotFound, "create user: team 2 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.kind)
			}
			if tt.err.Error() != tt.text {
				t.Errorf("text %q, want %q", tt.err.Error(), tt.text)
			}
			var e *alerts.Error
			if !errors.As(tt.err, &e) {
				t.Errorf("%v is not an *alerts.Error", tt.err)
			}
		})
	}
}
