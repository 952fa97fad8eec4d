package gateway

import (
	"sync"
	"time"

	"github.com/streamgate/streamgate/ingest"
	"github.com/streamgate/streamgate/web"
	"github.com/streamgate/streamgate/webrtc"
)

// Source types of the API.
const (
	sourceTypePull      = "pull"
	sourceTypePublisher = "publisher"
	sourceTypeDemo      = "demo"
)

// httpRoutes is what the gateway adds to the front door (web.Server.Extra):
// the REST API, /metrics and the HTTP request counter.
func (g *Gateway) httpRoutes() web.APIRoutes {
	m := newMetrics(g)
	return web.APIRoutes{API: apiView{g: g, edit: &sync.Mutex{}}, Metrics: m, MetricsHandler: m.handler(), Auth: g.auth, Recordings: g.rec, Pprof: g.Config.HTTP.Pprof}
}

// apiView answers the REST API from the hub, the pulls and the outputs.
type apiView struct {
	g *Gateway
	// edit serialises the API's config edits (api_paths.go).
	edit *sync.Mutex
}

// Paths lists the configured paths and the live instances of pattern paths.
func (a apiView) Paths() []web.PathStatus {
	pcs := a.g.pathConfigs()
	out := make([]web.PathStatus, 0, len(pcs))
	rtsp := a.g.rtspByPath()
	for _, pc := range pcs {
		out = append(out, a.g.pathStatus(pc, rtsp))
	}
	return out
}

// Path describes one path by its exact name.
func (a apiView) Path(name string) (web.PathStatus, bool) {
	pc, ok := a.g.conf().MatchPath(name)
	if !ok {
		return web.PathStatus{}, false
	}
	return a.g.pathStatus(pc, a.g.rtspByPath()), true
}

