package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/web"
)

// apiConfig has the demo, an on-demand camera and an always-on camera that
// nobody answers (port 1), both with a password in their URL, and a
// publisher path.
const apiConfig = `paths:
  demo:
    source: demo
  cam:
    source: rtsp://user:secret@127.0.0.1:1/x
    onDemand: true
  dead:
    source: rtsp://user:secret@127.0.0.1:1/y
  site/door:
    source: publisher
`

// apiClient talks HTTP to a started gateway.
type apiClient struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func newAPIClient(t *testing.T, g *e2eGateway) *apiClient {
	t.Helper()
	c := &apiClient{t: t, ctx: e2eCtx(t), base: "http://" + g.HTTPAddr().String()}
	return c
}

// get fetches one URL and returns its status and body; no answer fails the test.
func (c *apiClient) get(path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, c.base+path, nil)
	require.NoError(c.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(b)
}

// getJSON fetches one API URL that must answer 200 with JSON; "secret"
// must never be in it.
func getJSON[T any](c *apiClient, path string) T {
	c.t.Helper()
	status, body := c.get(path)
	require.Equal(c.t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NotContains(c.t, body, "secret", "GET %s leaks a password", path)
	var v T
	require.NoError(c.t, json.Unmarshal([]byte(body), &v), "GET %s: %s", path, body)
	return v
}

// scrape fetches /metrics and parses the text exposition.
func (c *apiClient) scrape() map[string]*dto.MetricFamily {
	c.t.Helper()
	status, body := c.get("/metrics")
	require.Equal(c.t, http.StatusOK, status, body)
	require.NotContains(c.t, body, "secret")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(c.t, err, "exposition:\n%s", body)
	return fams
}

// metricValue is the value of the series of family name whose labels
// include the given name/value pairs; false when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// waitMetric scrapes until cond holds for the series, or fails the test.
func (c *apiClient) waitMetric(what, name string, cond func(v float64, ok bool) bool, labels ...string) {
	c.t.Helper()
	var v float64
	var ok bool
	require.Eventually(c.t, func() bool {
		v, ok = metricValue(c.scrape(), name, labels...)
		return cond(v, ok)
	}, e2eTimeout, 20*time.Millisecond, "%s (last: %v, present %v)", what, v, ok)
}

func findPath(list []web.PathStatus, name string) (web.PathStatus, bool) {
	i := slices.IndexFunc(list, func(p web.PathStatus) bool { return p.Name == name })
	if i < 0 {
		return web.PathStatus{}, false
	}
	return list[i], true
}

func TestMetricsDemoReadyAndReaders(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)

	c.waitMetric("the demo is ready", "streamgate_path_ready", func(v float64, ok bool) bool { return ok && v == 1 }, "path", "demo")
	fams := c.scrape()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		assert.Contains(t, fams, name, "the Go and process collectors are registered")
	}
	paths, ok := metricValue(fams, "streamgate_paths")
	require.True(t, ok)
	assert.Equal(t, 4.0, paths)
	ready, _ := metricValue(fams, "streamgate_path_ready", "path", "cam")
	assert.Equal(t, 0.0, ready, "an on-demand path nobody reads is not ready")
	reconnects, ok := metricValue(fams, "streamgate_source_reconnects_total", "path", "cam")
	require.True(t, ok, "pulled paths report reconnects")
	assert.Equal(t, 0.0, reconnects)
	_, ok = metricValue(fams, "streamgate_source_reconnects_total", "path", "demo")
	assert.False(t, ok, "the demo is no pull")
	muxers, _ := metricValue(fams, "streamgate_hls_muxers")
	assert.Equal(t, 0.0, muxers)
	base, ok := metricValue(fams, "streamgate_path_readers", "path", "demo")
	require.True(t, ok)

	// The hub's counters: bytes and packets grow while the demo runs.
	bytes0, ok := metricValue(fams, "streamgate_path_bytes_received_total", "path", "demo")
	require.True(t, ok, "the demo reports its bytes")
	pkts0, ok := metricValue(fams, "streamgate_path_packets_received_total", "path", "demo")
	require.True(t, ok, "the demo reports its packets")
	c.waitMetric("bytes grow", "streamgate_path_bytes_received_total", func(v float64, _ bool) bool { return v > bytes0 }, "path", "demo")
	c.waitMetric("packets grow", "streamgate_path_packets_received_total", func(v float64, _ bool) bool { return v > pkts0 }, "path", "demo")
	drops, ok := metricValue(fams, "streamgate_path_reader_drops_total", "path", "demo")
	assert.True(t, ok, "drops are reported")
	assert.Zero(t, drops)
	_, ok = metricValue(fams, "streamgate_path_bytes_received_total", "path", "cam")
	assert.False(t, ok, "a path without a stream has no byte counter")
	c.waitMetric("the keyframe interval is known", "streamgate_path_keyframe_interval_seconds", func(v float64, ok bool) bool { return ok && v > 0 && v < 10 }, "path", "demo")
	for _, proto := range []string{"rtsp", "hls", "webrtc"} {
		v, ok := metricValue(fams, "streamgate_path_readers_by_protocol", "path", "demo", "protocol", proto)
		assert.True(t, ok, "readers by protocol %s", proto)
		assert.Zero(t, v, "no %s reader yet", proto)
	}
	lost, ok := metricValue(fams, "streamgate_path_packets_lost_total", "path", "cam")
	assert.True(t, ok && lost == 0, "a pull reports its lost packets: %v %v", lost, ok)
	lost, ok = metricValue(fams, "streamgate_path_packets_lost_total", "path", "site/door")
	assert.True(t, ok && lost == 0, "a publisher path reports its lost packets: %v %v", lost, ok)
	_, ok = metricValue(fams, "streamgate_path_packets_lost_total", "path", "demo")
	assert.False(t, ok, "the demo loses nothing on the way in")
	sent, ok := metricValue(fams, "streamgate_path_bytes_sent_total", "path", "demo", "protocol", "rtsp")
	assert.True(t, ok && sent == 0, "no RTSP reader, nothing sent: %v %v", sent, ok)
	sent, ok = metricValue(fams, "streamgate_path_bytes_sent_total", "path", "demo", "protocol", "hls")
	assert.True(t, ok && sent == 0, "no HLS request, nothing sent: %v %v", sent, ok)
	v, ok := metricValue(fams, "streamgate_webrtc_sessions", "state", "connected")
	assert.True(t, ok && v == 0, "WebRTC sessions by state: %v %v", v, ok)

	r := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	c.waitMetric("an RTSP reader joins", "streamgate_path_readers", func(v float64, _ bool) bool { return v == base+1 }, "path", "demo")
	c.waitMetric("the RTSP reader is counted by protocol", "streamgate_path_readers_by_protocol", func(v float64, _ bool) bool { return v == 1 },
		"path", "demo", "protocol", "rtsp")
	c.waitMetric("bytes are sent to the RTSP reader", "streamgate_path_bytes_sent_total", func(v float64, _ bool) bool { return v > 0 },
		"path", "demo", "protocol", "rtsp")
	r.c.Close()
	c.waitMetric("the RTSP reader leaves", "streamgate_path_readers", func(v float64, _ bool) bool { return v == base }, "path", "demo")

	// A playlist request starts the demo's HLS muxer.
	status, body := c.get("/demo/index.m3u8")
	require.Equal(t, http.StatusOK, status, body)
	c.waitMetric("the HLS muxer is counted", "streamgate_hls_muxers", func(v float64, _ bool) bool { return v == 1 })
	c.waitMetric("the HLS muxer is a reader by protocol", "streamgate_path_readers_by_protocol", func(v float64, _ bool) bool { return v == 1 },
		"path", "demo", "protocol", "hls")
	c.waitMetric("the playlist's bytes are counted", "streamgate_path_bytes_sent_total", func(v float64, _ bool) bool { return v >= float64(len(body)) && v > 0 },
		"path", "demo", "protocol", "hls")
	hlsSent, _ := metricValue(c.scrape(), "streamgate_path_bytes_sent_total", "path", "demo", "protocol", "hls")
	status, body = c.get("/demo/index.m3u8")
	require.Equal(t, http.StatusOK, status, body)
	c.waitMetric("HLS bytes grow with another playlist", "streamgate_path_bytes_sent_total", func(v float64, _ bool) bool { return v >= hlsSent+float64(len(body)) },
		"path", "demo", "protocol", "hls")
	c.waitMetric("scrapes are counted", "streamgate_http_requests_total", func(v float64, ok bool) bool { return ok && v >= 1 }, "route", "other", "status", "2xx")
	v, ok = metricValue(c.scrape(), "streamgate_http_requests_total", "route", "media", "status", "2xx")
	assert.True(t, ok && v >= 1, "media requests are counted: %v", v)
}

