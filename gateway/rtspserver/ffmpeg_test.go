package rtspserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// clipDir holds the clip generated once per test run; TestMain removes it.
var (
	clipDir  string
	clipOnce sync.Once
	clipErr  error
)

// requireTool skips the test when an outside program is not installed, and
// fails it in CI, where `make test` installs every tool.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, name+" is not installed")
	}
	return p
}

// testClip returns a 4 s H.264 + AAC clip (320x240, 25 fps, a keyframe
// every second, no B-frames), generated on first use.
func testClip(t testing.TB) string {
	t.Helper()
	requireTool(t, "ffmpeg")
	clipOnce.Do(func() {
		clipDir, clipErr = os.MkdirTemp("", "rtspserver-clip-")
		if clipErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
			"-bf", "0", "-g", "25", "-c:a", "aac", "-shortest",
			filepath.Join(clipDir, "clip.mp4")).CombinedOutput()
		if err != nil {
			clipErr = fmt.Errorf("generate clip: %w: %s", err, out)
		}
	})
	require.NoError(t, clipErr)
	return filepath.Join(clipDir, "clip.mp4")
}

// runCmd runs a program under ctx and returns stdout and stderr; the
// process is killed when ctx ends.
func runCmd(ctx context.Context, t testing.TB, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	return o.String(), e.String(), err
}

// startFFmpegPublisher publishes the clip in a loop with ANNOUNCE/RECORD
// over TCP and waits until the server records it.
func startFFmpegPublisher(t *testing.T, env *testEnv, path string) {
	t.Helper()
	clip := testClip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", env.url(path))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		cmd.Wait() //nolint:errcheck // killed on purpose
	})
	env.logs.waitCount(t, 1, "publisher recording", "path="+path)
}

func TestFFmpegClients(t *testing.T) {
	requireTool(t, "ffprobe")
	env := newEnv(t, envConfig{
		udp:   true,
		paths: map[string]hub.PathConf{"ff": {AcceptPublishers: true}},
	})
	startFFmpegPublisher(t, env, "ff")

	for _, transport := range []string{"tcp", "udp"} {
		t.Run("ffprobe over "+transport, func(t *testing.T) {
			ctx := testCtx(t, testTimeout)
			out, errOut, err := runCmd(ctx, t, "ffprobe", "-v", "error", "-rtsp_transport", transport,
				"-show_entries", "stream=codec_name", "-of", "csv=p=0", env.url("ff"))
			require.NoError(t, err, "ffprobe: %s", errOut)
			codecs := strings.Fields(out)
			require.ElementsMatch(t, []string{"h264", "aac"}, codecs, "ffprobe output: %q", out)
		})
	}

	t.Run("ffmpeg decodes 5 s over tcp", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		out, errOut, err := runCmd(ctx, t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
			"-rtsp_transport", "tcp", "-i", env.url("ff"), "-t", "5", "-fps_mode", "passthrough", "-enc_time_base", "-1",
			"-f", "null", "-", "-progress", "pipe:1", "-nostats")
		require.NoError(t, err, "ffmpeg: %s", errOut)
		require.Empty(t, strings.TrimSpace(errOut), "ffmpeg logged errors")
		frames := lastProgressValue(out, "frame")
		require.GreaterOrEqual(t, frames, 100, "decoded frames in 5 s")
		t.Logf("ffmpeg decoded %d frames in 5 s", frames)
	})
}

// lastProgressValue returns the last integer value of key in ffmpeg's
// -progress output.
func lastProgressValue(out, key string) int {
	v := -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), "=")
		if ok && k == key {
			if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil {
				v = n
			}
		}
	}
	return v
}
