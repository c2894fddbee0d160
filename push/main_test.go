package push_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// connection's writer or closer, or a hub's Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
