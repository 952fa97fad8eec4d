package auth

import (
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The JWKS refresh goroutine belongs to keyfunc; Close must end it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// cheapHash returns an argon2id hash with tiny parameters, so tests that
// check many wrong passwords stay fast; the format is the real one.
func cheapHash(t testing.TB, pass string) string {
	t.Helper()
	salt := make([]byte, 16)
	_, err := rand.Read(salt)
	require.NoError(t, err)
	h := argonHash{memory: 64, time: 1, threads: 1, salt: salt}
	h.key = h.derive(pass, 32)
	return h.String()
}

// fakeClock is a settable time source for the failure slowdown.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ip(s string) net.IP { return net.ParseIP(s) }
