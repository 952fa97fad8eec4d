package webrtc

import (
	"net/http"
	"strings"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"
)

// ServeWHEP answers the WHEP requests of path. The web layer mounts it on
// /{path}/whep (rest "") and /{path}/whep/{session} (rest is the session id):
//
//	POST    /{path}/whep            application/sdp offer → 201, answer, Location: /{path}/whep/{id}, ETag, Link
//	PATCH   /{path}/whep/{id}       application/trickle-ice-sdpfrag → 204
//	DELETE  /{path}/whep/{id}       → 200
//	OPTIONS either                  → 204 with Allow and Accept-Post/Accept-Patch
func (s *Server) ServeWHEP(w http.ResponseWriter, r *http.Request, path, rest string) {
	s.serve(w, r, path, rest, "WHEP", s.postWHEP, func(path, id string) (resource, bool) {
		se := s.viewer(path, id)
		return se, se != nil
	})
}

func (s *Server) postWHEP(w http.ResponseWriter, r *http.Request, path string) error {
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
	offer := parseOffer(desc, true)
	if len(offer) == 0 {
		// planTracks reads a nil offer as "no viewer yet": refuse here.
		return errorf(http.StatusBadRequest, "the offer receives no audio or video")
	}

	hp, err := s.Paths.Acquire(path)
	if err != nil {
		return pathError(err)
	}
	st, err := hp.WaitStream(r.Context())
	if err == nil {
		err = st.CheckRoom() // the hub reader is added once the peer connects
	}
	if err != nil {
		hp.Release()
		return pathError(err)
	}
	plan := planTracks(st.Tracks, offer)
	if len(plan.carried) == 0 {
		hp.Release()
		var codecs []string
		for _, t := range st.Tracks {
			codecs = append(codecs, t.CodecName())
		}
		return errorf(http.StatusNotAcceptable, "no codec of the offer can carry this stream: the stream has %s; the offer has %s",
			strings.Join(codecs, ", "), offerCodecNames(offer))
	}
	se, answer, err := s.newSession(path, hp, st, plan, string(body))
	if err != nil {
		hp.Release()
		return err
	}
	se.remote, se.since = r.RemoteAddr, time.Now()
	if !s.addViewer(se) {
		se.cancel()
		_ = se.pc.Close()
		hp.Release()
		return ErrClosed
	}
	se.start()
	se.logger.Info("WebRTC viewer joined", "remote", r.RemoteAddr, "tracks", len(plan.carried))
	s.writeCreated(w, r, se.id, se.etag, answer)
	return nil
}

// addViewer registers a session and counts its goroutine; false when closing.
func (s *Server) addViewer(se *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	s.viewers[se.id] = se
	s.infoLocked(se.path, se.stream).viewers++
	if _, ok := s.sentClosed[se.path]; !ok {
		s.sentClosed[se.path] = 0
	}
	return true
}

func (s *Server) removeViewer(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewers[se.id] == se {
		delete(s.viewers, se.id)
		s.sentClosed[se.path] += se.bytesSent.Load()
		if info := s.paths[se.path]; info != nil {
			info.viewers--
		}
	}
}

// viewer returns the session id of path, or nil.
func (s *Server) viewer(path, id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.viewers[id]
	if se == nil || se.path != path {
		return nil
	}
	return se
}

func (se *session) peer() *pwebrtc.PeerConnection { return se.pc }
func (se *session) tag() string                   { return se.etag }

// stop ends the session and waits for its teardown.
func (se *session) stop() {
	se.cancel()
	<-se.done
}
