package record

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testclip"
)

// hevcClip makes a 2 s H.265 clip (1 s GOP, no B-frames) with ffmpeg and
// returns its access units (AUDs dropped).
func hevcClip(t *testing.T) [][][]byte {
	t.Helper()
	requireTool(t, "ffmpeg")
	file := filepath.Join(t.TempDir(), "clip.hevc")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size=160x90:rate=25", "-t", "2", "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-x265-params", "aud=1:repeat-headers=1:bframes=0:keyint=25:min-keyint=25:scenecut=0:log-level=error", "-f", "hevc", file).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var aus [][][]byte
	var nalus [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		if part = bytes.TrimRight(part, "\x00"); len(part) > 0 {
			nalus = append(nalus, part)
		}
	}
	for _, n := range nalus {
		if (n[0]>>1)&0x3F == 35 { // access unit delimiter
			aus = append(aus, nil)
			continue
		}
		if len(aus) > 0 {
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	require.Len(t, aus, 50)
	return aus
}

// hevcFrameSEI is testclip.FrameSEI as an H.265 prefix SEI.
func hevcFrameSEI(i int) []byte {
	return append([]byte{39 << 1, 1}, testclip.FrameSEI(i)[1:]...)
}

// TestRecordH265Opus records H.265 with Opus and plays it back: the
// timeline source describes them with their own formats and returns every
// frame, and the MP4 download is read by ffprobe as hevc and opus.
func TestRecordH265Opus(t *testing.T) {
	requireTool(t, "ffprobe")
	aus := hevcClip(t)
	e := newTestEnv(t)
	require.NoError(t, e.store.Record("hevc", Settings{SegmentDuration: time.Second, PartDuration: 500 * time.Millisecond}))

	video := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H265{PayloadTyp: 96}}}
	audio := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}
	p, err := e.hub.Acquire("hevc")
	require.NoError(t, err)
	pub, err := p.Publish(&description.Session{Medias: []*description.Media{video, audio}})
	require.NoError(t, err)
	deadline := time.Now().Add(testDeadline)
	for pub.Stream().Attached() == 0 {
		require.True(t, time.Now().Before(deadline), "the recorder did not join")
		time.Sleep(2 * time.Millisecond)
	}
	enc := &rtph265.Encoder{PayloadType: 96}
	require.NoError(t, enc.Init())
	opusN := 0
	for i, au := range aus {
		pts := int64(i) * frameTicks
		pkts, err := enc.Encode(append([][]byte{hevcFrameSEI(i)}, au...))
		require.NoError(t, err)
		for _, pkt := range pkts {
			pkt.Timestamp = uint32(pts)
			pub.WriteRTP(video, pkt, pts, testBase.Add(time.Duration(i)*time.Second/clipFPS))
		}
		// 20 ms Opus packets (TOC 0xFC: CELT fullband stereo, 20 ms) up to this frame.
		for ; opusN*20 < (i+1)*1000/clipFPS; opusN++ {
			apts := int64(opusN) * 960
			pub.WriteRTP(audio, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, Marker: true,
				SequenceNumber: uint16(opusN), Timestamp: uint32(apts)}, Payload: []byte{0xFC, 0xFF, 0xFE, byte(opusN)}},
				apts, testBase.Add(time.Duration(opusN)*20*time.Millisecond))
		}
		time.Sleep(time.Millisecond)
	}
	e.waitUnits("hevc", len(aus)+opusN)
	pub.Close()
	p.Release()
	e.waitClosed("hevc")

	tl, err := e.store.Source("hevc")
	require.NoError(t, err)
	desc := tl.Description()
	require.Len(t, desc.Medias, 2)
	assert.IsType(t, &format.H265{}, desc.Medias[0].Formats[0])
	assert.IsType(t, &format.Opus{}, desc.Medias[1].Formats[0])
	c, at, err := tl.Seek(testBase.Add(1500 * time.Millisecond))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, testBase.Add(time.Second), at, "the keyframe at or before 1.5 s")
	var video0 []int
	audioN := 0
	for _, f := range play(t, c, 10000) {
		if f.track == 0 {
			video0 = append(video0, f.index)
		} else {
			audioN++
		}
	}
	assert.Equal(t, seq(25, 50), video0)
	assert.InDelta(t, 50, audioN, 2, "a second of 20 ms Opus packets")

	hs := recordingsServer(t, e.store)
	res, err := http.Get(hs.URL + "/api/v1/recordings/hevc")
	require.NoError(t, err)
	var list struct{ Items []Span }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	res.Body.Close()
	require.Len(t, list.Items, 1)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
		hs.URL+"/hevc/recordings/download.mp4"+rangeQuery(list.Items[0].Start, list.Items[0].End)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "hevc\nopus\n", string(out))
}
