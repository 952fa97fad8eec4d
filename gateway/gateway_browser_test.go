package gateway_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoVariants is a config with the demo clip on one path per HLS variant.
const demoVariants = `paths:
  demo:
    source: demo
  demo/ts:
    source: demo
    hlsVariant: mpegts
  demo/fmp4:
    source: demo
    hlsVariant: fmp4
`

// needTool returns the path of an outside program; it skips the test
// without it, except in CI, where `make test` installs every tool.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// TestHLSVariantsDecode has ffmpeg read every HLS variant of the demo from
// the gateway's HTTP listener and decode 4 s without error.
func TestHLSVariantsDecode(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	g := startGateway(t, demoVariants)
	base := "http://" + g.HTTPAddr().String()
	for _, path := range []string{"demo", "demo/ts", "demo/fmp4"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
				"-i", base+"/"+path+"/index.m3u8", "-t", "4", "-f", "null", "-", "-progress", "pipe:1", "-nostats")
			cmd.WaitDelay = 2 * time.Second
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "ffmpeg: %s", stderr.String())
			require.Empty(t, strings.TrimSpace(stderr.String()), "ffmpeg logged errors")
			require.Contains(t, string(out), "progress=end")
			frames := 0
			for _, line := range strings.Split(string(out), "\n") {
				fmt.Sscanf(line, "frame=%d", &frames) //nolint:errcheck // other lines do not match
			}
			require.GreaterOrEqual(t, frames, 90, "frames decoded from 4 s of HLS")
		})
	}
}

// TestBrowserPlaysDemo opens the demo's player page in headless Chromium,
// as a newcomer would, for the Low-Latency and the MPEG-TS variants: the
// video must decode (videoWidth) and play (currentTime advances).
func TestBrowserPlaysDemo(t *testing.T) {
	chromium := needTool(t, "chromium")
	g := startGateway(t, demoVariants)
	base := "http://" + g.HTTPAddr().String()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.Flag("disable-gpu", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.NoFirstRun,
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		)...)
	defer cancelAlloc()
	watchdog := time.AfterFunc(2*time.Minute, cancelAlloc)
	defer watchdog.Stop()
	browser, closeBrowser := chromedp.NewContext(alloc)
	defer closeBrowser()
	require.NoError(t, chromedp.Do(browser))

	for _, path := range []string{"demo", "demo/ts"} {
		t.Run(path, func(t *testing.T) {
			tab, closeTab := chromedp.NewContext(browser)
			defer closeTab()
			ctx, cancel := context.WithTimeout(tab, time.Minute)
			defer cancel()
			start := time.Now()
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"+path+"/")))
			t0, err := chromedp.Run(ctx, chromedp.Poll[float64](`(() => { const v = document.getElementById('video');
				return v.videoWidth > 0 && v.currentTime > 0 ? v.currentTime : false; })()`,
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
			require.NoError(t, err, "the demo never started playing")
			t.Logf("%s: playing %v after opening the page", path, time.Since(start).Round(time.Millisecond))
			_, err = chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById('video').currentTime > %f`, t0+1),
				chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
			require.NoError(t, err, "currentTime stopped at %f", t0)
			width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById('video').videoWidth`))
			require.NoError(t, err)
			assert.Equal(t, 640, width)
		})
	}
}
