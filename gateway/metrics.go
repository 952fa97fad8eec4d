package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/web"
)

// metrics is the gateway's Prometheus registry: the Go and process
// collectors, the HTTP request counter, and pathCollector, which reads the
// hub on scrape so the media path pays nothing for metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamgate_http_requests_total",
			Help: "HTTP requests answered, by route class (page, media, webrtc, api, other) and status class (2xx, 4xx...).",
		}, []string{"route", "status"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests,
		newPathCollector(g),
	)
	return m
}

// ObserveHTTP counts one answered request (web.Metrics).
func (m *metrics) ObserveHTTP(class string, status int) {
	m.requests.WithLabelValues(class, web.StatusClass(status)).Inc()
}

// handler serves the registry in the Prometheus exposition formats.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// pathCollector reports the paths on every scrape. Its path label takes
// only the configured paths and the live instances of pattern paths, so
// its series are bounded by the config and the hub, never by sessions.
type pathCollector struct {
	g *Gateway

	paths      *prometheus.Desc
	ready      *prometheus.Desc
	readers    *prometheus.Desc
	drops      *prometheus.Desc
	reconnects *prometheus.Desc
	hlsMuxers  *prometheus.Desc

	bytesIn       *prometheus.Desc
	packetsIn     *prometheus.Desc
	keyInterval   *prometheus.Desc
	byProtocol    *prometheus.Desc
	webrtcByState *prometheus.Desc
	packetsLost   *prometheus.Desc
	bytesSent     *prometheus.Desc
	tsBytes       *prometheus.Desc
	tsSeconds     *prometheus.Desc
}

func newPathCollector(g *Gateway) *pathCollector {
	path := []string{"path"}
	return &pathCollector{
		g:          g,
		paths:      prometheus.NewDesc("streamgate_paths", "Paths: the configured ones and the live instances of pattern paths.", nil, nil),
		ready:      prometheus.NewDesc("streamgate_path_ready", "1 while a source feeds the path, else 0.", path, nil),
		readers:    prometheus.NewDesc("streamgate_path_readers", "Readers of the path's stream (RTSP sessions, HLS muxer, WebRTC viewers).", path, nil),
		drops:      prometheus.NewDesc("streamgate_path_reader_drops_total", "Units the readers of the path's current stream lost because they fell behind.", path, nil),
		reconnects: prometheus.NewDesc("streamgate_source_reconnects_total", "Connection attempts of the path's RTSP pull after its first.", path, nil),
		hlsMuxers:  prometheus.NewDesc("streamgate_hls_muxers", "HLS muxers running or starting.", nil, nil),

		bytesIn:     prometheus.NewDesc("streamgate_path_bytes_received_total", "RTP payload bytes the path's current stream received from its sources.", path, nil),
		packetsIn:   prometheus.NewDesc("streamgate_path_packets_received_total", "RTP packets the path's current stream received from its sources.", path, nil),
		keyInterval: prometheus.NewDesc("streamgate_path_keyframe_interval_seconds", "Time between the last two keyframes of the path's video, as received.", path, nil),
		byProtocol: prometheus.NewDesc("streamgate_path_readers_by_protocol",
			"Readers of the path by protocol: RTSP sessions, WebRTC viewers, and 1 for a running HLS muxer.", []string{"path", "protocol"}, nil),
		webrtcByState: prometheus.NewDesc("streamgate_webrtc_sessions",
			"WebRTC sessions (WHEP viewers and WHIP publishers) by peer connection state.", []string{"state"}, nil),
		packetsLost: prometheus.NewDesc("streamgate_path_packets_lost_total",
			"RTP packets the path's source lost on the way in: over every session of an RTSP pull, over the current RTSP publishers of a publisher path.", path, nil),
		bytesSent: prometheus.NewDesc("streamgate_path_bytes_sent_total",
			"Bytes sent to the path's readers by protocol; rtsp sums the current RTSP reader sessions only, so it drops when one leaves; hls (response bodies) and webrtc (RTP packets) keep what past muxers and viewers sent.", []string{"path", "protocol"}, nil),
		tsBytes: prometheus.NewDesc("streamgate_timeshift_bytes",
			"Media bytes the path's timeshift buffer holds.", path, nil),
		tsSeconds: prometheus.NewDesc("streamgate_timeshift_seconds",
			"Seconds of media the path's timeshift buffer holds: how far back an RTSP session can seek.", path, nil),
	}
}

