package record

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testclip"
)

// bigClips are clips of another resolution than clips: their SPS differ.
var bigClips = testclip.Cache{Prefix: "record-test-clips-big", Seconds: 2, FPS: clipFPS,
	Width: 320, Height: 180, SampleRate: aacSampleRate}

// TestCodecChange: a source that comes back with another resolution starts
// a new segment with its own init. The HLS playlist across the change has
// a discontinuity and a new map, the MP4 download across it is refused
// with 409, and each side downloads on its own.
func TestCodecChange(t *testing.T) {
	defer bigClips.Cleanup()
	e := newTestEnv(t)
	set := Settings{SegmentDuration: time.Minute, PartDuration: 500 * time.Millisecond}
	first := e.recordClip("cam", clipFPS, set, testBase, 2*time.Second)
	changeAt := first.frameTime(first.vi)

	src := publishClip(t, e.hub, "cam", bigClips.Get(t, clipFPS), changeAt)
	src.waitReader(1)
	src.advance(2 * time.Second)
	e.waitUnits("cam", first.vi+first.ai+src.vi+src.ai) // the recorder counts over both streams
	src.close()
	e.waitClosed("cam")
	require.Len(t, e.segmentFiles("cam"), 2)

	hs := recordingsServer(t, e.store)
	get := func(target string) (int, string) {
		res, err := http.Get(hs.URL + target)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	end := src.frameTime(src.vi)
	status, pl := get("/cam/recordings/index.m3u8" + rangeQuery(testBase, end))
	require.Equal(t, http.StatusOK, status, pl)
	assert.Equal(t, 1, strings.Count(pl, "#EXT-X-DISCONTINUITY"), pl)
	assert.Equal(t, 2, strings.Count(pl, "#EXT-X-MAP"), pl)

	status, body := get("/cam/recordings/download.mp4" + rangeQuery(testBase, end))
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, body, "the codecs change at "+changeAt.Format(time.RFC3339Nano))

	status, _ = get("/cam/recordings/download.mp4" + rangeQuery(testBase, changeAt.Add(-time.Millisecond)))
	assert.Equal(t, http.StatusOK, status, "before the change")
	status, _ = get("/cam/recordings/download.mp4" + rangeQuery(changeAt, end))
	assert.Equal(t, http.StatusOK, status, "after the change")
}
