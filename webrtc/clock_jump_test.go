package webrtc

import (
	"testing"
	"time"
)

// A camera whose clock jumps, forward or back, within one session: the
// viewer's RTP timestamps go on with the wall time that passed instead of
// jumping; B-frames stepping back a frame keep their spacing.
func TestRTPClockJumps(t *testing.T) {
	const rate, frame = 90000, 3600
	for _, tc := range []struct {
		name string
		step int64 // pts step of the third frame
		want int64 // its out timestamp minus the second's
	}{
		{"steady", frame, frame},
		{"B-frame", -frame, -frame},
		{"jump forward", 10 * rate, frame},
		{"jump back", -10 * rate, frame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rtpClock{rate: rate, base: 1000}
			now := time.Unix(100, 0)
			c.live(0, 1, now)
			now = now.Add(40 * time.Millisecond)
			second := c.live(frame, 1, now)
			now = now.Add(40 * time.Millisecond)
			third := c.live(frame+tc.step, 1, now)
			if got := int64(int32(third - second)); got != tc.want {
				t.Fatalf("out step %d, want %d", got, tc.want)
			}
		})
	}
}
