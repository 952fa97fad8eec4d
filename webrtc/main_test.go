package webrtc

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: sessions, publishers, their
// RTCP readers and the ICE muxes all have owners that stop them. pion ends
// some goroutines a moment after Close returns; goleak.Find retries for
// more than a second before it reports them.
func TestMain(m *testing.M) {
	code := m.Run()
	clips.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
