package ingest

import (
	_ "embed" // the demo clip
	"errors"
	"fmt"

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
	video, sps, pps, err := SplitAccessUnits(annexB)
	if err != nil {
		return nil, fmt.Errorf("demo clip video: %w", err)
	}
	c := &demoClip{sps: sps, pps: pps, video: video}

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
