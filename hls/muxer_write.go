package hls

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/streamgate/streamgate/gateway/hub"
)

// writerState is what the reader goroutine keeps between units. Only OnUnit
// touches it, so it needs no lock.
type writerState struct {
	clocks []trackClock // by hub track index
	av1    map[int]*av1Depacketizer
	vp9    map[int]*rtpvp9.Decoder
}

// maxJump is the largest step between two presentation times of a track
// taken as the stream going on; a larger one, forward or back, is a camera
// clock jump and is smoothed over like a source restart.
const maxJump = 5 * time.Second

// trackClock keeps the timeline of one carried track continuous. An HLS
// playlist cannot follow timestamps that start over (gohlslib writes no
// EXT-X-DISCONTINUITY, and players reject a media sequence that goes
// back), so when the source comes back after an outage, or its clock
// jumps, the new timestamps are moved to go on one frame after the last
// ones written: the muxer, its playlist and its viewers carry on.
type trackClock struct {
	started bool
	gen     uint32
	off     int64 // out = pts + off
	lastIn  int64
	maxOut  int64 // the latest time written (B-frames come out of order)
	step    int64 // the last positive interval between two units, in ticks
}

// out maps the presentation time of a unit of source session gen; rate is
// the track's clock rate. It reports whether the timeline was re-based.
func (c *trackClock) out(pts int64, gen uint32, rate int) (int64, bool) {
	jump := int64(maxJump.Seconds() * float64(rate))
	first, rebased := !c.started, false
	switch {
	case first:
		c.started = true
	case gen != c.gen || pts-c.lastIn > jump || c.lastIn-pts > jump:
		c.off = c.maxOut + max(c.step, 1) - pts
		rebased = true
	case pts > c.lastIn:
		c.step = pts - c.lastIn
	}
	c.gen, c.lastIn = gen, pts
	out := pts + c.off
	if first || out > c.maxOut {
		c.maxOut = out
	}
	return out, rebased
}

type av1Depacketizer struct {
	dec     *rtpav1.Decoder
	started bool // a temporal unit with a sequence header was written
}

func (w *writerState) init(m *muxer) {
	w.clocks = make([]trackClock, len(m.byIndex))
	for _, c := range m.plan.carried {
		switch c.kind {
		case writeAV1:
			if w.av1 == nil {
				w.av1 = make(map[int]*av1Depacketizer)
			}
			w.av1[c.hub.Index] = &av1Depacketizer{dec: &rtpav1.Decoder{}}
		case writeVP9:
			if w.vp9 == nil {
				w.vp9 = make(map[int]*rtpvp9.Decoder)
			}
			w.vp9[c.hub.Index] = &rtpvp9.Decoder{}
		}
	}
	for _, d := range w.av1 {
		_ = d.dec.Init() // never fails
	}
	for _, d := range w.vp9 {
		_ = d.Init() // never fails
	}
}

// onUnit feeds one hub unit to the muxer; it runs in the reader's goroutine,
// which makes it the only writer of the gohlslib muxer.
func (m *muxer) onUnit(u *hub.Unit, _ bool) error {
	c := m.byIndex[u.Track.Index]
	if c == nil {
		return nil
	}
	switch c.kind {
	case writeAV1, writeVP9:
		// The hub does not group AV1 and VP9 packets into frames: do it here.
		return m.writePacket(c, u, m.outPTS(u, u.PTS))
	}
	if !u.AUStart {
		return nil
	}
	au, err := u.AccessUnit()
	if err != nil {
		// A frame lost packets: the decoder conceals it; the muxer skips it.
		return nil
	}
	m.writeAU(c, au, m.outPTS(u, au.PTS))
	return nil
}

// outPTS is the muxer's presentation time for pts of u's track.
func (m *muxer) outPTS(u *hub.Unit, pts int64) int64 {
	out, rebased := m.w.clocks[u.Track.Index].out(pts, u.Gen, u.Track.ClockRate())
	if rebased && u.Track == m.plan.carried[0].hub { // one line per event, not per track
		m.logger.Info("HLS timeline continues across a source restart or clock jump", "track", u.Track.Index)
	}
	return out
}

