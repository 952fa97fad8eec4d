package webrtc

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
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

// nackHistory is how many packets of a viewer's video the NACK responder
// keeps for retransmission: about one second at 4 Mbit/s.
const nackHistory = 512

// ringMargin is how many packets a header outlives the responder's history:
// time for a retransmission that has just looked it up to be written.
const ringMargin = 128

// outTrack is one track a viewer receives: its own pion track, its own
// sequence numbers and timestamps.
type outTrack struct {
	spec   *outSpec
	local  *viewerTrack
	sender *pwebrtc.RTPSender
	// packetise says frames are packetised again (H.264, H.265), once per
	// stream (sharedFrame); other codecs pass packets through.
	packetise bool
	clock     rtpClock
	seq       uint16
	// ring holds the headers of the last packets written: pion's NACK
	// responder keeps a pointer to each header it is given instead of a
	// copy (see viewerAPI), so a header is reused only after the responder
	// has forgotten it.
	ring  []rtp.Packet
	next  int
	sent  uint64         // packets written, read by the session goroutine only after the reader ends
	bytes *atomic.Uint64 // the session's byte counter (session.bytesSent); nil in tests
}

func newOutTrack(spec *outSpec) (*outTrack, error) {
	ot := &outTrack{spec: spec, seq: uint16(randUint32())}
	ot.clock = rtpClock{rate: spec.track.ClockRate(), base: randUint32()}
	ot.packetise = spec.send == sendH264 || spec.send == sendH265
	if spec.kind == pwebrtc.RTPCodecTypeVideo {
		ot.ring = make([]rtp.Packet, nackHistory+ringMargin)
	} else {
		ot.ring = make([]rtp.Packet, 1)
	}
	ot.local = newViewerTrack(spec.codec.RTPCodecCapability, spec.kind)
	return ot, nil
}

// sharedFrame is an access unit packetised once for every viewer of a
// stream: the payloads of its RTP packets, in one buffer the frame owns
// (never the hub's recycled packet memory, since the NACK responder keeps
// references to what was sent). The last packet carries the marker bit.
type sharedFrame struct {
	payloads [][]byte
	err      error
}

// framePackets returns the shared packetisation of the access unit that u
// starts (decoded as au), computing it on the first viewer's call.
func framePackets(u *hub.Unit, au *hub.AccessUnit, send sendKind) *sharedFrame {
	sf, ok := u.Memo(func() any { return packetiseFrame(au, send) }).(*sharedFrame)
	if !ok {
		return packetiseFrame(au, send)
	}
	return sf
}

func packetiseFrame(au *hub.AccessUnit, send sendKind) *sharedFrame {
	var seq uint16
	var ssrc uint32
	var pkts []*rtp.Packet
	var err error
	switch send {
	case sendH264:
		enc := &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: maxPayload, PacketizationMode: 1, InitialSequenceNumber: &seq, SSRC: &ssrc}
		if err = enc.Init(); err == nil {
			pkts, err = enc.Encode(au.Payloads)
		}
	case sendH265:
		enc := &rtph265.Encoder{PayloadType: 96, PayloadMaxSize: maxPayload, InitialSequenceNumber: &seq, SSRC: &ssrc}
		if err = enc.Init(); err == nil {
			pkts, err = enc.Encode(au.Payloads)
		}
	default:
		err = fmt.Errorf("no packetiser for %v", send)
	}
	if err != nil {
		return &sharedFrame{err: err}
	}
	n := 0
	for _, p := range pkts {
		n += len(p.Payload)
	}
	buf := make([]byte, n)
	sf := &sharedFrame{payloads: make([][]byte, len(pkts))}
	for i, p := range pkts {
		k := copy(buf, p.Payload)
		sf.payloads[i] = buf[:k:k]
		buf = buf[k:]
	}
	return sf
}

// writeFrame sends one packetised access unit at out timestamp ts.
func (ot *outTrack) writeFrame(sf *sharedFrame, ts uint32) error {
	if sf.err != nil {
		return sf.err
	}
	for i, pl := range sf.payloads {
		if err := ot.write(pl, i == len(sf.payloads)-1, ts); err != nil {
			return err
		}
	}
	return nil
}

// writePacket forwards the payload of a unit (pass-through codecs). A
// video payload is copied once per stream (Memo): the responder may keep it.
func (ot *outTrack) writePacket(u *hub.Unit, ts uint32) error {
	payload := u.Packet.Payload
	if len(ot.ring) > 1 {
		if b, ok := u.Memo(func() any { return slices.Clone(u.Packet.Payload) }).([]byte); ok {
			payload = b
		} else {
			payload = slices.Clone(payload)
		}
	}
	return ot.write(payload, u.Packet.Marker, ts)
}

// write sends one packet with the viewer's next sequence number.
func (ot *outTrack) write(payload []byte, marker bool, ts uint32) error {
	p := &ot.ring[ot.next]
	ot.next = (ot.next + 1) % len(ot.ring)
	ext := p.Header.Extensions[:0]
	p.Header = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    uint8(ot.spec.codec.PayloadType),
		SequenceNumber: ot.seq,
		Timestamp:      ts,
		Extensions:     ext,
	}
	p.Payload = payload
	ot.seq++
	err := ot.local.WriteRTP(p)
	ot.sent++
	if ot.bytes != nil {
		ot.bytes.Add(uint64(p.MarshalSize()))
	}
	if len(ot.ring) == 1 {
		p.Payload = nil // audio: not kept by the responder; do not pin the unit's memory
	}
	return err
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
