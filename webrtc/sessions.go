package webrtc

import (
	"sort"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"
)

// Kinds of SessionInfo.
const (
	KindWHEP = "whep"
	KindWHIP = "whip"
)

// SessionInfo describes one WHEP viewer or WHIP publisher for the API.
type SessionInfo struct {
	// ID is the session id of the resource URL (/{path}/whep/{id}).
	ID string
	// Kind is KindWHEP or KindWHIP.
	Kind string
	// Path is the path viewed or published.
	Path string
	// Remote is the address of the HTTP client that created the session.
	Remote string
	// Since is when the session was created.
	Since time.Time
	// State is the peer connection's state: new, connecting, connected,
	// disconnected, failed or closed.
	State string
}

// stateName names a peer connection state kept as an int32; the zero
// value (before the first change) is "new".
func stateName(v int32) string {
	st := pwebrtc.PeerConnectionState(v)
	if st == pwebrtc.PeerConnectionStateUnknown {
		return pwebrtc.PeerConnectionStateNew.String()
	}
	return st.String()
}

// Sessions lists the WHEP viewers and WHIP publishers, oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.viewers)+len(s.publishers))
	for _, se := range s.viewers {
		out = append(out, SessionInfo{ID: se.id, Kind: KindWHEP, Path: se.path, Remote: se.remote, Since: se.since, State: stateName(se.state.Load())})
	}
	for _, p := range s.publishers {
		out = append(out, SessionInfo{ID: p.id, Kind: KindWHIP, Path: p.path, Remote: p.remote, Since: p.since, State: stateName(p.state.Load())})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CloseSession stops the viewer or publisher id and waits for its
// teardown, as a DELETE of its resource does; false when there is none.
func (s *Server) CloseSession(id string) bool {
	s.mu.Lock()
	se, p := s.viewers[id], s.publishers[id]
	s.mu.Unlock()
	switch {
	case se != nil:
		se.stop()
	case p != nil:
		p.stop()
	default:
		return false
	}
	return true
}
