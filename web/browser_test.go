package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is the Debian chromium the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds the whole browser test, browser start included.
const browserTimeout = 2 * time.Minute

// requireTool skips when a tool is missing on a developer machine and fails
// under CI=true, where a skipped browser test would hide a broken player.
func requireTool(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %v", path, err)
	}
	t.Skipf("%s not found (%v); install it to run the browser test", path, err)
	return ""
}

// makeHLS writes a 20 s 320×240 test pattern as a VOD HLS stream into dir;
// fmp4 selects fMP4 segments instead of MPEG-TS.
func makeHLS(t *testing.T, ctx context.Context, ffmpeg, dir string, fmp4 bool, extra ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "20",
		// testsrc is RGB; without yuv420p libx264 picks a 4:4:4 profile
		// browsers do not decode.
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-bf", "0",
		"-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"}
	if fmp4 {
		args = append(args, "-hls_segment_type", "fmp4")
	}
	args = append(args, extra...)
	args = append(args, "index.m3u8")
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
}

// syncBuffer collects the browser's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// playerState is what the test reads from the player page.
type playerState struct {
	Time    float64 `json:"time"`
	Width   int     `json:"width"`
	Status  string  `json:"status"`
	Error   string  `json:"error"`
	Latency string  `json:"latency"`
}

const readPlayerState = `(() => {
	const v = document.getElementById('video');
	return {
		time: v.currentTime,
		width: v.videoWidth,
		status: document.getElementById('status').textContent,
		error: v.error ? v.error.code + ' ' + v.error.message : '',
		latency: document.getElementById('latency').textContent,
	};
})()`

