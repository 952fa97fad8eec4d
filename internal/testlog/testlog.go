// Package testlog is a log sink for tests: a slog text handler writes into
// a Buffer, and the test counts, lists or waits for the lines it expects.
// It is imported by tests only.
package testlog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Buffer collects log output; it is safe for concurrent use. Its zero
// value is ready.
type Buffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

// Logger returns a debug-level text logger writing into b.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	if b.notify != nil {
		close(b.notify)
		b.notify = nil
	}
	b.mu.Unlock()
	return n, err
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines that contain every one of parts.
func (b *Buffer) Lines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// Count is the number of lines that contain every one of parts.
func (b *Buffer) Count(parts ...string) int { return len(b.Lines(parts...)) }

// Wait waits until a line contains every one of parts and returns the
// first such line; it fails the test when ctx ends first.
func (b *Buffer) Wait(t testing.TB, ctx context.Context, parts ...string) string {
	t.Helper()
	for {
		b.mu.Lock()
		if b.notify == nil {
			b.notify = make(chan struct{})
		}
		changed := b.notify
		b.mu.Unlock()
		if l := b.Lines(parts...); len(l) > 0 {
			return l[0]
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for a log line with %q", parts)
			return ""
		}
	}
}
