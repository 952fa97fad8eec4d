package rtspserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// inNetnsEnv marks the copy of the test binary that runs inside the network
// namespace TestMulticastReader makes.
const inNetnsEnv = "STREAMGATE_TEST_IN_NETNS"

// TestMulticastReader reads with UDP multicast in 224.1.0.0/16.
//
// Multicast must never leave the machine, and the host's loopback is not
// multicast-capable, so the test makes its own network namespace with only
// a loopback interface (multicast on, 224.0.0.0/4 routed to it) and runs
// the reading part of itself in there. That needs root and iproute2, which
// CI has.
func TestMulticastReader(t *testing.T) {
	if os.Getenv(inNetnsEnv) == "1" {
		multicastReaders(t)
		return
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "multicast test needs root to create a network namespace")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		skipOrFail(t, "multicast test needs iproute2's ip command")
	}
	var b [4]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	ns := "sgtest-" + hex.EncodeToString(b[:])
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(ip, args...).CombinedOutput()
		require.NoError(t, err, "ip %v: %s", args, out)
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ip, "netns", "delete", ns).Run() }) //nolint:errcheck // best effort
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "link", "set", "lo", "multicast", "on")
	run("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", ns, os.Args[0],
		"-test.run=^TestMulticastReader$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: TestMulticastReader")
}

// multicastReaders runs inside the namespace: ffmpeg publishes, and two
// ffmpeg readers decode the same multicast group.
func multicastReaders(t *testing.T) {
	requireTool(t, "ffmpeg")
	env := newEnv(t, envConfig{
		multicast: true,
		paths:     map[string]hub.PathConf{"mc": {AcceptPublishers: true}},
	})
	startFFmpegPublisher(t, env, "mc")

	var wg sync.WaitGroup
	frames := make([]int, 2)
	errs := make([]error, 2)
	for i := range frames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testCtx(t, 30*time.Second)
			out, errOut, err := runCmd(ctx, t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
				"-rtsp_transport", "udp_multicast", "-i", env.url("mc"), "-t", "3", "-fps_mode", "passthrough", "-enc_time_base", "-1",
				"-f", "null", "-", "-progress", "pipe:1", "-nostats")
			if err != nil {
				errs[i] = fmt.Errorf("ffmpeg: %w: %s", err, errOut)
			}
			frames[i] = lastProgressValue(out, "frame")
		}()
	}
	wg.Wait()
	for i := range frames {
		require.NoError(t, errs[i])
		require.GreaterOrEqual(t, frames[i], 50, "reader %d decoded frames in 3 s", i)
	}
	require.Equal(t, 2, env.logs.count("reader playing", "transport=UDP-multicast"), "server log:\n%s", env.logs)
	t.Logf("multicast readers decoded %d and %d frames in 3 s", frames[0], frames[1])
}

// skipOrFail skips outside CI and fails in CI, where every tool must be there.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
