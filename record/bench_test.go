package record

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/streamgate/streamgate/internal/testclip"
)

// BenchmarkRecorderFrame is the recorder's cost per video frame of a
// 25 fps H.264 + AAC stream (one frame and its ~2 AAC access units),
// with fragments written to a file as they complete: what recording one
// more path costs, in CPU and allocations, after the hub's fan-out.
func BenchmarkRecorderFrame(b *testing.B) {
	clip := clips.Get(b, clipFPS)
	cfg := clip.AudioConfig
	formats := []format.Format{
		&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS},
		&format.MPEG4Audio{PayloadTyp: 97, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3},
	}
	x := &pathIndex{name: "bench", dir: filepath.Join(b.TempDir(), "bench"), logger: slog.New(slog.DiscardHandler)}
	require := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	m, tracks, err := newMuxer(muxConfig{segmentDuration: time.Minute, partDuration: time.Second}, x, formats)
	require(err)
	video, audio := tracks[0], tracks[1]
	var bytes int64
	for _, au := range clip.Video {
		for _, n := range au {
			bytes += int64(len(n))
		}
	}
	b.SetBytes(bytes / int64(len(clip.Video)))
	b.ReportAllocs()
	b.ResetTimer()
	ai := 0
	for i := 0; i < b.N; i++ {
		vi := i % len(clip.Video)
		au := clip.Video[vi]
		if vi == 0 {
			au = append([][]byte{testclip.FrameSEI(i)}, au...)
		}
		pts := int64(i) * frameTicks
		ntp := testBase.Add(time.Duration(pts) * time.Second / 90000)
		require(m.write(video, pts, ntp, vi%clipFPS == 0, au))
		for int64(ai)*aacFrameTicks*clipFPS < int64(i+1)*aacSampleRate {
			apts := int64(ai) * aacFrameTicks
			require(m.write(audio, apts, testBase.Add(time.Duration(apts)*time.Second/aacSampleRate), true,
				[][]byte{clip.Audio[ai%len(clip.Audio)]}))
			ai++
		}
	}
	b.StopTimer()
	require(m.closeSegment(true))
}
