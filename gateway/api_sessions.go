package gateway

import (
	"fmt"
	"strings"

	"github.com/streamgate/streamgate/web"
	"github.com/streamgate/streamgate/webrtc"
)

// Prefixes of the API's session ids: the protocol, then its own id.
const (
	sessionPrefixRTSP = "rtsp-"
	sessionPrefixWHEP = "whep-"
	sessionPrefixWHIP = "whip-"
)

// Sessions lists the RTSP sessions, then the WHEP viewers and WHIP publishers.
func (a apiView) Sessions() []web.SessionStatus {
	var out []web.SessionStatus
	if a.g.rtsp != nil {
		for _, s := range a.g.rtsp.Sessions() {
			kind := web.SessionRTSPRead
			if s.Publishing {
				kind = web.SessionRTSPPublish
			}
			in, sent := s.BytesReceived, s.BytesSent
			out = append(out, web.SessionStatus{
				ID: sessionPrefixRTSP + s.ID, Kind: kind, Path: s.Path, Remote: s.Remote, Since: s.Since,
				BytesReceived: &in, BytesSent: &sent,
			})
		}
	}
	if a.g.rtc != nil {
		for _, s := range a.g.rtc.Sessions() {
			kind, prefix := web.SessionWHEP, sessionPrefixWHEP
			if s.Kind == webrtc.KindWHIP {
				kind, prefix = web.SessionWHIP, sessionPrefixWHIP
			}
			out = append(out, web.SessionStatus{ID: prefix + s.ID, Kind: kind, Path: s.Path, Remote: s.Remote, Since: s.Since})
		}
	}
	return out
}

// KickSession closes the RTSP session or stops the WebRTC session id.
func (a apiView) KickSession(id string) error {
	closed := false
	if rest, ok := strings.CutPrefix(id, sessionPrefixRTSP); ok && a.g.rtsp != nil {
		closed = a.g.rtsp.CloseSession(rest)
	}
	for _, prefix := range []string{sessionPrefixWHEP, sessionPrefixWHIP} {
		if rest, ok := strings.CutPrefix(id, prefix); ok && a.g.rtc != nil {
			closed = a.g.rtc.CloseSession(rest)
		}
	}
	if !closed {
		return fmt.Errorf("no session %q: %w", id, web.ErrNotFound)
	}
	a.g.Logger.Info("session closed over the API", "session", id)
	return nil
}
