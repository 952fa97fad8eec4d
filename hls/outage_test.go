package hls

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// A source that goes away and comes back within the outage grace with the
// same codecs, its timestamps starting over: the muxer carries on (same
// file names, media sequence going on) and the segments' decode times run
// on without a jump, so the playlist needs no EXT-X-DISCONTINUITY.
func TestOutageKeepsTimeline(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := &hub.Hub{
		Resolve: func(string) (hub.PathConf, bool) {
			return hub.PathConf{AcceptPublishers: true, OutageGrace: time.Minute, Stream: hub.StreamConfig{HistoryGOPs: HistoryGOPs}}, true
		},
		Logger: discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	s := newTestServer(t, h, Settings{Variant: VariantFMP4, SegmentCount: 20})
	const url = "/cam/video1_stream.m3u8"

	src := publishClip(t, h, "cam", clip)
	src.advance(4 * time.Second)
	before := primedPlaylist(t, s, url)
	src.close()

	// The camera reboots: its timestamps start at zero again.
	src2 := publishClip(t, h, "cam", clip)
	src2.advance(4 * time.Second)
	var after *playlist.Media
	eventually(t, "segments of the new session", func() bool {
		after, _ = mediaPlaylist(t, s, url)
		return len(after.Segments) >= len(before.Segments)+3
	})
	require.Equal(t, before.Map.URI, after.Map.URI, "the same muxer serves the stream")
	require.GreaterOrEqual(t, after.MediaSequence, before.MediaSequence)
	require.NotContains(t, playlistText(t, s, url), "#EXT-X-DISCONTINUITY")

	// Each segment starts where the one before ended.
	var prevStart uint64
	var prevDur time.Duration
	for i, seg := range after.Segments {
		rec := get(t, s, "/cam/"+seg.URI)
		require.Equal(t, http.StatusOK, rec.Code)
		var parts fmp4.Parts
		require.NoError(t, parts.Unmarshal(rec.Body.Bytes()), "segment %s", seg.URI)
		start := parts[0].Tracks[0].BaseTime
		if i > 0 {
			gap := time.Duration(int64(start)-int64(prevStart))*time.Second/90000 - prevDur
			require.Less(t, gap.Abs(), 2*time.Second/clipFPS,
				"segment %d starts %v away from the end of the one before", i, gap)
		}
		prevStart, prevDur = start, seg.Duration
	}
	t.Logf("%d segments before the restart, %d after; decode times continuous", len(before.Segments), len(after.Segments))
}

func playlistText(t *testing.T, s *Server, url string) string {
	t.Helper()
	rec := get(t, s, url)
	require.Equal(t, http.StatusOK, rec.Code)
	return strings.TrimSpace(rec.Body.String())
}

// trackClock passes a steady source through, and re-bases a new session or
// a clock jump to one frame after the last output.
func TestTrackClock(t *testing.T) {
	const f = frameTicks
	for _, tc := range []struct {
		name string
		in   []int64  // presentation times
		gens []uint32 // source session of each
		want []int64
	}{
		{"steady", []int64{0, f, 2 * f}, []uint32{1, 1, 1}, []int64{0, f, 2 * f}},
		{"B-frames stay as they are", []int64{0, 3 * f, f, 2 * f}, []uint32{1, 1, 1, 1}, []int64{0, 3 * f, f, 2 * f}},
		{"restart", []int64{100 * f, 101 * f, 0, f}, []uint32{1, 1, 2, 2}, []int64{100 * f, 101 * f, 102 * f, 103 * f}},
		{"restart after a B-frame", []int64{0, 3 * f, f, 2 * f, 0}, []uint32{1, 1, 1, 1, 2}, []int64{0, 3 * f, f, 2 * f, 4 * f}},
		{"jump forward", []int64{0, f, f + 10*90000, 2*f + 10*90000}, []uint32{1, 1, 1, 1}, []int64{0, f, 2 * f, 3 * f}},
		{"jump back", []int64{20 * 90000, 20*90000 + f, 10 * 90000, 10*90000 + f}, []uint32{1, 1, 1, 1},
			[]int64{20 * 90000, 20*90000 + f, 20*90000 + 2*f, 20*90000 + 3*f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c trackClock
			for i, pts := range tc.in {
				got, _ := c.out(pts, tc.gens[i], 90000)
				require.Equal(t, tc.want[i], got, "unit %d", i)
			}
		})
	}
}
