package gateway

import (
	"math"
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
	pcs := g.pathConfigs()
	out := make([]web.PathInfo, 0, len(pcs))
	for _, pc := range pcs {
		out = append(out, g.pathInfo(pc))
	}
	return out
}

// pathConfigs lists the configured paths (in file order), then the live
// instances of pattern paths: the paths pages, API and metrics show. The
// list is bounded by the config and by what the hub holds right now.
func (g *Gateway) pathConfigs() []*PathConfig {
	seen := map[string]bool{}
	var out []*PathConfig
	conf := g.conf()
	for _, name := range conf.PathOrder {
		pc := conf.Paths[name]
		if pc == nil || pc.Pattern {
			continue
		}
		seen[name] = true
		out = append(out, pc)
	}
	for _, name := range g.hub.PathNames() {
		if seen[name] {
			continue
		}
		if pc, ok := conf.MatchPath(name); ok {
			out = append(out, pc)
		}
	}
	return out
}

// Path describes one path by its exact name; pattern instances exist only while in use.
func (g *Gateway) Path(name string) (web.PathInfo, bool) {
	pc, ok := g.conf().MatchPath(name)
	if !ok {
		return web.PathInfo{}, false
	}
	return g.pathInfo(pc), true
}

// pathState is what pages, API and metrics all need of a path right now.
type pathState struct {
	state  string        // ready | waiting | connecting | failed | idle
	stream *hub.Stream   // the current stream, nil when none
	pull   ingest.Status // the pull's status; State is "" when the path is not pulled or its pull never ran
}

// stateOf reads the state of the path pc describes.
func (g *Gateway) stateOf(pc *PathConfig) pathState {
	ps := pathState{state: "idle"}
	if p := g.hub.Lookup(pc.Name); p != nil {
		ps.stream = p.Stream()
	}
	if pc.Pulled() {
		if pull := g.pulls.get(pc.Name); pull != nil {
			ps.pull = pull.Status()
		}
	}
	switch {
	case ps.stream != nil && ps.stream.Online():
		ps.state = "ready"
	case ps.stream != nil:
		ps.state = "waiting"
	case ps.pull.State == ingest.StateConnecting:
		ps.state = "connecting"
	case ps.pull.State == ingest.StateWaiting:
		ps.state = "failed"
	}
	return ps
}

func (g *Gateway) pathInfo(pc *PathConfig) web.PathInfo {
	info := web.PathInfo{Name: pc.Name, Source: redactURL(pc.Source)}
	ps := g.stateOf(pc)
	info.State = ps.state
	st := ps.stream
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
	ti := web.TrackInfo{Kind: trackKind(t), Codec: t.CodecName()}
	ti.Width, ti.Height, _ = videoParams(t)
	return ti
}

// trackKind is "video" or "audio".
func trackKind(t *hub.Track) string {
	if t.IsVideo() {
		return "video"
	}
	return "audio"
}

// videoParams reads the picture size and the declared frame rate from the
// parameter sets of an H.264 or H.265 track; zeros when unknown.
func videoParams(t *hub.Track) (width, height int, fps float64) {
	switch f := t.Format.(type) {
	case *format.H264:
		if sps, _ := f.SafeParams(); len(sps) > 0 {
			var s h264.SPS
			if s.Unmarshal(sps) == nil {
				return s.Width(), s.Height(), saneFPS(s.FPS())
			}
		}
	case *format.H265:
		if _, sps, _ := f.SafeParams(); len(sps) > 0 {
			var s h265.SPS
			if s.Unmarshal(sps) == nil {
				return s.Width(), s.Height(), saneFPS(s.FPS())
			}
		}
	}
	return 0, 0, 0
}

// saneFPS keeps a declared frame rate only when it is plausible: a camera
// that writes zero units per tick declares an infinite rate, which JSON
// cannot carry.
func saneFPS(fps float64) float64 {
	if !(fps > 0 && fps <= 1000) {
		return 0
	}
	return math.Round(fps*1000) / 1000
}

// codecReason says why a track of codec is left out, naming the codec once.
func codecReason(codec, reason string) string {
	if strings.Contains(reason, codec) {
		return reason
	}
	return codec + ": " + reason
}
