package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildTimeout bounds the one build of the command; a loaded two-core CI
// machine compiling the race-enabled packages next to it can be slow.
const buildTimeout = 3 * time.Minute

// built is the command, built once for every process test of this binary.
var built struct {
	once sync.Once
	dir  string
	bin  string
	out  []byte
	err  error
	took time.Duration
}

// streamgateBinary builds cmd/streamgate on first use and returns its path.
func streamgateBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "streamgate-test-bin-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "streamgate")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		start := time.Now()
		built.out, built.err = exec.CommandContext(ctx, "go", "build", "-o", built.bin, ".").CombinedOutput()
		built.took = time.Since(start)
	})
	require.NoError(t, built.err, "go build: %s", built.out)
	t.Logf("go build took %v", built.took.Round(time.Millisecond))
	return built.bin
}

// removeBinary deletes what streamgateBinary built; TestMain calls it.
func removeBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
