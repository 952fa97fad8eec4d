package hls

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/stretchr/testify/require"
)

// partNumber is the number in "<prefix>_<stream>_part<N>.mp4".
func partNumber(t testing.TB, uri string) int {
	t.Helper()
	uri, _, _ = strings.Cut(uri, "?")
	i := strings.LastIndex(uri, "_part")
	require.Positive(t, i, uri)
	n, err := strconv.Atoi(strings.TrimSuffix(uri[i+len("_part"):], ".mp4"))
	require.NoError(t, err, uri)
	return n
}

// checkPlaylist asserts the rules every reload of a media playlist must keep.
func checkPlaylist(t testing.TB, pl *playlist.Media, ll bool, body string) {
	t.Helper()
	for _, seg := range pl.Segments {
		require.LessOrEqual(t, int(math.Round(seg.Duration.Seconds())), pl.TargetDuration,
			"EXTINF above EXT-X-TARGETDURATION:\n%s", body)
	}
	if !ll {
		require.Nil(t, pl.PreloadHint)
		return
	}
	require.NotNil(t, pl.PartInf, body)
	require.NotNil(t, pl.PreloadHint, body)
	require.NotNil(t, pl.ServerControl, body)
	require.True(t, pl.ServerControl.CanBlockReload)

	// Parts are listed for the last segments and for the segment in
	// progress; their numbers follow each other and the hint names the next.
	var parts []*playlist.MediaPart
	for _, seg := range pl.Segments {
		if len(seg.Parts) == 0 {
			continue
		}
		var sum time.Duration
		for _, p := range seg.Parts {
			sum += p.Duration
		}
		require.InDelta(t, seg.Duration.Seconds(), sum.Seconds(), 0.002, "parts do not add up to their segment:\n%s", body)
		parts = append(parts, seg.Parts...)
	}
	require.NotEmpty(t, pl.Segments[len(pl.Segments)-1].Parts, "the last segment lists no parts:\n%s", body)
	parts = append(parts, pl.Parts...)
	for i, p := range parts {
		require.LessOrEqual(t, p.Duration, pl.PartInf.PartTarget, "part longer than EXT-X-PART-INF:\n%s", body)
		if i > 0 {
			require.Equal(t, partNumber(t, parts[i-1].URI)+1, partNumber(t, p.URI), body)
		}
	}
	require.Equal(t, partNumber(t, parts[len(parts)-1].URI)+1, partNumber(t, pl.PreloadHint.URI),
		"the preload hint does not name the next part:\n%s", body)
}

// TestPlaylistRules reloads the media playlist of a live stream and checks
// what players rely on, reload after reload.
func TestPlaylistRules(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	for _, tc := range []struct {
		name     string
		settings Settings
		media    string
	}{
		{"lowLatency", Settings{Variant: VariantLowLatency}, "video1_stream.m3u8"},
		{"fmp4", Settings{Variant: VariantFMP4, SegmentCount: 3}, "video1_stream.m3u8"},
		{"mpegts", Settings{Variant: VariantMPEGTS, SegmentCount: 3}, "main_stream.m3u8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			s := newTestServer(t, h, tc.settings)
			src := publishClip(t, h, "live/cam", clip)
			src.live(5 * time.Second)
			ll := tc.settings.Variant == VariantLowLatency
			url := "/live/cam/" + tc.media

			first, body := mediaPlaylist(t, s, url)
			checkPlaylist(t, first, ll, body)
			last := first
			deadline := time.Now().Add(testDeadline)
			for last.MediaSequence < first.MediaSequence+3 {
				require.True(t, time.Now().Before(deadline), "the media sequence does not advance")
				next := url
				if ll {
					// Blocking reload: answered when the next segment exists.
					next += "?_HLS_msn=" + strconv.Itoa(last.MediaSequence+len(last.Segments))
				} else {
					time.Sleep(100 * time.Millisecond) // a player's reload interval, shortened
				}
				pl, body := mediaPlaylist(t, s, next)
				checkPlaylist(t, pl, ll, body)
				require.GreaterOrEqual(t, pl.MediaSequence, last.MediaSequence, "EXT-X-MEDIA-SEQUENCE went back:\n%s", body)
				last = pl
			}
		})
	}
}

// TestExpiredBlockingReload: a viewer that fell behind asks to block for a
// segment that has left the playlist; it gets the current playlist (as the
// LL-HLS spec wants) instead of gohlslib's 400. A request too far ahead
// keeps its 400.
func TestExpiredBlockingReload(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{Variant: VariantLowLatency})
	src := publishClip(t, h, "live/cam", clip)
	src.live(15 * time.Second)
	url := "/live/cam/video1_stream.m3u8"

	pl, _ := mediaPlaylist(t, s, url)
	deadline := time.Now().Add(testDeadline)
	for pl.MediaSequence == 0 {
		require.True(t, time.Now().Before(deadline), "the media sequence does not advance")
		pl, _ = mediaPlaylist(t, s, url+"?_HLS_msn="+strconv.Itoa(pl.MediaSequence+len(pl.Segments)))
	}
	res := get(t, s, url+"?_HLS_msn=0&_HLS_part=0")
	require.Equal(t, 200, res.Code, res.Body.String())
	require.Contains(t, res.Body.String(), "#EXT-X-MEDIA-SEQUENCE:")

	res = get(t, s, url+"?_HLS_msn="+strconv.Itoa(pl.MediaSequence+len(pl.Segments)+10))
	require.Equal(t, 400, res.Code, "a segment far in the future stays a bad request")
}
