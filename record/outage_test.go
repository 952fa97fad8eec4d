package record

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShortOutage: the source goes away and comes back within the outage
// grace with the same codecs, its timestamps starting over. The hub keeps
// the stream and the recorder keeps reading, closing the segment at the
// outage and starting the next at the returning source's first keyframe.
// Both parts play, each frame once.
func TestShortOutage(t *testing.T) {
	e := newTestEnvGrace(t, time.Minute)
	clip := clips.Get(t, clipFPS)
	require.NoError(t, e.store.Record("cam", Settings{SegmentDuration: time.Minute, PartDuration: 500 * time.Millisecond}))
	a := publishClip(t, e.hub, "cam", clip, testBase)
	a.waitReader(1)
	a.advance(2 * time.Second)
	e.waitUnits("cam", a.vi+a.ai)
	st := a.pub.Stream()
	a.close()

	// Back 3 s later: the hub resumes the same stream.
	back := a.frameTime(a.vi).Add(3 * time.Second)
	b := publishClip(t, e.hub, "cam", clip, back)
	require.Same(t, st, b.pub.Stream(), "a short outage keeps the stream")
	b.advance(2 * time.Second)
	e.waitUnits("cam", a.vi+a.ai+b.vi+b.ai)
	e.store.Stop("cam")
	b.close()

	files := e.segmentFiles("cam")
	assert.Len(t, files, 2, "one segment before the outage, one after")
	spans, err := e.store.Spans("cam", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, spans, 2, "the outage is a gap")
	assert.Equal(t, back, spans[1].Start.Truncate(time.Millisecond))

	tl, err := e.store.Source("cam")
	require.NoError(t, err)
	video := playVideo(t, tl, testBase)
	assert.Equal(t, append(seq(0, a.vi), seq(0, b.vi)...), video, "every frame of both sessions once")

	// A seek into the gap starts after it.
	c2, at, err := tl.Seek(back.Add(-time.Second))
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, back, at.Truncate(time.Microsecond))
	frames := play(t, c2, 1)
	require.Len(t, frames, 1)
	assert.Equal(t, 0, frames[0].index, "the returning source's first frame")
}
