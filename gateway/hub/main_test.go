package hub

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: readers, drop reporters,
// sources and idle timers all have owners that stop them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
