package alerts_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind, such as
// a config queue whose Run did not return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
