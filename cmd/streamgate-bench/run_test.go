package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// startInProcess starts the built-in camera and a gateway pulling it as
// path "bench" in this process, on loopback, both closed with the test.
func startInProcess(t *testing.T, logger *slog.Logger) (*Camera, *gateway.Gateway) {
	t.Helper()
	cam := &Camera{Logger: logger, CacheDir: clipCacheDir(t)}
	require.NoError(t, cam.Start())
	t.Cleanup(cam.Close)
	yaml := gatewayYAML("127.0.0.1:0", "127.0.0.1:0", "", "", "127.0.0.1:0", "bench", cam.URL(), 200*time.Millisecond, time.Second, 0)
	conf, err := gateway.ParseConfig("bench.yml", []byte(yaml), nil)
	require.NoError(t, err, yaml)
	g := &gateway.Gateway{Config: conf, Logger: logger}
	require.NoError(t, g.Start())
	t.Cleanup(g.Close)
	return cam, g
}

// TestScenarios runs every scenario for a few seconds against the built-in
// camera and a gateway in this process, on loopback. It checks that each
// scenario measures what it says (samples, no loss on loopback TCP), not
// how fast this machine is: timings are the benchmark's output, not a
// pass condition.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a camera and a gateway for ~25 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, g := startInProcess(t, logger)

	b := &bench{
		RTSPURL:        "rtsp://" + g.RTSPAddr().String() + "/{path}",
		HTTPURL:        "http://" + g.HTTPAddr().String() + "/{path}/",
		Path:           "bench",
		SamplePath:     "{path}/{n}",
		SampleJitter:   300 * time.Millisecond,
		Transport:      "tcp",
		Readers:        3,
		Samples:        3,
		Duration:       3 * time.Second,
		Settle:         time.Second,
		ConnectTimeout: 10 * time.Second,
		Proc:           &procWatch{PID: os.Getpid()}, // gateway and clients together here
		Params:         map[string]string{},
		Logger:         logger,
		dialer:         newDialer(false),
	}

	t.Run("rtsp", func(t *testing.T) {
		rep, err := b.run(ctx, "rtsp")
		require.NoError(t, err)
		logReport(t, rep)
		require.Equal(t, 3.0, rep.metric("readers connected"))
		require.Greater(t, rep.metric("packets per reader, min"), 100.0, "3 s of 720p30")
		require.Zero(t, rep.metric("lost (sequence gaps)"), "no loss on loopback TCP")
		require.Zero(t, rep.metric("reordered"))
		require.Greater(t, rep.metric("camera-to-reader latency samples"), 150.0)
		require.GreaterOrEqual(t, rep.metric("camera-to-reader latency p50"), 0.0)
		require.Greater(t, rep.metric("gateway CPU per reader-second"), 0.0)
		require.Greater(t, rep.metric("gateway RSS at end"), 1.0)
	})

	t.Run("first-frame", func(t *testing.T) {
		rep, err := b.run(ctx, "first-frame")
		require.NoError(t, err)
		logReport(t, rep)
		require.Equal(t, 3.0, rep.metric("RTSP PLAY to first keyframe packet samples"))
		// The GOP cache hands a new reader the keyframe at once.
		require.GreaterOrEqual(t, rep.metric("RTSP PLAY to first keyframe packet p50"), 0.0)
		require.Equal(t, 3.0, rep.metric("HLS first segment playable samples"))
		// A fresh pull waits for a keyframe and a whole 1 s segment.
		require.Greater(t, rep.metric("HLS first segment playable p50"), 0.0)
	})

	t.Run("hls", func(t *testing.T) {
		rep, err := b.run(ctx, "hls")
		require.NoError(t, err)
		logReport(t, rep)
		// 3 viewers, about 5 parts and 5 blocking reloads a second each.
		require.Greater(t, rep.metric("requests (all viewers)"), 3*3*5.0)
		require.Zero(t, rep.metric("errors (non-2xx, transport)"))
		require.Zero(t, rep.metric("timeouts"))
		require.Greater(t, rep.metric("LL part-ready latency samples"), 10.0)
		// A part is listed once it is complete: one part duration after its first frame.
		require.Greater(t, rep.metric("LL part-ready latency p50"), 0.0)

		file := filepath.Join(t.TempDir(), "hls.json")
		require.NoError(t, rep.writeJSON(file))
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Contains(t, string(data), `"LL part-ready latency p50"`)
	})

	t.Run("webrtc", func(t *testing.T) {
		require.NotNil(t, g.WebRTCAddr())
		// Gateway and viewers share this process: big socket buffers keep
		// a slow (-race) run from dropping in the viewers' sockets.
		b.UDPBuffer = 4 << 20
		defer func() { b.UDPBuffer = 0 }()
		rep, err := b.run(ctx, "webrtc")
		require.NoError(t, err)
		logReport(t, rep)
		require.Equal(t, 3.0, rep.metric("viewers connected"))
		require.Greater(t, rep.metric("packets per viewer, min"), 100.0, "3 s of 720p30")
		require.Zero(t, rep.metric("lost (sequence gaps)"), "no loss on loopback")
		require.Zero(t, rep.metric("viewers that died"))
		require.Greater(t, rep.metric("camera-to-viewer latency samples"), 150.0)
		require.GreaterOrEqual(t, rep.metric("camera-to-viewer latency p50"), 0.0)
		require.Equal(t, 2.0, rep.metric("POST to first keyframe packet samples"), "viewer 0 probes")
		require.Greater(t, rep.metric("gateway CPU per viewer-second"), 0.0)
	})
}

// TestCameraDemoClip checks the fallback camera (the embedded demo clip,
// re-stamped) that runs when ffmpeg is missing.
func TestCameraDemoClip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a camera for ~2 s")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cam := &Camera{Clip: "demo", Logger: logger}
	require.NoError(t, cam.Start())
	defer cam.Close()
	require.Contains(t, cam.Description(), "demo")

	b := &bench{RTSPURL: strings.TrimSuffix(cam.URL(), "/cam") + "/{path}", ConnectTimeout: 5 * time.Second,
		Logger: logger, dialer: newDialer(false)}
	measuring := newTrue()
	r, err := b.dialRetry(context.Background(), 0, "cam", mustTransport(t, "tcp"), measuring)
	require.NoError(t, err)
	defer r.c.Close()
	select {
	case <-r.keyNotify:
	case <-time.After(5 * time.Second):
		t.Fatal("no keyframe from the demo camera")
	}
	require.Eventually(t, func() bool { return len(r.latencies()) >= 10 }, 5*time.Second, 50*time.Millisecond)
	require.Less(t, medianOf(r.latencies()), 100.0)
	require.Len(t, r.medias, 2, "video and the demo's AAC")
}

// clipCacheDir keeps the generated clip across test runs.
func clipCacheDir(t *testing.T) string {
	d, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(d, "streamgate-bench")
}

func logReport(t *testing.T, rep *Report) {
	t.Helper()
	var sb strings.Builder
	_ = rep.writeTable(&sb)
	t.Log("\n" + sb.String())
}

func newTrue() *atomic.Bool {
	b := &atomic.Bool{}
	b.Store(true)
	return b
}

func mustTransport(t *testing.T, s string) gortsplib.Protocol {
	p, err := parseTransport(s)
	require.NoError(t, err)
	return p
}
