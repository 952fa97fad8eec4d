package hls

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFFmpegPlays: ffmpeg reads index.m3u8 of each variant over HTTP and
// decodes 5 s of a live stream without a single error line.
func TestFFmpegPlays(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	for _, tc := range []struct {
		name     string
		settings Settings
		media    string
	}{
		{"lowLatency", Settings{Variant: VariantLowLatency}, "video1_stream.m3u8"},
		{"fmp4", Settings{Variant: VariantFMP4}, "video1_stream.m3u8"},
		{"mpegts", Settings{Variant: VariantMPEGTS}, "main_stream.m3u8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			s := newTestServer(t, h, tc.settings)
			src := publishClip(t, h, "site/door", clip)
			src.live(5 * time.Second)
			hs := httptest.NewServer(mux(s))
			defer hs.Close()

			// ffmpeg 5.1 starts three segments from the live edge and knows
			// nothing of EXT-X-GAP: wait until LL's leading gaps are further back.
			eventually(t, "four segments", func() bool {
				pl, _ := mediaPlaylist(t, s, "/site/door/"+tc.media)
				n := 0
				for _, seg := range pl.Segments {
					if !seg.Gap {
						n++
					}
				}
				return n >= 4
			})

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error",
				"-i", hs.URL+"/site/door/index.m3u8", "-t", "5", "-f", "null", "-")
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			require.NoError(t, err, "ffmpeg: %s", stderr.String())
			require.Empty(t, strings.TrimSpace(stderr.String()), "ffmpeg reported errors")
			t.Logf("%s: ffmpeg decoded 5 s in %v", tc.name, time.Since(start))
		})
	}
}
