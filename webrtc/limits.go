package webrtc

import (
	"net/http"

	"github.com/pion/sdp/v3"
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

// An offer costs a transceiver per media section and an ICE check per
// candidate pair; browsers and encoders send a few of each. Offers (and
// trickle bodies) with more are refused with 400 before pion sees them.
const (
	maxOfferMedia      = 16
	maxOfferCandidates = 64
)

// checkOfferSize refuses offers with too many media sections or candidates.
func checkOfferSize(desc *sdp.SessionDescription) error {
	if n := len(desc.MediaDescriptions); n > maxOfferMedia {
		return errorf(http.StatusBadRequest, "the offer has %d media sections: at most %d", n, maxOfferMedia)
	}
	n := 0
	for _, a := range desc.Attributes {
		if a.Key == "candidate" {
			n++
		}
	}
	for _, md := range desc.MediaDescriptions {
		for _, a := range md.Attributes {
			if a.Key == "candidate" {
				n++
			}
		}
	}
	if n > maxOfferCandidates {
		return errorf(http.StatusBadRequest, "the offer has %d ICE candidates: at most %d", n, maxOfferCandidates)
	}
	return nil
}
