package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/ice/v4"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// rtcTimeout bounds a WebRTC test as a whole; single waits use e2eTimeout.
const rtcTimeout = 50 * time.Second

// rtcCtx is a context that ends with the test or after rtcTimeout.
func rtcCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rtcTimeout)
	t.Cleanup(cancel)
	return ctx
}

// rtcWaitLog waits until one line of the gateway's log contains every one
// of parts. The log has no notification, so it is read every 20 ms.
func rtcWaitLog(t *testing.T, ctx context.Context, g *e2eGateway, parts ...string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !g.log.has(parts...) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for a log line with %q", parts)
		}
	}
}

// startGatewayNoWebRTC is startGateway with the webrtc section turned off
// (address ""), as a deployment that does not offer WebRTC.
func startGatewayNoWebRTC(t *testing.T, extra string) *e2eGateway {
	t.Helper()
	logs := &e2eLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	for range 5 {
		var conf *gateway.Config
		conf, err = gateway.ParseConfig("test.yml", []byte(e2eConfigYAML(e2eFreeUDPPair(t), extra)), nil)
		require.NoError(t, err)
		conf.WebRTC.Address = ""
		require.NoError(t, conf.Validate())
		g := &gateway.Gateway{Config: conf, Logger: logger}
		if err = g.Start(); err != nil {
			continue
		}
		t.Cleanup(g.Close)
		require.Nil(t, g.WebRTCAddr(), "WebRTC must be off")
		return &e2eGateway{Gateway: g, log: logs, host: g.RTSPAddr().String()}
	}
	t.Fatalf("start gateway: %v", err)
	return nil
}

// rtcFFmpegPublish has ffmpeg publish a live test pattern (640x360, 25 fps,
// a 2 s GOP) and a 440 Hz tone to path over RTSP/TCP; audio is the ffmpeg
// audio codec arguments ("-c:a", "libopus"). It returns when the gateway
// records the stream; ffmpeg is killed and waited for when the test ends.
func rtcFFmpegPublish(t *testing.T, ctx context.Context, g *e2eGateway, path string, audio ...string) {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	runCtx, cancel := context.WithCancel(context.Background())
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "50"}
	args = append(args, audio...)
	args = append(args, "-f", "rtsp", "-rtsp_transport", "tcp", g.url(path))
	cmd := exec.CommandContext(runCtx, ffmpeg, args...)
	stderr := &e2eLog{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait() // killed on purpose
		if t.Failed() {
			t.Logf("ffmpeg publishing %s:\n%s", path, stderr.String())
		}
	})
	rtcWaitLog(t, ctx, g, "publisher recording", "path="+path)
}

// rtcBrowser starts headless Chromium for WebRTC on loopback: loopback
// candidates allowed, and raw IPs instead of mDNS names in its candidates,
// so that nothing needs resolving and no mDNS packet is sent. It returns
// the browser's context; the browser is stopped and waited for when the
// test ends.
func rtcBrowser(t *testing.T) context.Context {
	t.Helper()
	chromium := needTool(t, "chromium")
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
			chromedp.Flag("allow-loopback-in-peer-connection", true),
			// Keeps the defaults' list, adds the WebRTC mDNS hiding and the
			// media router (cast discovery), both of which would multicast.
			chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns,MediaRouter"),
			chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		)...)
	watchdog := time.AfterFunc(rtcTimeout, cancelAlloc)
	browser, closeBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		watchdog.Stop()
		closeBrowser()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(browser), "start chromium")
	return browser
}

// rtcInbound is one inbound-rtp entry of RTCPeerConnection.getStats().
type rtcInbound struct {
	FramesDecoded   int    `json:"framesDecoded"`
	PacketsReceived int    `json:"packetsReceived"`
	FrameWidth      int    `json:"frameWidth"`
	Codec           string `json:"codec"`
}

// rtcStats is a sample of the player's connection: the inbound video and
// audio (nil when not received) at performance.now() time TS (ms).
type rtcStats struct {
	TS    float64     `json:"ts"`
	Video *rtcInbound `json:"video"`
	Audio *rtcInbound `json:"audio"`
}

// rtcStatsJS samples window.streamgateWebRTC.pc.getStats() (a Promise).
const rtcStatsJS = `(async () => {
	const rtc = window.streamgateWebRTC;
	const out = {ts: performance.now(), video: null, audio: null};
	if (!rtc || !rtc.pc) return out;
	const report = await rtc.pc.getStats();
	const codecs = {};
	report.forEach(s => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
	report.forEach(s => {
		if (s.type !== 'inbound-rtp') return;
		out[s.kind] = {framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0,
			frameWidth: s.frameWidth || 0, codec: codecs[s.codecId] || ''};
	});
	return out;
})()`

