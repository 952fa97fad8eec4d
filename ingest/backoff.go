package ingest

import (
	"math/rand/v2"
	"time"
)

// Backoff computes exponentially growing, jittered delays between reconnect attempts.
// The zero value is ready to use. It is not safe for concurrent use.
type Backoff struct {
	// Min is the first delay. It defaults to 500ms.
	Min time.Duration
	// Max caps the delay. It defaults to 30s.
	Max time.Duration
	// Factor multiplies the delay after each attempt. It defaults to 2.
	Factor float64
	// Jitter is the fraction by which each delay is randomly varied, plus or minus.
	// It defaults to 0.2; a negative value disables jitter.
	Jitter float64
	// StableAfter is how long a session must stay up for Succeeded to reset the delay.
	// It defaults to 1m.
	StableAfter time.Duration
	// Rand returns a number in [0, 1) used for jitter. It defaults to math/rand/v2.Float64.
	Rand func() float64

	attempt int
}

func (b *Backoff) min() time.Duration {
	if b.Min <= 0 {
		return 500 * time.Millisecond
	}
	return b.Min
}

func (b *Backoff) max() time.Duration {
	if b.Max <= 0 {
		return 30 * time.Second
	}
	return max(b.Max, b.min())
}

func (b *Backoff) factor() float64 {
	if b.Factor <= 1 {
		return 2
	}
	return b.Factor
}

func (b *Backoff) jitter() float64 {
	switch {
	case b.Jitter < 0:
		return 0
	case b.Jitter == 0:
		return 0.2
	case b.Jitter > 1:
		return 1
	}
	return b.Jitter
}

func (b *Backoff) stableAfter() time.Duration {
	if b.StableAfter <= 0 {
		return time.Minute
	}
	return b.StableAfter
}

// Next returns the delay before the next attempt and advances the sequence.
func (b *Backoff) Next() time.Duration {
	base := float64(b.min())
	limit := float64(b.max())
	f := b.factor()
	for i := 0; i < b.attempt && base < limit; i++ {
		base *= f
	}
	base = min(base, limit)
	b.attempt++

	if j := b.jitter(); j > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		base *= 1 + j*(2*r()-1)
	}
	return time.Duration(base)
}

// Reset starts the sequence again at Min.
func (b *Backoff) Reset() {
	b.attempt = 0
}

// Succeeded reports that a session stayed up for upFor. It resets the
// sequence when upFor reaches StableAfter. A session that stayed up for at
// least a tenth of that keeps the next delay where the last one was rather
// than growing it: a camera that drops every minute or so reconnects as
// fast each time, within its readers' outage grace. Only a source that
// fails within seconds keeps backing off.
func (b *Backoff) Succeeded(upFor time.Duration) {
	switch {
	case upFor >= b.stableAfter():
		b.Reset()
	case upFor >= b.stableAfter()/10 && b.attempt > 0:
		b.attempt--
	}
}
