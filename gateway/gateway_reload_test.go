package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// pullPaths is a "paths:" section pulling each name from the camera over TCP.
func pullPaths(cam *e2eCam, names ...string) string {
	var b strings.Builder
	b.WriteString("paths:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    source: %s\n    sourceProtocol: tcp\n", n, cam.url("", n))
	}
	return b.String()
}

// sameListenersYAML is e2eConfigYAML on the running gateway's UDP ports,
// so a reload changes no listener.
func sameListenersYAML(t *testing.T, g *e2eGateway, extra string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(g.Config.RTSP.RTPAddress)
	require.NoError(t, err)
	rtp, err := strconv.Atoi(port)
	require.NoError(t, err)
	return e2eConfigYAML(rtp, extra)
}

// requireConsecutive checks that sequence numbers never skip nor repeat.
func requireConsecutive(t *testing.T, kind string, pkts []rtpCopy) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		require.Equal(t, pkts[i-1].seq+1, pkts[i].seq, "%s sequence numbers continue at packet %d of %d", kind, i, len(pkts))
	}
}

// waitPictures waits until r has n pictures of frame index seam or later.
func waitPictures(t *testing.T, ctx context.Context, r *e2eReader, seam, n int) {
	t.Helper()
	r.waitUntil(t, ctx, fmt.Sprintf("%d pictures from frame %d on", n, seam), func(v, _ []rtpCopy) bool {
		got := 0
		for _, p := range v {
			if _, f, ok := pictureTag(p.payload); ok && f >= seam {
				got++
			}
		}
		return got >= n
	})
}

// A reload that removes b and adds c leaves a alone: its reader keeps its
// session and gets every packet, and its pull is not restarted, while b's
// reader ends and c's source starts.
func TestReloadKeepsUnchangedPaths(t *testing.T) {
	ctx := e2eCtx(t)
	cam := newCam(t, camOpts{}, map[string]byte{"a": 'a', "b": 'b', "c": 'c'})
	g := startGateway(t, pullPaths(cam, "a", "b"))

	ra := mustReader(t, g.url("a"), gortsplib.ProtocolTCP)
	rb := mustReader(t, g.url("b"), gortsplib.ProtocolTCP)
	ra.waitPackets(t, ctx, 10)
	rb.waitPackets(t, ctx, 10)
	aEnded, bEnded := make(chan error, 1), make(chan error, 1)
	go func() { aEnded <- ra.c.Wait() }()
	go func() { bEnded <- rb.c.Wait() }()

	conf, err := gateway.ParseConfig("test.yml", []byte(sameListenersYAML(t, g, pullPaths(cam, "a", "c"))), nil)
	require.NoError(t, err)
	seam := cam.nextFrame("a")
	require.NoError(t, g.Reload(conf))
	require.True(t, g.log.has(`msg="config reloaded"`, "added=[c]", "removed=[b]", "changed=[]"), "the reload is logged with its diff")

	waitChan(t, ctx, bEnded, "the reader of the removed path to end")
	for {
		if waitChan(t, ctx, cam.played, "the pull of the added path") == "c" {
			break
		}
	}
	mustReader(t, g.url("c"), gortsplib.ProtocolTCP).waitPackets(t, ctx, 5)
	_, err = dialReader(t, g.url("b"), gortsplib.ProtocolTCP)
	require.Equal(t, 404, int(statusCode(err)), "the removed path is gone: %v", err)

	// A second (identical) reload is a no-op for a as well.
	require.NoError(t, g.Reload(conf))

	waitPictures(t, ctx, ra, seam, 25)
	select {
	case err := <-aEnded:
		t.Fatalf("the reader of the unchanged path ended: %v", err)
	default:
	}
	v, a := ra.packets()
	requireConsecutive(t, "video", v)
	requireConsecutive(t, "audio", a)
	requireIdentical(t, cam, "a", ra)
	_, plays, _ := cam.counts()
	require.Equal(t, 1, plays["a"], "the unchanged path's pull was not restarted")
	require.False(t, g.log.has("path reset", "path=a"), "the unchanged path was not reset")
	require.False(t, g.log.has("restart needed"), "no listener changed")
}

