package rtspserver

import (
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/streamgate/streamgate/gateway/hub"
)

// admit counts ss against MaxSessions at its first SETUP or ANNOUNCE; nil
// lets the request go on. An ANNOUNCE's description (desc) is checked
// first: one with too many media sections gets 400 before any state is
// kept for it. Over the limit the client gets 503 with
// Retry-After, one log line is written and the session gortsplib created
// for the request is closed, so refused clients hold nothing. A session is
// forgotten when it closes (unregister).
func (s *Server) admit(ss *gortsplib.ServerSession, c *gortsplib.ServerConn, path string, desc *description.Session) *base.Response {
	if desc != nil {
		if err := hub.CheckDescription(desc); err != nil {
			s.Logger.Warn("RTSP publisher refused", "path", path, "remote", c.NetConn().RemoteAddr().String(), "error", err)
			return &base.Response{StatusCode: base.StatusBadRequest, StatusMessage: "Bad Request: " + err.Error()}
		}
	}
	if s.MaxSessions <= 0 {
		return nil
	}
	s.mu.Lock()
	if _, ok := s.admitted[ss]; ok {
		s.mu.Unlock()
		return nil
	}
	if len(s.admitted) < s.MaxSessions {
		if s.admitted == nil {
			s.admitted = make(map[*gortsplib.ServerSession]struct{})
		}
		s.admitted[ss] = struct{}{}
		s.mu.Unlock()
		return nil
	}
	closing := s.closed
	if !closing {
		s.wg.Add(1)
	}
	s.mu.Unlock()

	remote := c.NetConn().RemoteAddr().String()
	s.Logger.Warn("RTSP session limit reached: refusing with 503", "path", path, "remote", remote, "limit", s.MaxSessions)
	if cs, _ := c.UserData().(*connState); cs != nil {
		cs.mu.Lock()
		cs.refused = true // no Session header for a session that is closing
		cs.mu.Unlock()
	}
	if !closing {
		// Close waits for the request being handled, which is this one.
		go func() {
			defer s.wg.Done()
			ss.Close()
		}()
	}
	return &base.Response{
		StatusCode:    base.StatusServiceUnavailable,
		StatusMessage: "Service Unavailable: too many sessions",
		Header:        base.Header{"Retry-After": base.HeaderValue{"5"}},
	}
}