func TestAPIPaths(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	c.waitMetric("the demo is ready", "streamgate_path_ready", func(v float64, ok bool) bool { return ok && v == 1 }, "path", "demo")

	list := getJSON[struct{ Items []web.PathStatus }](c, "/api/v1/paths").Items
	names := make([]string, len(list))
	for i, p := range list {
		names[i] = p.Name
	}
	require.Equal(t, []string{"demo", "cam", "dead", "site/door"}, names, "configured paths in file order")

	demo, _ := findPath(list, "demo")
	assert.Equal(t, "ready", demo.State)
	assert.Equal(t, web.SourceStatus{Type: "demo"}, demo.Source)
	require.NotNil(t, demo.BytesReceived, "the demo's stream counts its bytes")
	require.NotNil(t, demo.PacketsReceived)
	assert.Positive(t, *demo.PacketsReceived)
	require.NotNil(t, demo.ReaderDrops, "the hub reports drops")
	assert.NotNil(t, demo.Since, "a ready stream says since when")
	require.NotNil(t, demo.LastPacketAge)
	assert.Less(t, *demo.LastPacketAge, 5.0, "the demo sends all the time")
	assert.Nil(t, demo.PacketsLost, "the demo has no loss counter")
	assert.Nil(t, demo.Bitrate, "no summary yet (a minute by default)")
	assert.Equal(t, web.ReadersByProtocol{}, demo.ReadersByProtocol, "nobody reads the demo yet")
	require.Eventually(t, func() bool {
		d := getJSON[web.PathStatus](c, "/api/v1/paths/demo")
		return d.KeyframeInterval != nil && *d.KeyframeInterval > 0 && *d.BytesReceived > *demo.BytesReceived
	}, e2eTimeout, 20*time.Millisecond, "the keyframe interval is known and bytes grow")
	require.Len(t, demo.Tracks, 2)
	video, audio := demo.Tracks[0], demo.Tracks[1]
	assert.Equal(t, "H264", video.Codec)
	assert.Equal(t, "video", video.Kind)
	assert.Positive(t, video.Width)
	assert.Positive(t, video.Height)
	assert.Equal(t, "AAC", audio.Codec)
	assert.Equal(t, "audio", audio.Kind)
	require.NotNil(t, video.WebRTC, "WebRTC is on")
	assert.True(t, video.WebRTC.Carried)
	require.NotNil(t, audio.WebRTC)
	assert.False(t, audio.WebRTC.Carried)
	assert.NotEmpty(t, audio.WebRTC.Reason, "WebRTC says why AAC is left out")
	assert.Nil(t, video.HLS, "no HLS muxer runs yet")
	require.NotNil(t, demo.WebRTC)

	cam, _ := findPath(list, "cam")
	assert.Equal(t, "idle", cam.State)
	assert.True(t, cam.OnDemand)
	assert.Equal(t, web.SourceStatus{Type: "pull", URL: "rtsp://user:***@127.0.0.1:1/x"}, cam.Source)
	assert.Empty(t, cam.Tracks)
	assert.Nil(t, cam.BytesReceived, "no stream, no counters")
	assert.Nil(t, cam.LastPacketAge)
	require.NotNil(t, cam.PacketsLost, "a pull counts its lost packets")
	assert.Zero(t, *cam.PacketsLost)

	door, _ := findPath(list, "site/door")
	assert.Equal(t, "idle", door.State)
	assert.Equal(t, web.SourceStatus{Type: "publisher"}, door.Source)
	require.NotNil(t, door.PacketsLost, "a publisher path counts its publishers' lost packets")
	assert.Zero(t, *door.PacketsLost)

	// The always-on camera fails, says why and when it tries again.
	require.Eventually(t, func() bool {
		return getJSON[web.PathStatus](c, "/api/v1/paths/dead").State == "failed"
	}, e2eTimeout, 20*time.Millisecond, "the dead camera fails")
	dead := getJSON[web.PathStatus](c, "/api/v1/paths/dead")
	assert.NotEmpty(t, dead.LastError)
	assert.NotNil(t, dead.NextRetry)
	assert.NotNil(t, dead.Since)
	assert.Equal(t, "rtsp://user:***@127.0.0.1:1/y", dead.Source.URL)

	// A name with '/' and a playing HLS muxer.
	one := getJSON[web.PathStatus](c, "/api/v1/paths/site/door")
	assert.Equal(t, "site/door", one.Name)
	status, body := c.get("/demo/index.m3u8")
	require.Equal(t, http.StatusOK, status, body)
	demo = getJSON[web.PathStatus](c, "/api/v1/paths/demo")
	require.NotNil(t, demo.HLS, "the muxer shows")
	assert.True(t, demo.HLS.Running)
	assert.Equal(t, 1, demo.ReadersByProtocol.HLS, "the running muxer is an HLS reader")
	assert.NotZero(t, demo.BytesSent.HLS, "the playlist's bytes are counted")
	r := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	require.Eventually(t, func() bool {
		return getJSON[web.PathStatus](c, "/api/v1/paths/demo").ReadersByProtocol.RTSP == 1
	}, e2eTimeout, 20*time.Millisecond, "the RTSP reader is counted by protocol")
	r.c.Close()
	for _, tr := range demo.Tracks {
		require.NotNil(t, tr.HLS, "track %d: HLS decided", tr.Index)
		assert.True(t, tr.HLS.Carried, "track %d (%s) is in HLS", tr.Index, tr.Codec)
	}

	// Errors are JSON and never leak either.
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/v1/paths/nope", http.StatusNotFound},
		{"/api/v1/paths/a%20b", http.StatusBadRequest},
		{"/api/v1/nope", http.StatusNotFound},
	} {
		status, body := c.get(tc.path)
		assert.Equal(t, tc.status, status, "GET %s", tc.path)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), "GET %s: %s", tc.path, body)
		assert.NotEmpty(t, e.Error)
		assert.NotContains(t, body, "secret")
	}
}