// Describe sends the descriptors of every metric the collector makes.
func (c *pathCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.paths, c.ready, c.readers, c.drops, c.reconnects, c.hlsMuxers,
		c.bytesIn, c.packetsIn, c.keyInterval, c.byProtocol, c.webrtcByState, c.packetsLost, c.bytesSent,
		c.tsBytes, c.tsSeconds} {
		ch <- d
	}
}

// Collect reads the hub, the pulls and the HLS server once per scrape.
func (c *pathCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	if g.hub == nil {
		return
	}
	pcs := g.pathConfigs()
	ch <- prometheus.MustNewConstMetric(c.paths, prometheus.GaugeValue, float64(len(pcs)))
	muxers := 0
	rtsp := g.rtspByPath()
	for _, pc := range pcs {
		ps := g.stateOf(pc)
		ready, readers := 0.0, 0.0
		if ps.state == "ready" {
			ready = 1
		}
		if ps.stream != nil {
			readers = float64(ps.stream.ReaderCount())
			if n, ok := streamDrops(ps.stream); ok {
				ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n), pc.Name)
			}
			pkts, bytes := streamReceived(ps.stream)
			ch <- prometheus.MustNewConstMetric(c.packetsIn, prometheus.CounterValue, float64(pkts), pc.Name)
			ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.CounterValue, float64(bytes), pc.Name)
			if d := ps.stream.KeyframeInterval(); d > 0 {
				ch <- prometheus.MustNewConstMetric(c.keyInterval, prometheus.GaugeValue, d.Seconds(), pc.Name)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready, pc.Name)
		ch <- prometheus.MustNewConstMetric(c.readers, prometheus.GaugeValue, readers, pc.Name)
		if n, ok := sourcePacketsLost(pc, ps, rtsp); ok {
			ch <- prometheus.MustNewConstMetric(c.packetsLost, prometheus.CounterValue, float64(n), pc.Name)
		}
		if g.rtsp != nil {
			ch <- prometheus.MustNewConstMetric(c.bytesSent, prometheus.CounterValue, float64(rtsp[pc.Name].bytesSent), pc.Name, "rtsp")
		}
		if pc.Pulled() {
			ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(ps.pull.Reconnects), pc.Name)
		}
		if b := g.timeshiftBuffer(pc.Name); b != nil {
			start, end := b.Span()
			ch <- prometheus.MustNewConstMetric(c.tsBytes, prometheus.GaugeValue, float64(b.Bytes()), pc.Name)
			ch <- prometheus.MustNewConstMetric(c.tsSeconds, prometheus.GaugeValue, end.Sub(start).Seconds(), pc.Name)
		}
		hlsRunning := 0.0
		if g.hls != nil {
			hs, ok := g.hls.Status(pc.Name)
			if ok {
				muxers++
				if hs.Running {
					hlsRunning = 1
				}
			}
			ch <- prometheus.MustNewConstMetric(c.bytesSent, prometheus.CounterValue, float64(hs.BytesSent), pc.Name, "hls")
		}
		ch <- prometheus.MustNewConstMetric(c.byProtocol, prometheus.GaugeValue, float64(rtsp[pc.Name].readers), pc.Name, "rtsp")
		ch <- prometheus.MustNewConstMetric(c.byProtocol, prometheus.GaugeValue, hlsRunning, pc.Name, "hls")
		if g.rtc != nil {
			ws, _ := g.rtc.Status(pc.Name)
			ch <- prometheus.MustNewConstMetric(c.byProtocol, prometheus.GaugeValue, float64(ws.Viewers), pc.Name, "webrtc")
			ch <- prometheus.MustNewConstMetric(c.bytesSent, prometheus.CounterValue, float64(ws.BytesSent), pc.Name, "webrtc")
		}
	}
	ch <- prometheus.MustNewConstMetric(c.hlsMuxers, prometheus.GaugeValue, float64(muxers))
	if g.rtc != nil {
		// Every state is reported, 0 included, so a series does not vanish
		// when its last session changes state.
		states := map[string]int{}
		for _, st := range webrtcStates {
			states[st] = 0
		}
		for _, se := range g.rtc.Sessions() {
			states[se.State]++
		}
		for st, n := range states {
			ch <- prometheus.MustNewConstMetric(c.webrtcByState, prometheus.GaugeValue, float64(n), st)
		}
	}
}

// webrtcStates are the peer connection states webrtc.SessionInfo names.
var webrtcStates = []string{"new", "connecting", "connected", "disconnected", "failed", "closed"}

// streamReceived sums the packets and payload bytes of the stream's tracks.
func streamReceived(st *hub.Stream) (packets, bytes uint64) {
	for _, t := range st.Tracks {
		p, b := t.Received()
		packets += p
		bytes += b
	}
	return packets, bytes
}
