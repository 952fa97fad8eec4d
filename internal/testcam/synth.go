package testcam

import (
	"encoding/binary"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// Synthetic media. Every picture NAL and audio AU carries its stream's tag
// and its frame index, so payloads are unique within and across streams and
// a reader can tell which frame of which camera it got.

// Parameter sets of the synthetic H.264 video: SPS is 480p baseline, SPS2
// (a re-configured encoder) 1080p high; both share PPS.
var (
	SPS  = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92}
	SPS2 = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	PPS  = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

// Shape of the synthetic stream.
const (
	FPS     = 25   // video frames per second
	GOP     = 25   // an IDR every GOP frames
	MTU     = 1200 // largest video payload; bigger NALs are sent as FU-A
	VideoPT = 96   // payload type of the H.264 track
	AudioPT = 97   // payload type of the AAC track
)

// Desc is a camera's description: H.264 with sps (SPS and PPS in the SDP)
// and 48 kHz stereo AAC, or no audio when audio is false.
func Desc(sps []byte, audio bool) *description.Session {
	d := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: VideoPT, PacketizationMode: 1, SPS: sps, PPS: PPS}},
	}}}
	if audio {
		d.Medias = append(d.Medias, &description.Media{
			Type: description.MediaTypeAudio,
			Formats: []format.Format{&format.MPEG4Audio{
				PayloadTyp: AudioPT,
				Config: &mpeg4audio.AudioSpecificConfig{
					Type:          mpeg4audio.ObjectTypeAACLC,
					SampleRate:    48000,
					ChannelConfig: 2,
				},
				SizeLength:       13,
				IndexLength:      3,
				IndexDeltaLength: 3,
			}},
		})
	}
	return d
}

// Synth produces the packets of one camera stream: H.264 in packetization
// mode 1 (an IDR access unit is a STAP-A with SPS and PPS then FU-A
// fragments; P frames are single NALs, every third one fragmented) and
// AAC-hbr with one AU per packet.
type Synth struct {
	// Tag is written into every payload.
	Tag byte
	// SPS is sent in band before each IDR.
	SPS []byte
	// PictureSize, when not 0, is the size of every P picture in bytes
	// (a heavier camera); by default they are 600 bytes, every third 2,400.
	PictureSize int
	// VSeq, VTS, ASeq and ATS are the next video and audio sequence numbers
	// and timestamps: change them to simulate loss or timestamp jumps.
	VSeq uint16
	VTS  uint32
	ASeq uint16
	ATS  uint32

	n    int // next frame index, across restarts
	gop0 int // frame index of the session's first IDR
	aN   int
}

// NewSynth returns a stream with the given tag and SPS.
func NewSynth(tag byte, sps []byte) *Synth { return &Synth{Tag: tag, SPS: sps} }

// Next is the index of the next frame.
func (s *Synth) Next() int { return s.n }

// Restart makes the next frame an IDR and jumps sequence numbers and
// timestamps, as a rebooted camera does.
func (s *Synth) Restart() {
	s.gop0 = s.n
	s.VSeq += 10000
	s.VTS += 1 << 30
	s.ASeq += 20000
	s.ATS += 1 << 29
}

// Frame returns the video packets of the next frame and the audio packets
// that fall within it.
func (s *Synth) Frame() (video, audio []*rtp.Packet) {
	key := (s.n-s.gop0)%GOP == 0
	var payloads [][]byte
	if key {
		stap := []byte{0x78}
		for _, ps := range [][]byte{s.SPS, PPS} {
			stap = append(stap, byte(len(ps)>>8), byte(len(ps)))
			stap = append(stap, ps...)
		}
		payloads = append(payloads, stap)
		payloads = append(payloads, s.nal(0x65, 4000)...)
	} else {
		size := 600
		switch {
		case s.PictureSize > 0:
			size = s.PictureSize
		case s.n%3 == 0:
			size = 2 * MTU
		}
		payloads = s.nal(0x41, size)
	}
	for i, p := range payloads {
		video = append(video, &rtp.Packet{
			Header: rtp.Header{
				Version: 2, Marker: i == len(payloads)-1, PayloadType: VideoPT,
				SequenceNumber: s.VSeq, Timestamp: s.VTS, SSRC: 0x11223344,
			},
			Payload: p,
		})
		s.VSeq++
	}
	s.n++
	s.VTS += 90000 / FPS

	// 48 kHz AAC: one 1024-sample AU per packet, keeping pace with video.
	for int64(s.aN)*1024*FPS < int64(s.n)*48000 {
		au := make([]byte, 24)
		au[0] = s.Tag
		binary.BigEndian.PutUint32(au[1:], uint32(s.aN))
		for i := 5; i < len(au); i++ {
			au[i] = byte(s.aN*3+i) ^ s.Tag
		}
		payload := append([]byte{0x00, 0x10, byte(len(au) >> 5), byte(len(au) << 3)}, au...)
		audio = append(audio, &rtp.Packet{
			Header: rtp.Header{
				Version: 2, Marker: true, PayloadType: AudioPT,
				SequenceNumber: s.ASeq, Timestamp: s.ATS, SSRC: 0x55667788,
			},
			Payload: payload,
		})
		s.ASeq++
		s.ATS += 1024
		s.aN++
	}
	return video, audio
}

// nal returns the payloads of one NAL with header hdr and size bytes: the
// body starts with the stream tag and the frame index.
func (s *Synth) nal(hdr byte, size int) [][]byte {
	body := make([]byte, size-1)
	body[0] = s.Tag
	binary.BigEndian.PutUint32(body[1:], uint32(s.n))
	for i := 5; i < len(body); i++ {
		body[i] = byte(s.n*7+i) ^ s.Tag
	}
	if size <= MTU {
		return [][]byte{append([]byte{hdr}, body...)}
	}
	var out [][]byte
	for first := true; len(body) > 0; first = false {
		n := min(len(body), MTU-2)
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

// PictureTag returns the stream tag and frame index of a payload that
// starts a picture NAL (single NAL or FU-A start fragment).
func PictureTag(p []byte) (tag byte, frame int, ok bool) {
	if len(p) == 0 {
		return 0, 0, false
	}
	switch typ := p[0] & 0x1F; {
	case (typ == 1 || typ == 5) && len(p) >= 6:
		return p[1], int(binary.BigEndian.Uint32(p[2:6])), true
	case typ == 28 && len(p) >= 7 && p[1]&0x80 != 0:
		return p[2], int(binary.BigEndian.Uint32(p[3:7])), true
	}
	return 0, 0, false
}

// IsSTAPA reports whether p is the STAP-A that starts each IDR access unit.
func IsSTAPA(p []byte) bool { return len(p) > 0 && p[0]&0x1F == 24 }
