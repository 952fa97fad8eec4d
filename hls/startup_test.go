package hls

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFirstPlaylistLongGOP: with a 4 s GOP, a new muxer primed from the hub's
// history answers its first playlists at once instead of after one or two GOPs.
func TestFirstPlaylistLongGOP(t *testing.T) {
	clip := clips.Get(t, 4*clipFPS)
	for _, tc := range []struct {
		name    string
		variant string
		media   string
	}{
		{"lowLatency", VariantLowLatency, "video1_stream.m3u8"},
		{"fmp4", VariantFMP4, "video1_stream.m3u8"},
		{"mpegts", VariantMPEGTS, "main_stream.m3u8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(t)
			s := newTestServer(t, h, Settings{Variant: tc.variant})
			src := publishClip(t, h, "cam/long", clip)
			// The history in fast-forward: the hub keeps timestamps, not pace.
			src.advance(10 * time.Second)

			start := time.Now()
			mv := multivariant(t, s, "/cam/long/index.m3u8")
			first := time.Since(start)
			require.NotEmpty(t, mv.Variants)
			require.Contains(t, mv.Variants[0].URI, tc.media)

			pl, _ := mediaPlaylist(t, s, "/cam/long/"+tc.media)
			both := time.Since(start)
			require.NotEmpty(t, pl.Segments)
			require.GreaterOrEqual(t, pl.TargetDuration, 4)
			t.Logf("%s: index.m3u8 after %v, media playlist after %v (4 s GOP, %d GOPs of history)",
				tc.name, first, both, HistoryGOPs)
			if both > firstPlaylistT {
				t.Logf("slower than %v", firstPlaylistT)
			}

			rec := get(t, s, "/cam/long/"+tc.media)
			require.Equal(t, http.StatusOK, rec.Code)
		})
	}
}
