package rtspserver

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// rwFixture drives a rewriter with hand-made units on a fake clock.
type rwFixture struct {
	rw    *rewriter
	video *hub.Track
	audio *hub.Track
	now   time.Time
}

func newRWFixture() *rwFixture {
	d := avDesc(testSPS)
	f := &rwFixture{
		rw:    newRewriter(2),
		video: &hub.Track{Index: 0, Media: d.Medias[0], Format: d.Medias[0].Formats[0]},
		audio: &hub.Track{Index: 1, Media: d.Medias[1], Format: d.Medias[1].Formats[0]},
		now:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	f.rw.now = func() time.Time { return f.now }
	return f
}

// videoAUs makes n access units of two packets each on the video track,
// the first a keyframe, starting at seq and ts with 3600 ticks (25 fps) between.
func (f *rwFixture) videoAUs(n int, seq uint16, ts uint32, gen uint32) []*hub.Unit {
	var out []*hub.Unit
	for i := range n {
		for j := range 2 {
			out = append(out, &hub.Unit{
				Track: f.video,
				Packet: rtp.Packet{Header: rtp.Header{
					PayloadType:    videoPT,
					SequenceNumber: seq,
					Timestamp:      ts + uint32(i)*3600,
					Marker:         j == 1,
				}},
				Gen:          gen,
				AUStart:      j == 0,
				RandomAccess: i == 0,
			})
			seq++
		}
	}
	return out
}

// out rewrites units and returns copies of the headers sent.
func (f *rwFixture) out(units []*hub.Unit, cached bool) []rtp.Header {
	hs := make([]rtp.Header, len(units))
	for i, u := range units {
		hs[i] = f.rw.packet(u, cached).Header
	}
	return hs
}

// requireContinuous checks sequence numbers +1 each packet and timestamps
// never going back (equal within an access unit, strictly increasing between).
func requireContinuous(t *testing.T, hs []rtp.Header) {
	t.Helper()
	for i := 1; i < len(hs); i++ {
		require.Equal(t, hs[i-1].SequenceNumber+1, hs[i].SequenceNumber, "seq at packet %d", i)
		d := int32(hs[i].Timestamp - hs[i-1].Timestamp)
		if hs[i-1].Marker {
			require.Positive(t, d, "timestamp must increase at the start of packet %d's access unit", i)
		} else {
			require.Zero(t, d, "timestamp must not change inside an access unit (packet %d)", i)
		}
	}
}

func TestRewriterFirstEpochPassesThrough(t *testing.T) {
	f := newRWFixture()
	f.rw.attach()
	in := f.videoAUs(5, 65530, 0xFFFFF000, 1) // wraps both counters
	hs := f.out(in, false)
	for i, u := range in {
		assert.Equal(t, u.Packet.SequenceNumber, hs[i].SequenceNumber)
		assert.Equal(t, u.Packet.Timestamp, hs[i].Timestamp)
		assert.Equal(t, u.Packet.Marker, hs[i].Marker)
	}
	// The audio track starts later, also untouched.
	a := &hub.Unit{Track: f.audio, Packet: rtp.Packet{Header: rtp.Header{PayloadType: audioPT, SequenceNumber: 7, Timestamp: 1234}}, Gen: 1}
	h := f.rw.packet(a, false)
	assert.Equal(t, uint16(7), h.SequenceNumber)
	assert.Equal(t, uint32(1234), h.Timestamp)
}

func TestRewriterPacketSharesPayload(t *testing.T) {
	f := newRWFixture()
	f.rw.attach()
	u := f.videoAUs(1, 1, 1, 1)[0]
	u.Packet.Payload = []byte{1, 2, 3}
	p := f.rw.packet(u, false)
	require.Equal(t, []byte{1, 2, 3}, p.Payload)
	require.Same(t, &u.Packet.Payload[0], &p.Payload[0], "the payload is shared, not copied")
}

func TestRewriterBurstSqueezedThenLiveSpacing(t *testing.T) {
	f := newRWFixture()
	f.rw.attach()
	const n = 25
	all := f.videoAUs(n+10, 1000, 90000, 1)
	burst, live := all[:2*n], all[2*n:]
	f.rw.planBurst(f.video, burst)

	hb := f.out(burst, true)
	hl := f.out(live, false)
	hs := append(append([]rtp.Header(nil), hb...), hl...)
	requireContinuous(t, hs)

	// The burst starts where the source was and is squeezed to burstSpacing per AU.
	require.Equal(t, uint32(90000), hb[0].Timestamp)
	wantSpan := uint32((n - 1) * int(burstSpacing) * 90000 / int(time.Second))
	assert.Equal(t, wantSpan, hb[len(hb)-1].Timestamp-hb[0].Timestamp, "burst span")
	// Live continues with the natural spacing after the last burst AU.
	assert.Equal(t, uint32(3600), hl[0].Timestamp-hb[len(hb)-1].Timestamp, "spacing at the burst→live seam")
	for i := 2; i < len(hl); i += 2 {
		assert.Equal(t, uint32(3600), hl[i].Timestamp-hl[i-2].Timestamp)
	}
	// Sequence numbers are the source's: the first epoch keeps them.
	assert.Equal(t, uint16(1000), hb[0].SequenceNumber)
}

func TestRewriterBurstTooShortToSqueeze(t *testing.T) {
	f := newRWFixture()
	f.rw.attach()
	burst := f.videoAUs(1, 5, 500, 1) // only the keyframe: nothing to squeeze
	f.rw.planBurst(f.video, burst)
	hs := f.out(burst, true)
	hs = append(hs, f.out(f.videoAUs(3, 7, 500+3600, 1), false)...)
	requireContinuous(t, hs)
	assert.Equal(t, uint32(500), hs[0].Timestamp)
}

func TestRewriterResumeContinues(t *testing.T) {
	const elapsed = 3 * time.Second
	cases := []struct {
		name string
		// next returns the units the reader sees after the break.
		next func(f *rwFixture) []*hub.Unit
		// reattach says the break is a PAUSE→PLAY (a new attach).
		reattach bool
		burst    bool
	}{
		{
			name:     "pause then play",
			reattach: true,
			next:     func(f *rwFixture) []*hub.Unit { return f.videoAUs(5, 2000, 90000*50, 1) },
		},
		{
			name:     "pause then play with a burst",
			reattach: true,
			burst:    true,
			next:     func(f *rwFixture) []*hub.Unit { return f.videoAUs(10, 2000, 90000*50, 1) },
		},
		{
			name: "new source generation",
			// The new session numbers from scratch, far from the old one.
			next: func(f *rwFixture) []*hub.Unit { return f.videoAUs(5, 40000, 0x80000000, 2) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newRWFixture()
			f.rw.attach()
			before := f.out(f.videoAUs(5, 100, 9000, 1), false)
			last := before[len(before)-1]

			f.now = f.now.Add(elapsed)
			if tc.reattach {
				f.rw.attach()
			}
			next := tc.next(f)
			cached := false
			if tc.burst {
				f.rw.planBurst(f.video, next)
				cached = true
			}
			after := f.out(next, cached)

			assert.Equal(t, last.SequenceNumber+1, after[0].SequenceNumber, "seq continues at last+1")
			assert.Equal(t, last.Timestamp+uint32(elapsed.Seconds()*90000), after[0].Timestamp,
				"ts continues at last + elapsed wall time")
			requireContinuous(t, after)
			if tc.burst {
				// then live again, at the natural spacing
				more := f.out(f.videoAUs(3, next[len(next)-1].Packet.SequenceNumber+1,
					next[len(next)-1].Packet.Timestamp+3600, 1), false)
				requireContinuous(t, append(after, more...))
				assert.Equal(t, uint32(3600), more[0].Timestamp-after[len(after)-1].Timestamp)
			}
		})
	}
}

func TestRewriterTracksIndependent(t *testing.T) {
	f := newRWFixture()
	f.rw.attach()
	v := f.out(f.videoAUs(2, 10, 0, 1), false)
	a1 := f.rw.packet(&hub.Unit{Track: f.audio, Packet: rtp.Packet{Header: rtp.Header{SequenceNumber: 500, Timestamp: 48000}}, Gen: 1}, false).Header
	f.now = f.now.Add(time.Second)
	// New generation: each track resumes on its own clock rate.
	v2 := f.rw.packet(f.videoAUs(1, 9, 7, 2)[0], false).Header
	a2 := f.rw.packet(&hub.Unit{Track: f.audio, Packet: rtp.Packet{Header: rtp.Header{SequenceNumber: 3, Timestamp: 5}}, Gen: 2}, false).Header
	assert.Equal(t, v[len(v)-1].SequenceNumber+1, v2.SequenceNumber)
	assert.Equal(t, v[len(v)-1].Timestamp+90000, v2.Timestamp)
	assert.Equal(t, a1.SequenceNumber+1, a2.SequenceNumber)
	assert.Equal(t, a1.Timestamp+48000, a2.Timestamp)
}
