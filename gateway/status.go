package gateway

import (
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/ingest"
	"github.com/streamgate/streamgate/web"
	"github.com/streamgate/streamgate/webrtc"
)

// pulls remembers the RTSP pull of each path, so pages can show its state.
type pulls struct {
	mu sync.Mutex
	m  map[string]*ingest.Pull
}

func (ps *pulls) set(name string, p *ingest.Pull) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = make(map[string]*ingest.Pull)
	}
	ps.m[name] = p
}

func (ps *pulls) get(name string) *ingest.Pull {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[name]
}

// Paths lists the configured paths (in file order) and the live instances
// of pattern paths, for the web pages.
func (g *Gateway) Paths() []web.PathInfo {
	seen := map[string]bool{}
	var out []web.PathInfo
	for _, name := range g.Config.PathOrder {
		pc := g.Config.Paths[name]
		if pc == nil || pc.Pattern {
			continue
		}
		seen[name] = true
		out = append(out, g.pathInfo(pc))
	}
	for _, name := range g.hub.PathNames() {
		if seen[name] {
			continue
		}
		if pc, ok := g.Config.MatchPath(name); ok {
			out = append(out, g.pathInfo(pc))
		}
	}
	return out
}

// Path describes one path by its exact name; pattern instances exist only while in use.
func (g *Gateway) Path(name string) (web.PathInfo, bool) {
	pc, ok := g.Config.MatchPath(name)
	if !ok {
		return web.PathInfo{}, false
	}
	return g.pathInfo(pc), true
}

func (g *Gateway) pathInfo(pc *PathConfig) web.PathInfo {
	info := web.PathInfo{Name: pc.Name, Source: redactURL(pc.Source), State: "idle"}
	var st *hub.Stream
	if p := g.hub.Lookup(pc.Name); p != nil {
		st = p.Stream()
	}
	switch {
	case st != nil && st.Online():
		info.State = "ready"
	case st != nil:
		info.State = "waiting"
	case pc.Pulled():
		if pull := g.pulls.get(pc.Name); pull != nil {
			switch pull.Status().State {
			case ingest.StateConnecting:
				info.State = "connecting"
			case ingest.StateWaiting:
				info.State = "failed"
			}
		}
	}
	if st != nil {
		info.Readers = st.ReaderCount()
		for _, t := range st.Tracks {
			info.Tracks = append(info.Tracks, trackInfo(t))
		}
	}
	if g.hls != nil {
		if hs, ok := g.hls.Status(pc.Name); ok && len(hs.LeftOut) > 0 {
			notes := make([]string, len(hs.LeftOut))
			for i, t := range hs.LeftOut {
				notes[i] = codecReason(t.Codec, t.Reason)
			}
			info.HLSNotice = "Not in HLS: " + strings.Join(notes, "; ") + "."
		}
	}
	if g.rtc != nil && st != nil {
		var notes []string
		for _, t := range webrtc.Unplayable(st.Tracks) {
			notes = append(notes, codecReason(t.Codec, t.Reason))
		}
		if ws, ok := g.rtc.Status(pc.Name); ok {
			notes = append(notes, ws.Warnings...)
		}
		if len(notes) > 0 {
			info.WebRTCNotice = "WebRTC: " + strings.Join(notes, "; ") + "."
		}
	}
	return info
}

func trackInfo(t *hub.Track) web.TrackInfo {
	ti := web.TrackInfo{Kind: "audio", Codec: t.CodecName()}
	if t.IsVideo() {
		ti.Kind = "video"
	}
	switch f := t.Format.(type) {
	case *format.H264:
		if sps, _ := f.SafeParams(); len(sps) > 0 {
			var s h264.SPS
			if s.Unmarshal(sps) == nil {
				ti.Width, ti.Height = s.Width(), s.Height()
			}
		}
	case *format.H265:
		if _, sps, _ := f.SafeParams(); len(sps) > 0 {
			var s h265.SPS
			if s.Unmarshal(sps) == nil {
				ti.Width, ti.Height = s.Width(), s.Height()
			}
		}
	}
	return ti
}

// codecReason says why a track of codec is left out, naming the codec once.
func codecReason(codec, reason string) string {
	if strings.Contains(reason, codec) {
		return reason
	}
	return codec + ": " + reason
}
