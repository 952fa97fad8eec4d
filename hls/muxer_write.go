package hls

import (
	"bytes"
	"errors"
	"fmt"

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
	gen     uint32
	haveGen bool
	av1     map[int]*av1Depacketizer
	vp9     map[int]*rtpvp9.Decoder
}

type av1Depacketizer struct {
	dec     *rtpav1.Decoder
	started bool // a temporal unit with a sequence header was written
}

func (w *writerState) init(m *muxer) {
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
	if !m.w.haveGen {
		m.w.gen, m.w.haveGen = u.Gen, true
	} else if u.Gen != m.w.gen {
		return errSourceRestarted
	}
	c := m.byIndex[u.Track.Index]
	if c == nil {
		return nil
	}
	switch c.kind {
	case writeAV1, writeVP9:
		// The hub does not group AV1 and VP9 packets into frames: do it here.
		return m.writePacket(c, u)
	}
	if !u.AUStart {
		return nil
	}
	au, err := u.AccessUnit()
	if err != nil {
		// A frame lost packets: the decoder conceals it; the muxer skips it.
		return nil
	}
	m.writeAU(c, au)
	return nil
}

// writeAU writes one frame. The hub recycles a unit's memory once OnUnit
// returns, while gohlslib keeps some slices for later (parameter sets it
// adopts, audio samples until their part is written): those are copied.
func (m *muxer) writeAU(c *carriedTrack, au *hub.AccessUnit) {
	var err error
	switch c.kind {
	case writeH264:
		nalus := au.Payloads
		if au.RandomAccess {
			nalus = cloneParams(nalus, isH264Param)
		}
		err = m.hm.WriteH264(c.hls, au.NTP, au.PTS, nalus)
	case writeH265:
		nalus := au.Payloads
		if au.RandomAccess {
			nalus = cloneParams(nalus, isH265Param)
		}
		err = m.hm.WriteH265(c.hls, au.NTP, au.PTS, nalus)
	case writeAAC:
		err = m.hm.WriteMPEG4Audio(c.hls, au.NTP, au.PTS, cloneAll(au.Payloads))
	case writeOpus:
		err = m.hm.WriteOpus(c.hls, au.NTP, au.PTS, cloneAll(au.Payloads))
	}
	if err != nil {
		m.encErrors.report(fmt.Errorf("track %d (%s): %w", c.hub.Index, c.hub.CodecName(), err))
	}
}

// writePacket depacketises AV1 and VP9 and writes complete frames. Packets
// are copied first, since the depacketisers keep slices of earlier packets.
func (m *muxer) writePacket(c *carriedTrack, u *hub.Unit) error {
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
		err = m.hm.WriteAV1(c.hls, u.NTP, u.PTS, tu)
	case writeVP9:
		var frame []byte
		frame, err = m.w.vp9[c.hub.Index].Decode(&pkt)
		if err != nil {
			break
		}
		err = m.hm.WriteVP9(c.hls, u.NTP, u.PTS, frame)
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
