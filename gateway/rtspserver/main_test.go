package rtspserver

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// cleanupM runs the tests, then removes what helpers shared across tests
// (the generated clip), before goleak looks for stray goroutines.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if clipDir != "" {
		os.RemoveAll(clipDir)
	}
	return code
}

// Every test must leave no goroutine behind: sessions, readers, sources and
// the server's stream watchers all have owners that stop them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanupM{m})
}
