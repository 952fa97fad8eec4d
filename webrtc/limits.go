package webrtc

import (
	"net/http"
)

// admit reserves room for one more session under MaxSessions until the
// returned release is called; by then the offer's session is registered
// (or failed), so concurrent offers cannot overshoot the limit. Over the
// limit it returns a 503 error and logs one line.
func (s *Server) admit(path, proto, remote string) (release func(), err error) {
	if s.MaxSessions <= 0 {
		return func() {}, nil
	}
	s.mu.Lock()
	open := len(s.viewers) + len(s.publishers) + s.admitting
	if open >= s.MaxSessions {
		s.mu.Unlock()
		s.logger().Warn("WebRTC session limit reached: refusing an offer with 503",
			"path", path, "protocol", proto, "remote", remote, "limit", s.MaxSessions)
		return nil, errorf(http.StatusServiceUnavailable, "too many WebRTC sessions: the server allows %d", s.MaxSessions)
	}
	s.admitting++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.admitting--
		s.mu.Unlock()
	}, nil
}
