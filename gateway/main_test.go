package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the gateway's Close stops the
// RTSP server, the hub and every source, and the test cameras and readers
// are closed by their tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
