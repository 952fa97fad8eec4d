package record

import (
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/timeline"
)

// TestRecordAndPlay records 6 s of H.264 + AAC (1 s GOP) into 2 s segments
// and plays them back through the timeline API: every frame comes back
// once, in order, across segments, and a seek starts at the keyframe at or
// before the asked time.
func TestRecordAndPlay(t *testing.T) {
	e := newTestEnv(t)
	set := Settings{SegmentDuration: 2 * time.Second, PartDuration: 500 * time.Millisecond}
	src := e.recordClip("cam", clipFPS, set, testBase, 6*time.Second)

	files := e.segmentFiles("cam")
	assert.GreaterOrEqual(t, len(files), 3, "segments of 2 s for 6 s: %v", files)
	first, err := parseSegmentName(files[0])
	require.NoError(t, err)
	assert.Equal(t, testBase, first, "the first segment is named after the first keyframe")

	spans, err := e.store.Spans("cam", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, spans, 1, "contiguous segments make one span: %v", spans)
	assert.Equal(t, testBase, spans[0].Start.Truncate(time.Millisecond))
	assert.WithinDuration(t, src.frameTime(src.vi), spans[0].End, 100*time.Millisecond)

	tl, err := e.store.Source("cam")
	require.NoError(t, err)
	desc := tl.Description()
	require.Len(t, desc.Medias, 2)
	_, ok := desc.Medias[0].Formats[0].(*format.H264)
	assert.True(t, ok, "video first")
	_, ok = desc.Medias[1].Formats[0].(*format.MPEG4Audio)
	assert.True(t, ok, "then AAC")

	cases := []struct {
		name      string
		at        time.Time
		wantFirst int
	}{
		{"start", testBase, 0},
		{"on a keyframe", src.frameTime(50), 50},
		{"between keyframes", src.frameTime(74), 50},
		{"in the second segment", src.frameTime(60), 50},
		{"last GOP", src.frameTime(140), 125},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, at, err := tl.Seek(tc.at)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, src.frameTime(tc.wantFirst), at.Truncate(time.Microsecond))
			frames := play(t, c, 10000)
			require.NotEmpty(t, frames)
			assert.Equal(t, 0, frames[0].track, "the first frame is video")
			assert.True(t, frames[0].random, "the first frame is a keyframe")
			var video []int
			var last time.Time
			for _, f := range frames {
				assert.False(t, f.time.Before(last), "frames in time order")
				last = f.time
				if f.track == 0 {
					video = append(video, f.index)
				}
			}
			want := make([]int, 0, src.vi)
			for i := tc.wantFirst; i < src.vi; i++ {
				want = append(want, i)
			}
			assert.Equal(t, want, video, "every video frame once, in order")
		})
	}

	_, _, err = tl.Seek(testBase.Add(-time.Second))
	assert.True(t, errors.Is(err, timeline.ErrOutOfRange), "before the recordings: %v", err)
	_, _, err = tl.Seek(testBase.Add(time.Hour))
	assert.True(t, errors.Is(err, timeline.ErrOutOfRange), "after the recordings: %v", err)
}
