package webrtc

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

// maxPayload is the largest RTP payload sent: 1200 bytes minus the RTP
// header, so packets fit through TURN and VPN tunnels (MediaMTX's value).
const maxPayload = 1188

// burstSpacing is the media time given to each frame of a catch-up burst
// (the cached group of pictures a viewer starts with, or a keyframe replay
// after PLI): the browser decodes the burst at once and shows live frames
// right after, instead of playing one GOP behind.
const burstSpacing = time.Millisecond

// frameEncoder turns one access unit into RTP packets (timestamp unset).
type frameEncoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

// outTrack is one track a viewer receives: its own pion track, its own
// sequence numbers and timestamps.
type outTrack struct {
	spec   *outSpec
	local  *pwebrtc.TrackLocalStaticRTP
	sender *pwebrtc.RTPSender
	enc    frameEncoder // nil for packet pass-through
	clock  rtpClock
	seq    uint16
	pkt    rtp.Packet
	sent   uint64         // packets written, read by the session goroutine only after the reader ends
	bytes  *atomic.Uint64 // the session's byte counter (session.bytesSent); nil in tests
}

func newOutTrack(spec *outSpec) (*outTrack, error) {
	ot := &outTrack{spec: spec, seq: uint16(randUint32())}
	ot.clock = rtpClock{rate: spec.track.ClockRate(), base: randUint32()}
	switch spec.send {
	case sendH264:
		enc := &rtph264.Encoder{PayloadType: uint8(spec.codec.PayloadType), PayloadMaxSize: maxPayload, PacketizationMode: 1, InitialSequenceNumber: &ot.seq}
		if err := enc.Init(); err != nil {
			return nil, fmt.Errorf("H.264 encoder: %w", err)
		}
		ot.enc = enc
	case sendH265:
		enc := &rtph265.Encoder{PayloadType: uint8(spec.codec.PayloadType), PayloadMaxSize: maxPayload, InitialSequenceNumber: &ot.seq}
		if err := enc.Init(); err != nil {
			return nil, fmt.Errorf("H.265 encoder: %w", err)
		}
		ot.enc = enc
	}
	local, err := pwebrtc.NewTrackLocalStaticRTP(spec.codec.RTPCodecCapability, spec.kind.String(), "streamgate")
	if err != nil {
		return nil, err
	}
	ot.local = local
	return ot, nil
}

// writeFrame sends one access unit at out timestamp ts.
func (ot *outTrack) writeFrame(au *hub.AccessUnit, ts uint32) error {
	pkts, err := ot.enc.Encode(au.Payloads)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		p.Timestamp = ts
		if err := ot.local.WriteRTP(p); err != nil {
			return err
		}
		ot.sent++
		ot.count(p)
	}
	return nil
}

// writePacket forwards the payload of a unit (pass-through codecs).
func (ot *outTrack) writePacket(u *hub.Unit, ts uint32) error {
	ot.pkt.Header = rtp.Header{
		Version:        2,
		Marker:         u.Packet.Marker,
		PayloadType:    uint8(ot.spec.codec.PayloadType),
		SequenceNumber: ot.seq,
		Timestamp:      ts,
	}
	ot.pkt.Payload = u.Packet.Payload
	ot.seq++
	err := ot.local.WriteRTP(&ot.pkt)
	ot.count(&ot.pkt)
	ot.pkt.Payload = nil
	ot.sent++
	return err
}

// count adds the size of a written RTP packet to the session's bytes sent.
func (ot *outTrack) count(p *rtp.Packet) {
	if ot.bytes != nil {
		ot.bytes.Add(uint64(p.MarshalSize()))
	}
}

// rtpClock maps a track's presentation times to one continuous RTP
// timeline per viewer: cached frames are squeezed to burstSpacing, live
// frames keep the source's spacing, and a new source session continues
// where the last one left off.
type rtpClock struct {
	rate    int
	base    uint32
	started bool
	inBurst bool
	gen     uint32
	off     int64 // live: out = pts + off (mod 2^32)
	lastOut uint32
	lastPTS int64
	lastAt  time.Time
}

// burst returns the timestamp of the next frame of a catch-up burst.
func (c *rtpClock) burst(pts int64, gen uint32, now time.Time) uint32 {
	out := c.base
	if c.started {
		step := uint32(int64(burstSpacing) * int64(c.rate) / int64(time.Second))
		out = c.lastOut + max(step, 1)
	}
	c.started, c.inBurst, c.gen = true, true, gen
	c.record(out, pts, now)
	return out
}

// clockJump is the largest step, in seconds, between two presentation
// times of a track taken as the stream going on rather than a clock jump.
const clockJump = 5

// live returns the timestamp of a live frame.
func (c *rtpClock) live(pts int64, gen uint32, now time.Time) uint32 {
	switch {
	case !c.started:
		c.off = int64(c.base) - pts
	case gen != c.gen || !c.inBurst && (pts-c.lastPTS > clockJump*int64(c.rate) || c.lastPTS-pts > clockJump*int64(c.rate)):
		// New source session (its timestamps restart), or the camera's
		// clock jumped. Continue with the wall time that passed, so the
		// jitter buffer sees no jump.
		elapsed := max(now.Sub(c.lastAt), 0)
		ticks := max(int64(elapsed)*int64(c.rate)/int64(time.Second), 1)
		c.off = int64(c.lastOut) + ticks - pts
	case c.inBurst:
		// After a burst: one source frame interval on.
		c.off = int64(c.lastOut) + max(pts-c.lastPTS, 1) - pts
	}
	c.started, c.inBurst, c.gen = true, false, gen
	out := uint32(pts + c.off)
	c.record(out, pts, now)
	return out
}

func (c *rtpClock) record(out uint32, pts int64, now time.Time) {
	c.lastOut, c.lastPTS, c.lastAt = out, pts, now
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
