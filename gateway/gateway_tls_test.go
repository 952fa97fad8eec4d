package gateway_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// TestTLSWithThirdPartyClients serves the demo over RTSPS and HTTPS from a
// self-signed certificate made here: ffprobe reads it over RTSPS and ffmpeg
// decodes its HLS over HTTPS.
func TestTLSWithThirdPartyClients(t *testing.T) {
	ffprobe, ffmpeg := needTool(t, "ffprobe"), needTool(t, "ffmpeg")
	cert, key := writeTestCert(t)
	conf, err := gateway.ParseConfig("tls.yml", []byte(fmt.Sprintf(`log: {level: debug}
rtsp:
  address: "127.0.0.1:0"
  rtpAddress: ""
  rtcpAddress: ""
  multicastIPRange: ""
  rtspsAddress: "127.0.0.1:0"
  serverCert: %[1]q
  serverKey: %[2]q
http:
  address: "127.0.0.1:0"
  serverCert: %[1]q
  serverKey: %[2]q
webrtc:
  address: ""
`, cert, key)), nil)
	require.NoError(t, err)
	g := &gateway.Gateway{Config: conf, Logger: discardLogger()}
	require.NoError(t, g.Start())
	defer g.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.WaitDelay = 2 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s: %s", name, stderr.String())
		require.Empty(t, strings.TrimSpace(stderr.String()), "%s logged errors", name)
		return string(out)
	}

	t.Run("ffprobe over RTSPS", func(t *testing.T) {
		out := run(ffprobe, "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
			"rtsps://"+g.RTSPSAddr().String()+"/demo")
		require.ElementsMatch(t, []string{"h264", "aac"}, strings.Fields(out))
	})
	t.Run("ffmpeg HLS over HTTPS", func(t *testing.T) {
		out := run(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-tls_verify", "0",
			"-i", "https://"+g.HTTPAddr().String()+"/demo/index.m3u8", "-t", "3", "-f", "null", "-",
			"-progress", "pipe:1", "-nostats")
		require.Contains(t, out, "progress=end")
	})
}
