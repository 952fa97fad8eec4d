package ingest

import (
	_ "embed" // the demo clip
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// The demo clip: 8 s of H.264 (640x360, 25 fps, IDR every second, no B-frames,
// an AUD before each access unit) and AAC-LC (48 kHz mono). See democlip/README.md.
var (
	//go:embed democlip/clip.h264
	demoClipH264 []byte
	//go:embed democlip/clip.aac
	demoClipAAC []byte
)

// Timing of the demo clip.
const (
	demoFPS             = 25
	demoVideoClockRate  = 90000
	demoVideoTicks      = demoVideoClockRate / demoFPS // 3600 per frame
	demoAudioSampleRate = 48000
	demoAudioTicks      = 1024 // samples per AAC frame
)

// demoClip is the clip parsed into access units.
type demoClip struct {
	sps, pps    []byte
	video       [][][]byte // access units as NALU lists, AUDs removed
	audio       [][]byte   // raw AAC frames
	audioConfig mpeg4audio.AudioSpecificConfig
}

// parseDemoClip splits an Annex-B stream on its AUDs and an ADTS stream into frames.
func parseDemoClip(annexB, adts []byte) (*demoClip, error) {
	c := &demoClip{}
	for i, chunk := range splitOnAUD(annexB) {
		// h264.AnnexB.Unmarshal caps NALUs per call, so parse one access unit at a time.
		var nalus h264.AnnexB
		if err := nalus.Unmarshal(chunk); err != nil {
			return nil, fmt.Errorf("demo clip video, access unit %d: %w", i, err)
		}
		var au [][]byte
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1F) {
			case h264.NALUTypeAccessUnitDelimiter:
				continue
			case h264.NALUTypeSPS:
				if c.sps == nil {
					c.sps = n
				}
			case h264.NALUTypePPS:
				if c.pps == nil {
					c.pps = n
				}
			}
			au = append(au, n)
		}
		if len(au) > 0 {
			c.video = append(c.video, au)
		}
	}
	if len(c.video) == 0 || c.sps == nil || c.pps == nil {
		return nil, errors.New("demo clip video: no access units or no SPS/PPS")
	}
	if !h264.IsRandomAccess(c.video[0]) {
		return nil, errors.New("demo clip video: does not start with an IDR")
	}

	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(adts); err != nil {
		return nil, fmt.Errorf("demo clip audio: %w", err)
	}
	if len(pkts) == 0 {
		return nil, errors.New("demo clip audio: no frames")
	}
	for _, p := range pkts {
		c.audio = append(c.audio, p.AU)
	}
	c.audioConfig = mpeg4audio.AudioSpecificConfig{
		Type:          pkts[0].Type,
		SampleRate:    pkts[0].SampleRate,
		ChannelConfig: pkts[0].ChannelConfig,
	}
	if c.audioConfig.SampleRate != demoAudioSampleRate {
		return nil, fmt.Errorf("demo clip audio: sample rate %d, want %d", c.audioConfig.SampleRate, demoAudioSampleRate)
	}
	return c, nil
}

// splitOnAUD cuts an Annex-B stream before each access unit delimiter
// (a start code followed by NAL type 9).
func splitOnAUD(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+3 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 || b[i+3]&0x1F != byte(h264.NALUTypeAccessUnitDelimiter) {
			continue
		}
		at := i
		if at > 0 && b[at-1] == 0 { // four-byte start code
			at--
		}
		if at > start {
			out = append(out, b[start:at])
		}
		start = at
		i += 3
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
