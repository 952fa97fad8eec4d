package rtspserver

import (
	"encoding/binary"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

var (
	testSPS  = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92}
	testSPS2 = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	testPPS  = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

const (
	videoPT = 96
	audioPT = 97
)

// avDesc is a camera's description: H.264 video and AAC audio.
func avDesc(sps []byte) *description.Session {
	return &description.Session{Medias: []*description.Media{
		{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{&format.H264{PayloadTyp: videoPT, PacketizationMode: 1, SPS: sps, PPS: testPPS}},
		},
		{
			Type: description.MediaTypeAudio,
			Formats: []format.Format{&format.MPEG4Audio{
				PayloadTyp: audioPT,
				Config: &mpeg4audio.AudioSpecificConfig{
					Type:          mpeg4audio.ObjectTypeAACLC,
					SampleRate:    48000,
					ChannelConfig: 2,
				},
				SizeLength:       13,
				IndexLength:      3,
				IndexDeltaLength: 3,
			}},
		},
	}}
}

// synthFrame is one access unit of the synthetic H.264 stream.
type synthFrame struct {
	index int
	key   bool
	pts   int64 // 90 kHz, from 0
	pkts  []*rtp.Packet
}

// h264Synth produces the RTP packets of a synthetic H.264 stream (RFC 6184,
// packetization mode 1): an IDR access unit is a STAP-A with SPS and PPS then
// FU-A fragments of a type-5 NAL; other access units are one type-1 NAL,
// single or FU-A fragmented. Every picture NAL starts with its frame index
// (4 bytes, big endian), so a reader can tell frames apart after the server
// rewrote timestamps. The marker bit ends each access unit.
type h264Synth struct {
	// GOP is the number of frames from one IDR to the next. Defaults to 25.
	GOP int
	// SPS defaults to testSPS.
	SPS []byte
	// Seq0 and TS0 are the first sequence number and timestamp.
	Seq0 uint16
	TS0  uint32

	seq     uint16
	started bool
	n       int
}

const (
	synthIDRSize = 5000
	synthPSize   = 700
	synthMTU     = 1200
)

func (g *h264Synth) frame() synthFrame {
	if !g.started {
		g.started = true
		g.seq = g.Seq0
		if g.GOP <= 0 {
			g.GOP = 25
		}
		if g.SPS == nil {
			g.SPS = testSPS
		}
	}
	key := g.n%g.GOP == 0
	var payloads [][]byte
	if key {
		stap := []byte{0x78}
		for _, ps := range [][]byte{g.SPS, testPPS} {
			stap = append(stap, byte(len(ps)>>8), byte(len(ps)))
			stap = append(stap, ps...)
		}
		payloads = append(payloads, stap)
		payloads = append(payloads, g.nal(0x65, synthIDRSize)...)
	} else {
		size := synthPSize
		if g.n%3 == 0 {
			size = 2 * synthMTU // some P frames are fragmented too
		}
		payloads = g.nal(0x41, size)
	}
	fr := synthFrame{index: g.n, key: key, pts: int64(g.n) * 3600}
	ts := g.TS0 + uint32(fr.pts)
	for i, p := range payloads {
		fr.pkts = append(fr.pkts, &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         i == len(payloads)-1,
				PayloadType:    videoPT,
				SequenceNumber: g.seq,
				Timestamp:      ts,
				SSRC:           0x11223344,
			},
			Payload: p,
		})
		g.seq++
	}
	g.n++
	return fr
}

// nal returns the payloads of one NAL unit with header hdr and size bytes in all.
func (g *h264Synth) nal(hdr byte, size int) [][]byte {
	body := make([]byte, size-1)
	binary.BigEndian.PutUint32(body, uint32(g.n))
	for i := 4; i < len(body); i++ {
		body[i] = byte(g.n*7 + i)
	}
	if size <= synthMTU {
		return [][]byte{append([]byte{hdr}, body...)}
	}
	var out [][]byte
	for first := true; len(body) > 0; first = false {
		n := min(len(body), synthMTU-2)
		fu := []byte{hdr&0xE0 | 28, hdr & 0x1F}
		if first {
			fu[1] |= 0x80
		}
		if n == len(body) {
			fu[1] |= 0x40
		}
		out = append(out, append(fu, body[:n]...))
		body = body[n:]
	}
	return out
}

// frameIndexOf returns the frame index a synthetic payload starts with, for
// payloads that start a picture NAL (single NAL or FU-A start fragment).
func frameIndexOf(p []byte) (int, bool) {
	if len(p) < 6 {
		return 0, false
	}
	switch typ := p[0] & 0x1F; {
	case typ == 1 || typ == 5:
		return int(binary.BigEndian.Uint32(p[1:5])), true
	case typ == 28 && p[1]&0x80 != 0:
		return int(binary.BigEndian.Uint32(p[2:6])), true
	}
	return 0, false
}

// isIDRPayload reports whether a payload belongs to an IDR access unit:
// the STAP-A with SPS and PPS, or a fragment of a type-5 NAL.
func isIDRPayload(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch typ := p[0] & 0x1F; typ {
	case 5, 7, 8, 24:
		return true
	case 28:
		return p[1]&0x1F == 5
	}
	return false
}

// aacSynth produces AAC-hbr packets (RFC 3640) of one 1024-sample AU each.
type aacSynth struct {
	seq uint16
	n   int
}

func (a *aacSynth) pts() int64 { return int64(a.n) * 1024 }

func (a *aacSynth) packet() (*rtp.Packet, int64) {
	au := make([]byte, 20)
	binary.BigEndian.PutUint32(au, uint32(a.n))
	payload := []byte{0x00, 0x10, byte(len(au) >> 5), byte(len(au) << 3)}
	payload = append(payload, au...)
	pts := a.pts()
	pkt := &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         true,
			PayloadType:    audioPT,
			SequenceNumber: a.seq,
			Timestamp:      uint32(pts),
			SSRC:           0x55667788,
		},
		Payload: payload,
	}
	a.seq++
	a.n++
	return pkt, pts
}