// A config file that gains an unknown key is refused with its file, line
// and key logged, and the running config stays; a fixed file is applied.
func TestWatchConfigRefusesBrokenConfig(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGateway(t, "paths:\n  a:\n    source: demo\n")
	file := filepath.Join(t.TempDir(), "streamgate.yml")
	good := sameListenersYAML(t, g, "paths:\n  a:\n    source: demo\n")
	require.NoError(t, os.WriteFile(file, []byte(good), 0o600))

	watchCtx, stop := context.WithCancel(ctx)
	watchErr := make(chan error, 1)
	go func() { watchErr <- g.WatchConfig(watchCtx, file) }()
	t.Cleanup(func() {
		stop()
		<-watchErr
	})
	rtcWaitLog(t, ctx, g, "watching the config file for changes")

	ra := mustReader(t, g.url("a"), gortsplib.ProtocolTCP)
	ra.waitPackets(t, ctx, 5)
	aEnded := make(chan error, 1)
	go func() { aEnded <- ra.c.Wait() }()

	// As an editor saves: write a new file, rename it over the old one.
	replace := func(content string) {
		tmp := file + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
		require.NoError(t, os.Rename(tmp, file))
	}
	broken := good + "  c:\n    source: demo\n    sorce: demo\n"
	line := strings.Count(broken, "\n") // the last line holds the typo
	replace(broken)
	rtcWaitLog(t, ctx, g, "config not applied", fmt.Sprintf("%s:%d: paths.c.sorce: unknown key", file, line))

	_, err := dialReader(t, g.url("c"), gortsplib.ProtocolTCP)
	require.Equal(t, 404, int(statusCode(err)), "the broken config's new path is not served: %v", err)
	mustReader(t, g.url("a"), gortsplib.ProtocolTCP).waitPackets(t, ctx, 5)

	replace(good + "  c:\n    source: demo\n")
	rtcWaitLog(t, ctx, g, `msg="config reloaded"`, "added=[c]")
	mustReader(t, g.url("c"), gortsplib.ProtocolTCP).waitPackets(t, ctx, 5)
	require.Equal(t, 1, strings.Count(g.log.String(), "config not applied"), "the error is logged once")
	select {
	case err := <-aEnded:
		t.Fatalf("the reader of the unchanged path ended: %v", err)
	default:
	}
}

// Reload refuses an invalid config and changes nothing.
func TestReloadRefusesInvalidConfig(t *testing.T) {
	g := startGateway(t, "paths:\n  a:\n    source: demo\n")
	bad := g.Config.Clone()
	bad.Paths["a"].HLSVariant = "nope"
	require.Error(t, g.Reload(bad))
	require.Error(t, g.Reload(nil))
	require.False(t, g.log.has("config reloaded"))
	require.False(t, g.log.has("path reset"))
}

// A reload that moves a listener keeps the running one and says so.
func TestReloadWarnsRestartNeeded(t *testing.T) {
	g := startGateway(t, "paths:\n  a:\n    source: demo\n")
	conf := g.Config.Clone()
	conf.HTTP.Address = "127.0.0.1:1"
	conf.RTSP.ReadTimeout *= 2
	require.NoError(t, g.Reload(conf))
	require.True(t, g.log.has("restart needed for http.address"))
	require.True(t, g.log.has("restart needed for rtsp.readTimeout"))
	require.NoError(t, g.Reload(conf))
	require.Equal(t, 2, strings.Count(g.log.String(), "restart needed for http.address"),
		"the running value stays, so the next reload warns again")
	require.False(t, g.log.has("path reset"), "no path changed")
	addr := g.HTTPAddr().String()
	require.NotEqual(t, "127.0.0.1:1", addr)
}

// Run applies its config file again on SIGHUP: a broken file is refused
// and logged, a good one applied.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	ctx := e2eCtx(t)
	logs := &e2eLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	g := &e2eGateway{log: logs}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	file := filepath.Join(t.TempDir(), "streamgate.yml")
	hup := make(chan os.Signal, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var runErr chan error
	var good string
	// A UDP pair found free can be taken before the gateway binds it: retry.
	for range 5 {
		good = e2eConfigYAML(e2eFreeUDPPair(t), "paths:\n  a:\n    source: demo\n")
		require.NoError(t, os.WriteFile(file, []byte(good), 0o600))
		conf, err := gateway.LoadConfig(file)
		require.NoError(t, err)
		runErr = make(chan error, 1)
		go func() { runErr <- gateway.Run(runCtx, conf, logger, hup) }()
		ready := time.NewTicker(20 * time.Millisecond)
		for !logs.has("watching the config file for changes") && len(runErr) == 0 {
			select {
			case <-ready.C:
			case <-ctx.Done():
				t.Fatal("timed out waiting for the gateway to start")
			}
		}
		ready.Stop()
		if len(runErr) == 0 {
			break
		}
		t.Logf("start: %v", <-runErr)
		runErr = nil
	}
	require.NotNil(t, runErr, "the gateway did not start")

	// Written in place over the old content: the watcher may see it too, and
	// applies it only once whichever comes first.
	require.NoError(t, os.WriteFile(file, []byte(good+"  c:\n    sorce: demo\n"), 0o600))
	hup <- syscall.SIGHUP
	rtcWaitLog(t, ctx, g, `msg="SIGHUP: reloading the config"`)
	rtcWaitLog(t, ctx, g, "config not applied", file+":", "paths.c.sorce: unknown key")

	require.NoError(t, os.WriteFile(file, []byte(good+"  c:\n    source: demo\n"), 0o600))
	hup <- syscall.SIGHUP
	rtcWaitLog(t, ctx, g, `msg="config reloaded"`, "added=[c]")

	stop()
	require.NoError(t, waitChan(t, ctx, runErr, "Run to return"))
}
