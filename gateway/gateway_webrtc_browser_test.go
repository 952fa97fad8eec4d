package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rtcPublisherPaths are two paths that ffmpeg publishes into.
const rtcPublisherPaths = `paths:
  opus:
    source: publisher
  pcmu:
    source: publisher
`

// TestWebRTCBrowserPlayback has headless Chromium play, over WebRTC only
// (?mode=webrtc), streams that ffmpeg publishes over RTSP: H.264 with Opus
// and H.264 with PCMU. The browser's own statistics must show video being
// decoded at 640 wide and audio packets arriving. Then it measures the time
// from the WHEP POST to the first frame shown over a few page loads: the
// stream has a 2 s GOP, so a viewer that waited for the next keyframe would
// take up to 2 s, while one started from the cached GOP takes far less.
func TestWebRTCBrowserPlayback(t *testing.T) {
	needTool(t, "chromium")
	needTool(t, "ffmpeg")
	ctx := rtcCtx(t)
	g := startGateway(t, rtcPublisherPaths)
	rtcFFmpegPublish(t, ctx, g, "opus", "-c:a", "libopus")
	rtcFFmpegPublish(t, ctx, g, "pcmu", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1")
	browser := rtcBrowser(t)
	base := "http://" + g.HTTPAddr().String()

	for _, tc := range []struct {
		path, audio string
	}{
		{"opus", "audio/opus"},
		{"pcmu", "audio/PCMU"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			tab, p := rtcOpen(t, ctx, browser, base+"/"+tc.path+"/?mode=webrtc")
			assert.Equal(t, "WebRTC", p.Mode)
			assert.Equal(t, 640, p.Width, "videoWidth")

			s1 := rtcSample(t, tab)
			s2 := rtcSampleAfter(t, tab, s1)
			require.NotNil(t, s1.Video, "no inbound video")
			require.NotNil(t, s2.Video, "no inbound video")
			elapsed := (s2.TS - s1.TS) / 1000
			fps := float64(s2.Video.FramesDecoded-s1.Video.FramesDecoded) / elapsed
			t.Logf("%s: video %s %d px wide, %.1f frames decoded/s over %.2f s (source 25 fps); time to first frame %v",
				tc.path, s2.Video.Codec, s2.Video.FrameWidth, fps, elapsed, p.ttff().Round(time.Millisecond))
			assert.Greater(t, s2.Video.FramesDecoded, s1.Video.FramesDecoded, "framesDecoded must increase")
			assert.GreaterOrEqual(t, fps, 10.0, "frames decoded per second")
			assert.Equal(t, 640, s2.Video.FrameWidth, "frameWidth")

			require.NotNil(t, s2.Audio, "no inbound audio: the browser did not negotiate %s", tc.audio)
			require.NotNil(t, s1.Audio)
			assert.True(t, strings.EqualFold(tc.audio, s2.Audio.Codec), "audio codec %q, want %s", s2.Audio.Codec, tc.audio)
			t.Logf("%s: audio %s, %.1f packets/s", tc.path, s2.Audio.Codec,
				float64(s2.Audio.PacketsReceived-s1.Audio.PacketsReceived)/elapsed)
			assert.Greater(t, s2.Audio.PacketsReceived, s1.Audio.PacketsReceived, "audio packetsReceived must increase")
		})
	}

	t.Run("time to first frame", func(t *testing.T) {
		const loads = 5
		var ttffs []time.Duration
		for i := range loads {
			t.Run(fmt.Sprintf("load %d", i+1), func(t *testing.T) {
				_, p := rtcOpen(t, ctx, browser, base+"/opus/?mode=webrtc")
				require.Positive(t, p.FirstFrame-p.Posted, "the first frame came before the POST")
				ttffs = append(ttffs, p.ttff().Round(100*time.Microsecond))
			})
		}
		require.Len(t, ttffs, loads)
		p50, worst := percentile(ttffs, 0.5), percentile(ttffs, 1)
		t.Logf("time to first frame (WHEP POST → first frame shown), %d page loads, 2 s GOP: p50 %v, max %v, all %v",
			loads, p50, worst, ttffs)
		// Waiting for the next keyframe would average 1 s and reach 2 s.
		assert.Less(t, p50, time.Second, "viewers must start from the cached GOP")
	})
}

// TestWebRTCPlayerFallsBackToHLS opens the demo's player page without
// ?mode on a gateway with WebRTC off: the WHEP POST gets 404 and the page
// must switch to HLS by itself and play.
func TestWebRTCPlayerFallsBackToHLS(t *testing.T) {
	needTool(t, "chromium")
	ctx := rtcCtx(t)
	g := startGatewayNoWebRTC(t, "")
	base := "http://" + g.HTTPAddr().String()
	resp := rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader("v=0\r\n"))
	require.Equal(t, http.StatusNotFound, resp.code, "WHEP with WebRTC off: %s", resp.body)

	browser := rtcBrowser(t)
	tab, closeTab := chromedp.NewContext(browser)
	defer closeTab()
	require.NoError(t, chromedp.Do(tab))
	deadline, _ := ctx.Deadline()
	tab, cancel := context.WithDeadline(tab, deadline)
	defer cancel()
	start := time.Now()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/demo/")))
	t0, err := chromedp.Run(tab, chromedp.Poll[float64](`(() => {
		const v = document.getElementById('video'), rtc = window.streamgateWebRTC;
		const triedWebRTC = !!rtc && rtc.pc.signalingState === 'closed';
		const hls = document.getElementById('mode').textContent === 'HLS';
		return triedWebRTC && hls && v.videoWidth > 0 && v.currentTime > 0 ? v.currentTime : false;
	})()`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		status, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
		t.Fatalf("the page did not fall back to HLS and play (status %q): %v", status, err)
	}
	t.Logf("playing over HLS %v after opening the page", time.Since(start).Round(time.Millisecond))
	_, err = chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById('video').currentTime > %f`, t0+1),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "currentTime stopped at %f", t0)
	srcObject, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById('video').srcObject !== null`))
	require.NoError(t, err)
	assert.False(t, srcObject, "the video still plays a WebRTC MediaStream")
}
