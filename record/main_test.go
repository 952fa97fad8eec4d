package record

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: recorders, their hub readers and
// the hub's sources all have owners that stop them.
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
