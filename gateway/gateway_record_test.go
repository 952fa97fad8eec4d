package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// recordedDemo records the demo into dir in 2 s segments of 500 ms parts.
func recordedDemo(dir, segment string) string {
	return fmt.Sprintf(`recordings:
  directory: %q
paths:
  demo:
    source: demo
    record: true
    recordSegmentDuration: %s
    recordPartDuration: 500ms
`, dir, segment)
}

// waitRecorded waits until path's recordings span at least d and returns
// the first span.
func waitRecorded(t *testing.T, base, path string, d time.Duration) (start, end time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/api/v1/recordings/" + path)
		require.NoError(t, err)
		var body struct {
			Items []struct{ Start, End time.Time }
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err == nil && len(body.Items) > 0 && body.Items[0].End.Sub(body.Items[0].Start) >= d {
			return body.Items[0].Start, body.Items[0].End
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %v recorded in time (status %d)", path, d, res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLogCount waits until the log has n lines containing s.
func waitLogCount(t *testing.T, g *e2eGateway, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(g.log.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines with %q, want %d", strings.Count(g.log.String(), s), s, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRecordingPlaysInBrowser records the demo, opens its player page in
// headless Chromium and plays the listed recording from the Recordings
// section: hls.js loads it as a VOD playlist, decodes and plays it.
func TestRecordingPlaysInBrowser(t *testing.T) {
	needTool(t, "chromium")
	g := startGateway(t, recordedDemo(t.TempDir(), "2s"))
	base := "http://" + g.HTTPAddr().String()
	waitRecorded(t, base, "demo", 4*time.Second)

	tab, closeTab := chromedp.NewContext(rtcBrowser(t))
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/demo/?mode=hls")))
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const b = document.querySelector('#recording-list button');
		if (!b || document.getElementById('recordings').hidden) return false;
		b.click();
		return true; })()`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "the Recordings section never listed a span")
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const v = document.getElementById('recording-video');
		return v.videoWidth > 0 && v.currentTime > 2.5; })()`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the recording never played 2.5 s (into its second segment file)")
	vod, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const h = window.streamgateRecordings.hls;
		const d = h && h.levels[0] && h.levels[0].details; return d ? d.type + ' live=' + d.live : 'none'; })()`))
	require.NoError(t, err)
	assert.Equal(t, "VOD live=false", vod)
}

// TestRecordingReload: a reload that changes a recording key restarts the
// path's recorder; one that turns record off stops it, and the recordings
// stay listed.
func TestRecordingReload(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, recordedDemo(dir, "2s"))
	base := "http://" + g.HTTPAddr().String()
	waitLogCount(t, g, `msg="recording on"`, 1)
	waitRecorded(t, base, "demo", time.Second)

	reload := func(extra string) {
		t.Helper()
		conf, err := gateway.ParseConfig("test.yml", []byte("log: {level: debug}\nhttp: {address: \"127.0.0.1:0\"}\n"+extra), nil)
		require.NoError(t, err)
		// Listener keys are kept as they run; only the paths matter here.
		conf.HTTP, conf.RTSP, conf.WebRTC = g.Config.HTTP, g.Config.RTSP, g.Config.WebRTC
		require.NoError(t, g.Reload(conf))
	}
	reload(recordedDemo(dir, "3s"))
	waitLogCount(t, g, `msg="recording off"`, 1)
	waitLogCount(t, g, `msg="recording on"`, 2)
	assert.True(t, g.log.has(`msg="recording on"`, "segment=3s"), "the new recorder has the new setting")

	reload(fmt.Sprintf("recordings:\n  directory: %q\npaths:\n  demo:\n    source: demo\n", dir))
	waitLogCount(t, g, `msg="recording off"`, 2)
	res, err := http.Get(base + "/api/v1/recordings/demo")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "recordings stay listed when recording stops")
}