// writeAU writes one frame. The hub recycles a unit's memory once OnUnit
// returns, while gohlslib keeps some slices for later (parameter sets it
// adopts, audio samples until their part is written): those are copied.
// The access unit is shared with other readers: pts is the muxer's own.
func (m *muxer) writeAU(c *carriedTrack, au *hub.AccessUnit, pts int64) {
	var err error
	switch c.kind {
	case writeH264:
		nalus := au.Payloads
		if au.RandomAccess {
			nalus = cloneParams(nalus, isH264Param)
		}
		err = m.hm.WriteH264(c.hls, au.NTP, pts, nalus)
	case writeH265:
		nalus := au.Payloads
		if au.RandomAccess {
			nalus = cloneParams(nalus, isH265Param)
		}
		err = m.hm.WriteH265(c.hls, au.NTP, pts, nalus)
	case writeAAC:
		err = m.hm.WriteMPEG4Audio(c.hls, au.NTP, pts, cloneAll(au.Payloads))
	case writeOpus:
		err = m.hm.WriteOpus(c.hls, au.NTP, pts, cloneAll(au.Payloads))
	}
	if err != nil {
		m.encErrors.report(fmt.Errorf("track %d (%s): %w", c.hub.Index, c.hub.CodecName(), err))
	}
}

// writePacket depacketises AV1 and VP9 and writes complete frames. Packets
// are copied first, since the depacketisers keep slices of earlier packets.
func (m *muxer) writePacket(c *carriedTrack, u *hub.Unit, pts int64) error {
	pkt := u.Packet
	pkt.Payload = bytes.Clone(u.Packet.Payload)
	var err error
	switch c.kind {
	case writeAV1:
		d := m.w.av1[c.hub.Index]
		var tu [][]byte
		tu, err = d.dec.Decode(&pkt)
		if err != nil {
			break
		}
		if !d.started {
			// gohlslib does not wait for a keyframe on AV1 tracks: a
			// segment must not start with a frame nobody can decode.
			if !hasAV1SequenceHeader(tu) {
				return nil
			}
			d.started = true
		}
		err = m.hm.WriteAV1(c.hls, u.NTP, pts, tu)
	case writeVP9:
		var frame []byte
		frame, err = m.w.vp9[c.hub.Index].Decode(&pkt)
		if err != nil {
			break
		}
		err = m.hm.WriteVP9(c.hls, u.NTP, pts, frame)
	}
	switch {
	case err == nil, errors.Is(err, rtpav1.ErrMorePacketsNeeded), errors.Is(err, rtpvp9.ErrMorePacketsNeeded),
		errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious), errors.Is(err, rtpvp9.ErrNonStartingPacketAndNoPrevious):
	default:
		m.encErrors.report(fmt.Errorf("track %d (%s): %w", c.hub.Index, c.hub.CodecName(), err))
	}
	return nil
}

func hasAV1SequenceHeader(tu [][]byte) bool {
	for _, obu := range tu {
		if len(obu) > 0 && av1.OBUType((obu[0]>>3)&0x0F) == av1.OBUTypeSequenceHeader {
			return true
		}
	}
	return false
}

func isH264Param(n []byte) bool {
	switch h264.NALUType(n[0] & 0x1F) {
	case h264.NALUTypeSPS, h264.NALUTypePPS:
		return true
	}
	return false
}

func isH265Param(n []byte) bool {
	switch h265.NALUType((n[0] >> 1) & 0x3F) {
	case h265.NALUType_VPS_NUT, h265.NALUType_SPS_NUT, h265.NALUType_PPS_NUT:
		return true
	}
	return false
}

// cloneParams returns nalus with its parameter sets copied: gohlslib and its
// DTS extractor keep them past the call.
func cloneParams(nalus [][]byte, isParam func([]byte) bool) [][]byte {
	out := make([][]byte, len(nalus))
	for i, n := range nalus {
		if len(n) > 0 && isParam(n) {
			n = bytes.Clone(n)
		}
		out[i] = n
	}
	return out
}

// cloneAll copies frames into one new buffer.
func cloneAll(frames [][]byte) [][]byte {
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(frames))
	for i, f := range frames {
		buf = append(buf, f...)
		out[i] = buf[len(buf)-len(f) : len(buf) : len(buf)]
	}
	return out
}
