package ingest

import (
	"testing"
	"time"
)

func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffSequence(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{
			name: "defaults without jitter double up to 30s",
			b:    Backoff{Jitter: -1},
			want: []time.Duration{500 * ms, s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s},
		},
		{
			name: "jitter at the lower bound",
			b:    Backoff{Rand: constRand(0)},
			want: []time.Duration{400 * ms, 800 * ms, 1600 * ms, 3200 * ms},
		},
		{
			name: "jitter near the upper bound stays within +20%",
			b:    Backoff{Rand: constRand(0.999999)},
			want: []time.Duration{600 * ms, 1200 * ms, 2400 * ms, 4800 * ms},
		},
		{
			name: "custom min max factor",
			b:    Backoff{Min: 100 * ms, Max: s, Factor: 3, Jitter: -1},
			want: []time.Duration{100 * ms, 300 * ms, 900 * ms, s, s},
		},
		{
			name: "max below min is raised to min",
			b:    Backoff{Min: 2 * s, Max: s, Jitter: -1},
			want: []time.Duration{2 * s, 2 * s},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			for i, want := range tc.want {
				got := b.Next()
				if diff := got - want; diff < -ms || diff > ms {
					t.Fatalf("step %d: got %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	b := Backoff{} // real random source
	for i := range 200 {
		nominal := min(500*time.Millisecond<<min(i, 10), 30*time.Second)
		got := b.Next()
		lo := time.Duration(float64(nominal) * 0.8)
		hi := time.Duration(float64(nominal) * 1.2)
		if got < lo || got > hi {
			t.Fatalf("step %d: %v outside [%v, %v]", i, got, lo, hi)
		}
	}
}

func TestBackoffReset(t *testing.T) {
	tests := []struct {
		name  string
		upFor time.Duration
		want  time.Duration
	}{
		{name: "failing session keeps backing off", upFor: 5 * time.Second, want: 4 * time.Second},
		{name: "session of some seconds holds the delay", upFor: 6 * time.Second, want: 2 * time.Second},
		{name: "session of nearly a minute holds the delay", upFor: 59 * time.Second, want: 2 * time.Second},
		{name: "stable session resets", upFor: time.Minute, want: 500 * time.Millisecond},
		{name: "long session resets", upFor: time.Hour, want: 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{Jitter: -1}
			b.Next()
			b.Next()
			b.Next()
			b.Succeeded(tc.upFor)
			if got := b.Next(); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("custom StableAfter", func(t *testing.T) {
		b := Backoff{Jitter: -1, StableAfter: time.Second}
		b.Next()
		b.Next()
		b.Succeeded(time.Second)
		if got := b.Next(); got != 500*time.Millisecond {
			t.Fatalf("got %v, want 500ms", got)
		}
	})

	t.Run("explicit Reset", func(t *testing.T) {
		b := Backoff{Jitter: -1}
		b.Next()
		b.Next()
		b.Reset()
		if got := b.Next(); got != 500*time.Millisecond {
			t.Fatalf("got %v, want 500ms", got)
		}
	})
}

// TestBackoffCameraDroppingEveryMinute: a camera that stays up 55 s and
// drops again and again is reconnected after the same short delay each
// time, not after a delay that outgrows its readers' outage grace.
func TestBackoffCameraDroppingEveryMinute(t *testing.T) {
	b := Backoff{Jitter: -1}
	for i := range 20 {
		if d := b.Next(); d != 500*time.Millisecond {
			t.Fatalf("drop %d: delay %v, want 500ms", i, d)
		}
		b.Succeeded(55 * time.Second)
	}
}