// rtcSample evaluates rtcStatsJS in the tab, awaiting its Promise.
func rtcSample(t *testing.T, tab context.Context) rtcStats {
	t.Helper()
	st, err := chromedp.Run(tab, chromedp.Evaluate[rtcStats](rtcStatsJS, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "getStats")
	return st
}

// rtcSampleAfter waits until the tab's clock is at least 1 s past prev and
// samples the stats again.
func rtcSampleAfter(t *testing.T, tab context.Context, prev rtcStats) rtcStats {
	t.Helper()
	_, err := chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(`performance.now() >= %f`, prev.TS+1000),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err)
	return rtcSample(t, tab)
}

// rtcPlayer is what the player page reports once WebRTC shows a frame.
type rtcPlayer struct {
	Posted     float64 `json:"posted"`
	FirstFrame float64 `json:"firstFrame"`
	Width      int     `json:"width"`
	Mode       string  `json:"mode"`
}

// ttff is the time from the WHEP POST to the first frame shown.
func (p rtcPlayer) ttff() time.Duration {
	return time.Duration((p.FirstFrame - p.Posted) * float64(time.Millisecond))
}

// rtcOpen opens url in a new tab of browser and waits until the WebRTC
// player shows its first frame; the tab closes when the test ends.
func rtcOpen(t *testing.T, ctx, browser context.Context, url string) (context.Context, rtcPlayer) {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	// A deadline on a tab's context only limits its actions once it runs.
	require.NoError(t, chromedp.Do(tab))
	deadline, _ := ctx.Deadline()
	tab, cancel := context.WithDeadline(tab, deadline)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(url)))
	p, err := chromedp.Run(tab, chromedp.Poll[rtcPlayer](`(() => {
		const rtc = window.streamgateWebRTC, v = document.getElementById('video');
		if (!rtc || !isFinite(rtc.firstFrame) || !(v.videoWidth > 0)) return false;
		return {posted: rtc.posted, firstFrame: rtc.firstFrame, width: v.videoWidth,
			mode: document.getElementById('mode').textContent};
	})()`, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(e2eTimeout)))
	if err != nil {
		status, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
		t.Fatalf("no WebRTC frame on %s (status %q): %v", url, status, err)
	}
	// The offer carries raw loopback/host addresses, no mDNS names that the
	// gateway would have to resolve by multicast.
	mdns, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.streamgateWebRTC.pc.localDescription.sdp.includes('.local')`))
	require.NoError(t, err)
	require.False(t, mdns, "the browser's offer has mDNS candidates")
	return tab, p
}

// percentile is the q-quantile (0..1) of ds by the nearest-rank method.
func percentile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// rtcPionAPI is a pion API like a browser's on loopback: default codecs
// and interceptors, UDP4 loopback candidates only, no mDNS.
func rtcPionAPI(t *testing.T) *pwebrtc.API {
	t.Helper()
	me := &pwebrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	se := pwebrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	return pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me), pwebrtc.WithSettingEngine(se))
}

// rtcOffer sets pc's offer and returns it once ICE gathering is complete.
func rtcOffer(t *testing.T, ctx context.Context, pc *pwebrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	gathered := pwebrtc.GatheringCompletePromise(pc)
	require.NoError(t, pc.SetLocalDescription(offer))
	waitChan(t, ctx, gathered, "ICE gathering")
	return pc.LocalDescription().SDP
}

// rtcResponse is an HTTP response with its body read.
type rtcResponse struct {
	code   int
	header http.Header
	body   string
}

// rtcRequest runs one HTTP request on loopback.
func rtcRequest(t *testing.T, ctx context.Context, method, url, contentType string, body io.Reader) rtcResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	req.Close = true // no idle keep-alive connection outlives the test
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rtcResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// rtcRun runs a program under ctx; it returns stdout and stderr.
func rtcRun(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	return o.String(), e.String(), err
}

// rtcCounter counts events and wakes up whoever waits for a new count.
type rtcCounter struct {
	mu     sync.Mutex
	n      int64
	notify chan struct{}
}

func newRTCCounter() *rtcCounter { return &rtcCounter{notify: make(chan struct{}, 1)} }

func (c *rtcCounter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *rtcCounter) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitAbove waits until the count is above n and returns it.
func (c *rtcCounter) waitAbove(t *testing.T, ctx context.Context, n int64, what string) int64 {
	t.Helper()
	for {
		if v := c.load(); v > n {
			return v
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (still %d)", what, c.load())
		}
	}
}

// joinLines lists the lines of s that are not blank.
func joinLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
