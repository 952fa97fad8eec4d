package webrtc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"
)

// supportedPublish names the codecs a WHIP client may send, for 406 bodies.
const supportedPublish = "H264, H265, VP8, VP9, AV1, Opus, G722, PCMU, PCMA"

// ServeWHIP answers the WHIP requests of path. The web layer mounts it on
// /{path}/whip (rest "") and /{path}/whip/{session} (rest is the session id),
// with the same shapes as ServeWHEP. The path must accept publishers
// (403 otherwise, 409 when another publisher holds it).
func (s *Server) ServeWHIP(w http.ResponseWriter, r *http.Request, path, rest string) {
	s.serve(w, r, path, rest, "WHIP", s.postWHIP, func(path, id string) (resource, bool) {
		p := s.publisherOf(path, id)
		return p, p != nil
	})
}

func (s *Server) postWHIP(w http.ResponseWriter, r *http.Request, path string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	body, err := s.readBody(w, r, contentSDP)
	if err != nil {
		return err
	}
	desc, err := parseSDP(body)
	if err != nil {
		return err
	}
	if len(parseOffer(desc, false)) == 0 {
		return errorf(http.StatusBadRequest, "the offer sends no audio or video")
	}
	hp, err := s.Paths.Acquire(path)
	if err != nil {
		return pathError(err)
	}
	if err := hp.CanPublish(); err != nil {
		hp.Release()
		return pathError(err)
	}
	pc, err := s.api.NewPeerConnection(s.iceConfig())
	if err != nil {
		hp.Release()
		return err
	}
	id := newID()
	p := &publisher{
		srv: s, id: id, path: path, hp: hp, pc: pc, etag: `"` + newID() + `"`,
		remote: r.RemoteAddr, since: time.Now(),
		logger: s.logger().With("path", path, "session", id[:8], "component", "whip"),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
		tracks: make(chan remoteTrack, 16),
	}
	p.ctx, p.cancel = context.WithCancel(s.ctx)
	answer, err := p.negotiate(string(body))
	if err == nil && p.expected == 0 {
		err = errorf(http.StatusNotAcceptable, "no codec of the offer can be published: the offer has %s; supported are %s",
			offerCodecNames(parseOffer(desc, false)), supportedPublish)
	}
	if err == nil && !s.addPublisher(p) {
		err = ErrClosed
	}
	if err != nil {
		p.cancel()
		_ = pc.Close()
		hp.Release()
		return err
	}
	p.start()
	p.logger.Info("WHIP publisher joined", "remote", r.RemoteAddr, "tracks", p.expected)
	s.writeCreated(w, r, id, p.etag, answer)
	return nil
}

// negotiate answers the offer; expected is set to the media sections accepted.
func (p *publisher) negotiate(offer string) (string, error) {
	p.pc.OnConnectionStateChange(func(st pwebrtc.PeerConnectionState) {
		p.state.Store(int32(st))
		select {
		case p.notify <- struct{}{}:
		default:
		}
	})
	p.pc.OnTrack(p.onTrack)
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: offer}); err != nil {
		// pion refuses what our own parse let through: the client's fault.
		return "", fmt.Errorf("%w: %w", errBadOffer, err)
	}
	ans, err := answer(p.srv, p.pc)
	if err != nil {
		return "", err
	}
	// A section we can receive on is answered recvonly (or sendrecv) with a port.
	if desc, err := parseSDP([]byte(ans)); err == nil {
		p.expected = len(parseOffer(desc, true))
	}
	return ans, nil
}

// addPublisher registers a publisher and counts its goroutine; false when closing.
func (s *Server) addPublisher(p *publisher) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	s.publishers[p.id] = p
	s.infoLocked(p.path, nil).publishers++
	return true
}

func (s *Server) removePublisher(p *publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publishers[p.id] == p {
		delete(s.publishers, p.id)
		if info := s.paths[p.path]; info != nil {
			info.publishers--
		}
	}
}

// publisherOf returns the publisher id of path, or nil.
func (s *Server) publisherOf(path, id string) *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.publishers[id]
	if p == nil || p.path != path {
		return nil
	}
	return p
}

func (p *publisher) peer() *pwebrtc.PeerConnection { return p.pc }
func (p *publisher) tag() string                   { return p.etag }

// stop ends the publisher and waits for its teardown.
func (p *publisher) stop() {
	p.cancel()
	<-p.done
}
