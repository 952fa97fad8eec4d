package auth

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func slowdownAuthorizer(t *testing.T) (*Authorizer, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	conf := testConfig(t)
	conf.FailureDelay = 0 // defaults: 3 failures, 1s doubling, 1m cap, 1m window
	conf.now = clock.Now
	return newTestAuthorizer(t, conf), clock
}

func try(t *testing.T, a *Authorizer, from, pass string) (Decision, error) {
	t.Helper()
	d, _, err := a.Authorize(context.Background(), Request{Action: ActionRead, Path: "cams/a", User: "alice", Pass: pass, IP: ip(from)})
	return d, err
}

// Three wrong passwords from one address block it for 1s; while blocked
// even the right password gets TooManyFailures; each further failure
// doubles the block; other addresses and anonymous access are unaffected.
func TestFailureSlowdown(t *testing.T) {
	a, clock := slowdownAuthorizer(t)
	const attacker = "198.51.100.1"

	for i := range 2 {
		d, _ := try(t, a, attacker, "guess")
		require.Equal(t, Unauthorized, d, "failure %d", i+1)
	}
	d, _ := try(t, a, attacker, "guess")
	require.Equal(t, Unauthorized, d, "the third failure is still judged")

	d, err := try(t, a, attacker, "alice-pw")
	require.Equal(t, TooManyFailures, d, "blocked: the right password is not even looked at")
	var tmf *TooManyFailuresError
	require.ErrorAs(t, err, &tmf)
	assert.Equal(t, time.Second, tmf.RetryAfter)
	assert.ErrorIs(t, err, ErrTooManyFailures)

	d, _ = try(t, a, "198.51.100.2", "alice-pw")
	assert.Equal(t, Allow, d, "another address is unaffected")
	d, _, _ = a.Authorize(context.Background(), Request{Action: ActionRead, Path: "public/x", IP: ip(attacker)})
	assert.Equal(t, Allow, d, "anonymous access from the blocked address still works")
	d, _, _ = a.Authorize(context.Background(), Request{Action: ActionRead, Path: "cams/a", IP: ip(attacker)})
	assert.Equal(t, Unauthorized, d, "no credentials: a challenge, not 429")

	clock.Advance(time.Second)
	d, _ = try(t, a, attacker, "guess")
	require.Equal(t, Unauthorized, d)
	_, err = try(t, a, attacker, "guess")
	require.ErrorAs(t, err, &tmf)
	assert.Equal(t, 2*time.Second, tmf.RetryAfter, "the fourth failure doubles the block")

	for _, want := range []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		clock.Advance(tmf.RetryAfter)
		d, _ = try(t, a, attacker, "guess")
		require.Equal(t, Unauthorized, d)
		_, err = try(t, a, attacker, "guess")
		require.ErrorAs(t, err, &tmf)
		assert.Equal(t, want, tmf.RetryAfter)
	}

	// The block has ended, and a success does not clear the count.
	clock.Advance(time.Minute)
	d, _ = try(t, a, attacker, "alice-pw")
	require.Equal(t, Allow, d)
	d, _ = try(t, a, attacker, "guess")
	require.Equal(t, Unauthorized, d)
	_, err = try(t, a, attacker, "alice-pw")
	require.ErrorAs(t, err, &tmf, "still counting after a success")

	// A quiet window after the block ends starts the count again.
	clock.Advance(tmf.RetryAfter + time.Minute + time.Second)
	for range 2 {
		d, _ = try(t, a, attacker, "guess")
		require.Equal(t, Unauthorized, d)
	}
	d, _ = try(t, a, attacker, "alice-pw")
	assert.Equal(t, Allow, d, "two failures after a quiet minute do not block")
}

// Failures spread over more than the window never block.
func TestFailureWindow(t *testing.T) {
	a, clock := slowdownAuthorizer(t)
	for range 10 {
		d, _ := try(t, a, "198.51.100.9", "guess")
		require.Equal(t, Unauthorized, d)
		clock.Advance(61 * time.Second)
	}
	d, _ := try(t, a, "198.51.100.9", "alice-pw")
	assert.Equal(t, Allow, d)
}

// One host usually holds a /64: its addresses share a count.
func TestFailureIPv6Prefix(t *testing.T) {
	a, _ := slowdownAuthorizer(t)
	for i := range 3 {
		d, _ := try(t, a, fmt.Sprintf("2001:db8:1:2::%x", i+1), "guess")
		require.Equal(t, Unauthorized, d)
	}
	d, _ := try(t, a, "2001:db8:1:2:ffff::1", "alice-pw")
	assert.Equal(t, TooManyFailures, d, "same /64")
	d, _ = try(t, a, "2001:db8:1:3::1", "alice-pw")
	assert.Equal(t, Allow, d, "another /64")
}

// The table of addresses is bounded; the oldest is forgotten first.
func TestFailureTableBounded(t *testing.T) {
	clock := newFakeClock()
	l := newFailureLimiter(3, time.Minute, time.Second, time.Minute, clock.Now)
	first := net.IPv4(10, 0, 0, 1)
	for range 3 {
		l.fail(first)
	}
	require.Positive(t, l.blocked(first))
	for i := range maxTrackedAddrs + 100 {
		l.fail(net.IPv4(11, byte(i>>16), byte(i>>8), byte(i)))
	}
	assert.Equal(t, maxTrackedAddrs, l.len())
	assert.Zero(t, l.blocked(first), "the oldest entry was evicted")
}

// Failure delays disabled: no slowdown however many failures.
func TestFailureSlowdownDisabled(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t)) // FailureDelay: -1
	for range 10 {
		d, _ := try(t, a, "198.51.100.1", "guess")
		require.Equal(t, Unauthorized, d)
	}
	d, _ := try(t, a, "198.51.100.1", "alice-pw")
	assert.Equal(t, Allow, d)
}
