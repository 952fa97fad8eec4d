package gateway_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// With no paths configured the built-in demo path plays the embedded clip,
// and real clients read it: ffprobe sees H.264 and AAC, ffmpeg decodes three
// seconds of it without a single error.
func TestDemoWithFFmpeg(t *testing.T) {
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx := e2eCtx(t)
	g := startGateway(t, "")
	url := g.url("demo")

	for _, transport := range []string{"tcp", "udp"} {
		t.Run("ffprobe over "+transport, func(t *testing.T) {
			start := time.Now()
			cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", transport,
				"-show_entries", "stream=codec_name", "-of", "csv=p=0", url)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "ffprobe: %s", stderr.String())
			require.Equal(t, []string{"h264", "aac"}, strings.Fields(string(out)))
			t.Logf("ffprobe over %s took %v", transport, time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("ffmpeg decodes 3s", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-rtsp_transport", "tcp", "-i", url,
			"-t", "3", "-fps_mode", "passthrough", "-enc_time_base", "-1", "-loglevel", "error", "-f", "null", "-")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		err := cmd.Run()
		require.NoError(t, err, "ffmpeg: %s", stderr.String())
		require.Empty(t, strings.TrimSpace(stderr.String()), "ffmpeg reported errors")
	})
}
