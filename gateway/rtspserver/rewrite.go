package rtspserver

import (
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/gateway/hub"
)

// burstSpacing is the media time given to each access unit of a catch-up
// burst. The cached group of pictures is replayed with its timestamps
// squeezed to this spacing, so a player shows it in a blink and is back at
// live latency right after instead of staying one GOP behind.
const burstSpacing = time.Millisecond

// rewriter gives one reader continuous RTP sequence numbers and timestamps
// per track while the units it writes come from different source sessions,
// catch-up bursts and PLAY after PAUSE.
type rewriter struct {
	tracks []trackClock
	epoch  uint32 // bumped by every new attach (PLAY)
	now    func() time.Time
}

type trackClock struct {
	used    bool
	epoch   uint32
	gen     uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastIn  uint32
	lastAt  time.Time
	// lastOut is the media time of the last packet on the session's
	// output timeline (the source's time for live packets); played-back
	// packets are timed from it.
	lastOut time.Time

	// catch-up burst mapping: out = burstBase + (in-burstIn0)*num/den
	burst bool

	burstIn0  uint32
	burstBase uint32
	burstNum  uint64
	burstDen  uint64
	pkt       rtp.Packet
}

func newRewriter(tracks int) *rewriter {
	return &rewriter{tracks: make([]trackClock, tracks), now: time.Now}
}

// attach starts a new epoch: the next unit of every track resynchronises.
func (rw *rewriter) attach() {
	rw.epoch++
	for i := range rw.tracks {
		rw.tracks[i].burst = false
	}
}

// planBurst prepares the compressed timing of a catch-up burst on track key.
func (rw *rewriter) planBurst(key *hub.Track, units []*hub.Unit) {
	var first, last uint32
	aus := 0
	for _, u := range units {
		if u.Track != key || !u.AUStart {
			continue
		}
		if aus == 0 {
			first = u.Packet.Timestamp
		}
		last = u.Packet.Timestamp
		aus++
	}
	if aus < 2 {
		return
	}
	tc := &rw.tracks[key.Index]
	span := uint64(last - first)
	want := uint64(aus-1) * uint64(burstSpacing) * uint64(key.ClockRate()) / uint64(time.Second)
	if want == 0 {
		want = 1
	}
	if span <= want || span > 1<<31 {
		return
	}
	tc.burst = true
	tc.burstIn0 = first
	tc.burstNum = want
	tc.burstDen = span
}

// packet returns the header-rewritten copy of u to send. The returned packet
// shares u's payload and is valid until the next call for the same track.
func (rw *rewriter) packet(u *hub.Unit, cached bool) *rtp.Packet {
	tc := &rw.tracks[u.Track.Index]
	in := &u.Packet
	now := rw.now()

	if tc.epoch != rw.epoch || tc.gen != u.Gen || (tc.burst && !cached) {
		switch {
		case !tc.used:
			// The first packet ever keeps the source's numbering.
			tc.seqOff, tc.tsOff = 0, 0
		case tc.burst && !cached:
			// Live after a burst: continue one frame interval on.
			tc.seqOff = tc.lastSeq + 1 - in.SequenceNumber
			tc.tsOff = tc.lastTS - tc.lastIn
		default:
			// New source session or resume after PAUSE: continue where the
			// reader left off, with the wall time that passed in between.
			elapsed := now.Sub(tc.lastAt)
			if elapsed < 0 {
				elapsed = 0
			}
			ticks := uint32(uint64(elapsed) * uint64(u.Track.ClockRate()) / uint64(time.Second))
			tc.seqOff = tc.lastSeq + 1 - in.SequenceNumber
			tc.tsOff = tc.lastTS + ticks - in.Timestamp
		}
		if tc.burst && cached && tc.epoch != rw.epoch {
			tc.burstBase = in.Timestamp + tc.tsOff
		}
		if !cached {
			tc.burst = false
		}
		tc.epoch, tc.gen = rw.epoch, u.Gen
	}

	tc.pkt = *in
	tc.pkt.SequenceNumber = in.SequenceNumber + tc.seqOff
	if tc.burst && cached {
		tc.pkt.Timestamp = tc.burstBase + uint32(uint64(in.Timestamp-tc.burstIn0)*tc.burstNum/tc.burstDen)
	} else {
		tc.pkt.Timestamp = in.Timestamp + tc.tsOff
	}
	tc.used = true
	tc.lastSeq = tc.pkt.SequenceNumber
	tc.lastTS = tc.pkt.Timestamp
	tc.lastIn = in.Timestamp
	tc.lastAt = now
	tc.lastOut = u.NTP
	return &tc.pkt
}

// prime gives a track that never sent anything a random starting point,
// anchored at output time out, so a PLAY response can announce its first
// sequence number and timestamp before the first packet is sent.
func (rw *rewriter) prime(i int, out time.Time) {
	tc := &rw.tracks[i]
	if tc.used {
		return
	}
	tc.used = true
	tc.lastSeq = uint16(rand.Uint32())
	tc.lastTS = rand.Uint32()
	tc.lastOut = out
	tc.lastAt = rw.now()
}

// next tells the sequence number and timestamp the packet of track i at
// output time out would get (for RTP-Info).
func (rw *rewriter) next(i, clockRate int, out time.Time) (uint16, uint32) {
	tc := &rw.tracks[i]
	return tc.lastSeq + 1, tc.lastTS + ticksBetween(tc.lastOut, out, clockRate)
}

// played returns the header-rewritten copy of a packet played back from a
// timeline at output time out: numbered after the track's last packet and
// timed from it, so playback continues the session's timeline whether it
// follows live packets, a PAUSE or a seek. The returned packet shares
// in's payload and is valid until the next call for the same track.
func (rw *rewriter) played(i, clockRate int, in *rtp.Packet, out time.Time) *rtp.Packet {
	rw.prime(i, out)
	tc := &rw.tracks[i]
	tc.pkt = *in
	tc.pkt.Header.Extension = false
	tc.pkt.Header.Extensions = nil
	tc.pkt.SequenceNumber = tc.lastSeq + 1
	tc.pkt.Timestamp = tc.lastTS + ticksBetween(tc.lastOut, out, clockRate)
	tc.lastSeq = tc.pkt.SequenceNumber
	tc.lastTS = tc.pkt.Timestamp
	tc.lastIn = in.Timestamp
	tc.lastOut = out
	tc.lastAt = rw.now()
	// The next live packet resynchronises from here.
	tc.epoch = rw.epoch - 1
	tc.burst = false
	return &tc.pkt
}

// ticksBetween is b-a in clock-rate ticks, wrapped to 32 bits (negative
// when b is before a).
func ticksBetween(a, b time.Time, clockRate int) uint32 {
	d := int64(b.Sub(a))
	return uint32(d/int64(time.Millisecond)*int64(clockRate)/1000) + uint32(d%int64(time.Millisecond)*int64(clockRate)/int64(time.Second))
}
