package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testclip"
)

// bframeAU is an access unit of a clip with B-frames, in decode order.
type bframeAU struct {
	pts int64
	au  [][]byte
}

// TestBFrames records H.264 with B-frames: the cursor hands the frames
// out in decode order, each timed at its presentation time, and the MP4
// download decodes in ffmpeg with every frame.
func TestBFrames(t *testing.T) {
	requireTool(t, "ffmpeg")
	file := filepath.Join(t.TempDir(), "b.ts")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
		"-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25", "-keyint_min", "25",
		"-sc_threshold", "0", "-bf", "2", "-b_strategy", "0", "-x264-params", "repeat-headers=1", "-f", "mpegts", file).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	r := &mpegts.Reader{R: f}
	require.NoError(t, r.Initialize())
	var aus []bframeAU
	var pts0 int64 = -1
	r.OnDataH264(r.Tracks()[0], func(pts, _ int64, au [][]byte) error {
		if pts0 < 0 {
			pts0 = pts
		}
		var keep [][]byte
		for _, n := range au {
			if n[0]&0x1F != 9 { // drop AUDs
				keep = append(keep, n)
			}
		}
		aus = append(aus, bframeAU{pts: pts - pts0, au: keep})
		return nil
	})
	for {
		if err := r.Read(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			require.NoError(t, err)
		}
	}
	require.Len(t, aus, 50)
	reordered := false
	for i := 1; i < len(aus); i++ {
		reordered = reordered || aus[i].pts < aus[i-1].pts
	}
	require.True(t, reordered, "the clip has B-frames")

	e := newTestEnv(t)
	require.NoError(t, e.store.Record("b", Settings{SegmentDuration: time.Minute, PartDuration: 500 * time.Millisecond}))
	video := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}}}
	p, err := e.hub.Acquire("b")
	require.NoError(t, err)
	pub, err := p.Publish(&description.Session{Medias: []*description.Media{video}})
	require.NoError(t, err)
	deadline := time.Now().Add(testDeadline)
	for pub.Stream().Attached() == 0 {
		require.True(t, time.Now().Before(deadline), "the recorder did not join")
		time.Sleep(2 * time.Millisecond)
	}
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	require.NoError(t, enc.Init())
	// The first PTS is one B-frame delay after the first DTS: keep every
	// wall-clock time after testBase.
	for i, a := range aus {
		pkts, err := enc.Encode(append([][]byte{testclip.FrameSEI(i)}, a.au...))
		require.NoError(t, err)
		for _, pkt := range pkts {
			pkt.Timestamp = uint32(a.pts)
			pub.WriteRTP(video, pkt, a.pts, testBase.Add(time.Duration(a.pts)*time.Second/90000))
		}
	}
	e.waitUnits("b", len(aus))
	pub.Close()
	p.Release()
	e.waitClosed("b")

	tl, err := e.store.Source("b")
	require.NoError(t, err)
	c, _, err := tl.Seek(testBase)
	require.NoError(t, err)
	defer c.Close()
	frames := play(t, c, 1000)
	var idx []int
	for _, fr := range frames {
		idx = append(idx, fr.index)
		assert.Equal(t, testBase.Add(time.Duration(aus[fr.index].pts)*time.Second/90000), fr.time.Truncate(time.Microsecond),
			"frame %d at its presentation time", fr.index)
	}
	assert.Equal(t, seq(0, len(aus)), idx, "decode order, every frame once")

	hs := recordingsServer(t, e.store)
	u := hs.URL + "/b/recordings/download.mp4" + rangeQuery(testBase, testBase.Add(3*time.Second))
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", u, "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	assert.Empty(t, strings.TrimSpace(stderr.String()), "decodes without errors")
	decoded := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			decoded++
		}
	}
	assert.Equal(t, len(aus), decoded, "every frame decodes")
}
