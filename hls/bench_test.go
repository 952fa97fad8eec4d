package hls

import (
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// BenchmarkMuxerFeed measures writing frames to a Low-Latency muxer the way
// OnUnit does, once the hub has decoded them: one op is one video frame
// (40 ms of 320x180 H.264) plus the AAC frames of the same 40 ms.
func BenchmarkMuxerFeed(b *testing.B) {
	clip := clips.Get(b, clipFPS)
	for _, variant := range []string{VariantLowLatency, VariantMPEGTS} {
		b.Run(variant, func(b *testing.B) {
			cfg := clip.AudioConfig
			tracks := []*hub.Track{
				{Index: 0, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS}},
				{Index: 1, Format: &format.MPEG4Audio{PayloadTyp: 97, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}},
			}
			v, err := parseVariant(variant)
			require.NoError(b, err)
			m := &muxer{name: "bench", logger: discardLogger()}
			m.encErrors.logger, m.encErrors.period = m.logger, encodeErrorPeriod
			m.plan = planTracks(tracks, v)
			require.Len(b, m.plan.carried, 2)
			m.hm = &gohlslib.Muxer{
				Tracks:        []*gohlslib.Track{m.plan.carried[0].hls, m.plan.carried[1].hls},
				Variant:       v,
				OnEncodeError: func(err error) { b.Fatal(err) },
			}
			require.NoError(b, m.hm.Start())
			defer m.hm.Close()

			video, audio := m.plan.carried[0], m.plan.carried[1]
			ntp := time.Now()
			vau := &hub.AccessUnit{Track: tracks[0]}
			aau := &hub.AccessUnit{Track: tracks[1]}
			ai := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				vau.PTS = int64(i) * frameTicks
				vau.NTP = ntp.Add(time.Duration(i) * time.Second / clipFPS)
				vau.Payloads = clip.Video[i%len(clip.Video)]
				vau.RandomAccess = i%clipFPS == 0
				m.writeAU(video, vau, vau.PTS)
				for int64(ai)*aacFrameTicks*90000/aacSampleRate <= vau.PTS {
					aau.PTS = int64(ai) * aacFrameTicks
					aau.NTP = ntp.Add(time.Duration(aau.PTS) * time.Second / aacSampleRate)
					aau.Payloads = clip.Audio[ai%len(clip.Audio) : ai%len(clip.Audio)+1]
					m.writeAU(audio, aau, aau.PTS)
					ai++
				}
			}
		})
	}
}