// pathStatus describes one path for the API; rtsp is g.rtspByPath().
func (g *Gateway) pathStatus(pc *PathConfig, rtsp map[string]rtspPathStats) web.PathStatus {
	ps := g.stateOf(pc)
	out := web.PathStatus{
		Name:     pc.Name,
		State:    ps.state,
		OnDemand: pc.OnDemand,
		Source:   sourceStatus(pc, ps.pull),
		Tracks:   []web.TrackStatus{},
	}
	if ps.pull.State != "" && ps.pull.State != ingest.StateStopped {
		out.Since = timePtr(ps.pull.Since)
	}
	if ps.state == "failed" {
		out.LastError = ps.pull.LastError
		out.NextRetry = timePtr(ps.pull.NextRetry)
	}
	if n, ok := sourcePacketsLost(pc, ps, rtsp); ok {
		out.PacketsLost = &n
	}
	out.ReadersByProtocol.RTSP = rtsp[pc.Name].readers
	out.BytesSent.RTSP = rtsp[pc.Name].bytesSent
	st := ps.stream
	if st != nil {
		out.Readers = st.ReaderCount()
		if n, ok := streamDrops(st); ok {
			out.ReaderDrops = &n
		}
		pkts, bytes := streamReceived(st)
		out.PacketsReceived, out.BytesReceived = &pkts, &bytes
		if bps, ok := g.rates.get(pc.Name, st); ok {
			out.Bitrate = &bps
		}
		if d := st.KeyframeInterval(); d > 0 {
			sec := d.Seconds()
			out.KeyframeInterval = &sec
		}
		if t := st.LastPacket(); !t.IsZero() {
			age := max(time.Since(t), 0).Seconds()
			out.LastPacketAge = &age
		}
		if out.Since == nil {
			if t, ok := streamSince(st); ok {
				out.Since = timePtr(t)
			}
		}
	}

	var hlsTracks map[int]web.TrackOutput
	if g.hls != nil {
		hs, ok := g.hls.Status(pc.Name)
		out.BytesSent.HLS = hs.BytesSent
		if ok {
			out.HLS = &web.HLSStatus{Running: hs.Running, Variant: hs.Variant, AlwaysOn: hs.AlwaysOn}
			if hs.Running {
				out.ReadersByProtocol.HLS = 1
				hlsTracks = map[int]web.TrackOutput{}
				for _, t := range hs.Tracks {
					hlsTracks[t.Index] = web.TrackOutput{Carried: true}
				}
				for _, t := range hs.LeftOut {
					hlsTracks[t.Index] = web.TrackOutput{Reason: t.Reason}
				}
			}
		}
	}
	var rtcLeftOut map[int]string
	if g.rtc != nil {
		ws, _ := g.rtc.Status(pc.Name)
		out.WebRTC = &web.WebRTCStatus{Viewers: ws.Viewers, Publishers: ws.Publishers, Warnings: ws.Warnings}
		out.ReadersByProtocol.WebRTC = ws.Viewers
		out.BytesSent.WebRTC = ws.BytesSent
		if ws.Publishers > 0 {
			out.Source.Publisher = "whip"
		}
		if st != nil {
			rtcLeftOut = map[int]string{}
			for _, t := range webrtc.Unplayable(st.Tracks) {
				rtcLeftOut[t.Index] = t.Reason
			}
		}
	}
	if b := g.timeshiftBuffer(pc.Name); b != nil {
		ts := &web.TimeshiftStatus{Window: b.Window.Seconds(), Bytes: b.Bytes()}
		if start, end := b.Span(); !start.IsZero() {
			ts.Start, ts.End = timePtr(start), timePtr(end)
		}
		out.Timeshift = ts
	}
	if pc.Source == SourcePublisher && st != nil && out.Source.Publisher == "" {
		out.Source.Publisher = "rtsp"
	}
	if st == nil {
		return out
	}
	for _, t := range st.Tracks {
		ts := web.TrackStatus{Index: t.Index, Kind: trackKind(t), Codec: t.CodecName()}
		ts.Width, ts.Height, ts.FPS = videoParams(t)
		if o, ok := hlsTracks[t.Index]; ok {
			ts.HLS = &o
		}
		if rtcLeftOut != nil {
			reason, left := rtcLeftOut[t.Index]
			ts.WebRTC = &web.TrackOutput{Carried: !left, Reason: reason}
		}
		out.Tracks = append(out.Tracks, ts)
	}
	return out
}

// sourceStatus describes the source of a path; the URL's password is masked.
func sourceStatus(pc *PathConfig, pull ingest.Status) web.SourceStatus {
	switch {
	case pc.Pulled():
		return web.SourceStatus{Type: sourceTypePull, URL: redactURL(pc.Source), Reconnects: pull.Reconnects}
	case pc.Source == SourceDemo:
		return web.SourceStatus{Type: sourceTypeDemo}
	}
	return web.SourceStatus{Type: sourceTypePublisher}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// readerDropper is the per-stream drop total the hub is to offer (see
// streamDrops).
type readerDropper interface {
	// ReaderDrops counts the units every reader of the stream lost, those
	// that left included, so it never goes down.
	ReaderDrops() uint64
}

// streamDrops reads the stream's drop total (hub.Stream.ReaderDrops); a
// stream without it leaves drops out of the API and the metrics rather than
// show a sum that goes down when readers leave.
func streamDrops(st any) (uint64, bool) {
	if d, ok := st.(readerDropper); ok {
		return d.ReaderDrops(), true
	}
	return 0, false
}

// onlineSincer is when the stream last came online, as the hub is to offer it.
type onlineSincer interface {
	OnlineSince() time.Time
}

// streamSince reads when the stream last came online (hub.Stream.OnlineSince,
// zero while offline); pulled paths take it from the pull.
func streamSince(st any) (time.Time, bool) {
	if s, ok := st.(onlineSincer); ok {
		return s.OnlineSince(), true
	}
	return time.Time{}, false
}
