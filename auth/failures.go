package auth

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxTrackedAddrs bounds the failure table; the address whose last failure
// is oldest is forgotten first.
const maxTrackedAddrs = 4096

// failureLimiter slows down addresses that keep presenting wrong
// credentials. The policy, with the Config defaults in brackets:
//
//   - A failure is a credential that was checked and was wrong: an unknown
//     user or wrong password (Basic), a wrong Digest response, a token that
//     does not verify. Requests without credentials, malformed headers, a
//     stale Digest nonce and 403s are not failures.
//   - Failures are counted per client address: per IPv4 address, and per
//     /64 for IPv6 since one host usually holds a whole /64. The count
//     starts again once an address has had no failure for FailureWindow [1m]
//     after its last failure and after its last block ended.
//   - The FailureThreshold-th [3rd] failure in a row blocks the address for
//     FailureDelay [1s]; every further failure doubles the block, up to
//     FailureDelayMax [1m]. A block starts at the failure that causes it.
//   - While blocked, every request from the address that carries
//     credentials gets TooManyFailures without its credentials being looked
//     at, so guessing learns nothing and costs no hashing. Such refusals
//     are not failures themselves. Requests without credentials are judged
//     as usual (anonymous access keeps working).
//   - A success does not clear the count: otherwise one valid account
//     would let an attacker interleave unlimited guesses at others.
type failureLimiter struct {
	threshold int
	window    time.Duration
	delay     time.Duration
	maxDelay  time.Duration
	now       func() time.Time

	mu    sync.Mutex
	addrs map[netip.Addr]*list.Element // of *failureRecord
	lru   list.List                    // front: most recent failure
}

type failureRecord struct {
	key          netip.Addr
	count        int
	last         time.Time
	blockedUntil time.Time
}

func newFailureLimiter(threshold int, window, delay, maxDelay time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{
		threshold: threshold, window: window, delay: delay, maxDelay: maxDelay, now: now,
		addrs: make(map[netip.Addr]*list.Element),
	}
}

// addrKey maps a client address to the key failures are counted under.
func addrKey(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{} // unknown: all such requests share one entry
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// blocked returns how long the address must still wait, or 0.
func (l *failureLimiter) blocked(ip net.IP) time.Duration {
	if l == nil {
		return 0
	}
	key := addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.addrs[key]
	if !ok {
		return 0
	}
	if d := e.Value.(*failureRecord).blockedUntil.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failure and returns the block it starts (0 for none) and
// the failure count.
func (l *failureLimiter) fail(ip net.IP) (time.Duration, int) {
	if l == nil {
		return 0, 0
	}
	key := addrKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var r *failureRecord
	if e, ok := l.addrs[key]; ok {
		r = e.Value.(*failureRecord)
		l.lru.MoveToFront(e)
		quietSince := r.last
		if r.blockedUntil.After(quietSince) {
			quietSince = r.blockedUntil
		}
		if now.Sub(quietSince) > l.window {
			r.count = 0
		}
	} else {
		if l.lru.Len() >= maxTrackedAddrs {
			oldest := l.lru.Back()
			delete(l.addrs, oldest.Value.(*failureRecord).key)
			l.lru.Remove(oldest)
		}
		r = &failureRecord{key: key}
		l.addrs[key] = l.lru.PushFront(r)
	}
	r.count++
	r.last = now
	if r.count < l.threshold {
		return 0, r.count
	}
	d := l.maxDelay
	if shift := r.count - l.threshold; shift < 32 && l.delay<<shift < l.maxDelay && l.delay<<shift > 0 {
		d = l.delay << shift
	}
	r.blockedUntil = now.Add(d)
	return d, r.count
}

// len returns the number of tracked addresses.
func (l *failureLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