func TestBrowserPlaysHLS(t *testing.T) {
	chromium := requireTool(t, chromiumPath)
	ffmpeg := requireTool(t, "ffmpeg")

	var browserLog syncBuffer
	// The allocator's context must not carry a deadline (it would bound the
	// browser's life, see chromedp.Run); a watchdog bounds the test instead.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
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
			chromedp.CombinedOutput(&browserLog),
		)...)
	defer cancelAlloc()
	watchdog := time.AfterFunc(browserTimeout, cancelAlloc)
	defer watchdog.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	media := t.TempDir()
	makeHLS(t, ctx, ffmpeg, filepath.Join(media, "site", "door"), false)
	makeHLS(t, ctx, ffmpeg, filepath.Join(media, "fmp4"), true)
	// ffmpeg writes future dates here (it encodes faster than real time):
	// the player must fall back to the distance from the live edge. Two
	// second segments start playback 6 s before the end.
	makeHLS(t, ctx, ffmpeg, filepath.Join(media, "live"), true, "-hls_time", "2", "-hls_flags", "program_date_time")

	paths := &fakePaths{list: []PathInfo{
		{Name: "site/door", State: "ready", Source: "rtsp://***:***@192.0.2.10:554/door", Readers: 1,
			Tracks: []TrackInfo{{Kind: "video", Codec: "H264", Width: 320, Height: 240}}},
		{Name: "fmp4", State: "ready", Source: "publisher",
			Tracks:    []TrackInfo{{Kind: "video", Codec: "H264", Width: 320, Height: 240}, {Kind: "audio", Codec: "Opus"}},
			HLSNotice: "Opus audio is not in HLS for this browser test."},
		{Name: "live", State: "ready", Source: "demo", Tracks: []TrackInfo{{Kind: "video", Codec: "H264", Width: 320, Height: 240}}},
		{Name: "lobby", State: "connecting", Source: "rtsp://192.0.2.11/live"},
		{Name: "yard", State: "failed", Source: "rtsp://192.0.2.12/live"},
	}}
	srv := &Server{Address: "127.0.0.1:0", Paths: paths, HLS: dirHLS{dir: media, live: map[string]bool{"live": true}}}
	require.NoError(t, srv.Start())
	defer srv.Close()
	base := "http://" + srv.Addr().String()

	browser, closeBrowser := chromedp.NewContext(allocCtx)
	defer closeBrowser()
	require.NoError(t, chromedp.Do(browser), "start chromium; output:\n%s", browserLog.String())

	shots := t.TempDir()
	for _, tc := range []struct {
		name, path, shot string
		live             bool
	}{
		{name: "mpegts", path: "site/door", shot: "player"},
		{name: "fmp4", path: "fmp4", shot: "player-fmp4"},
		{name: "live", path: "live", shot: "player-live", live: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := openPage(t, browser, base+"/"+tc.path+"/")
			state := func() playerState {
				s, err := chromedp.Run(step, chromedp.Evaluate[playerState](readPlayerState))
				require.NoError(t, err)
				return s
			}
			// Poll in the page until a frame is decoded and time runs.
			t0, err := poll[float64](step, `(() => { const v = document.getElementById('video');
				return v.videoWidth > 0 && v.currentTime > 0.5 ? v.currentTime : false; })()`, 30*time.Second)
			require.NoError(t, err, "video never played: %+v", state())
			_, err = poll[bool](step, fmt.Sprintf(`document.getElementById('video').currentTime > %f`, t0+1), 15*time.Second)
			require.NoError(t, err, "currentTime stopped at %f: %+v", t0, state())
			s := state()
			assert.Equal(t, 320, s.Width)
			assert.Equal(t, "playing", s.Status)
			assert.Empty(t, s.Error)
			if tc.live {
				// Updated once a second by player.js.
				_, err = poll[bool](step, `/^latency \d+\.\d s$/.test(document.getElementById('latency').textContent)`, 5*time.Second)
				require.NoError(t, err, "no latency shown: %+v", state())
			} else {
				assert.Empty(t, s.Latency, "no latency for a VOD playlist")
			}
			title, err := chromedp.Run(step, chromedp.Title())
			require.NoError(t, err)
			assert.Contains(t, title, tc.path)
			saveShot(t, step, shots, tc.shot)
		})
	}

	t.Run("list", func(t *testing.T) {
		step := openPage(t, browser, base+"/")
		n, err := chromedp.Run(step, chromedp.Evaluate[int](`document.querySelectorAll('#paths li').length`))
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		updated, err := chromedp.Run(step, chromedp.Text(chromedp.ID("updated")))
		require.NoError(t, err)
		assert.Contains(t, updated, "updated", "list.js ran")
		saveShot(t, step, shots, "list")

		// The same page on a phone.
		require.NoError(t, chromedp.Do(step, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))))
		saveShot(t, step, shots, "list-phone")
		require.NoError(t, chromedp.Do(step, chromedp.Navigate(base+"/fmp4/")))
		_, err = poll[bool](step, `document.getElementById('video').currentTime > 1`, 30*time.Second)
		require.NoError(t, err)
		saveShot(t, step, shots, "player-phone")
	})
	t.Logf("screenshots in %s", shots)
}

// openPage opens url in a new tab of browser with a desktop viewport and
// returns the tab's context, bounded to a minute; the tab closes with t.
func openPage(t *testing.T, browser context.Context, url string) context.Context {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	step, cancelStep := context.WithTimeout(tab, time.Minute)
	t.Cleanup(cancelStep)
	require.NoError(t, chromedp.Do(step, chromedp.EmulateViewport(1000, 760), chromedp.Navigate(url)))
	return step
}

// poll waits in the page until the JavaScript expression is truthy, checking
// every 100 ms for at most timeout, and returns its value.
func poll[T any](ctx context.Context, expr string, timeout time.Duration) (T, error) {
	return chromedp.Run(ctx, chromedp.Poll[T](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
}

// saveShot writes a PNG of the viewport to dir/web-<name>.png and, when
// WEB_SCREENSHOT_DIR is set, a copy there for a person to look at.
func saveShot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NotEmpty(t, png)
	file := "web-" + name + ".png"
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), png, 0o644))
	if extra := os.Getenv("WEB_SCREENSHOT_DIR"); extra != "" {
		require.NoError(t, os.WriteFile(filepath.Join(extra, file), png, 0o644))
	}
}
