package webrtc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

// Content types of WHIP and WHEP.
const (
	contentSDP     = "application/sdp"
	contentTrickle = "application/trickle-ice-sdpfrag"
)

// httpError is an error answered with its own status code.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// writeErr answers err: its own code for an httpError, else 500.
func (s *Server) writeErr(w http.ResponseWriter, what, path string, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.code, he.msg)
	case errors.Is(err, ErrClosed), errors.Is(err, hub.ErrPathClosed):
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down")
	case errors.Is(err, errBadOffer):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.logger().Warn(what+" failed", "path", path, "error", err)
		writeError(w, http.StatusInternalServerError, what+" failed")
	}
}

// pathError maps hub errors of Acquire and WaitStream to HTTP errors.
func pathError(err error) error {
	switch {
	case errors.Is(err, hub.ErrPathNotFound):
		return errorf(http.StatusNotFound, "no such path")
	case errors.Is(err, hub.ErrNoStream):
		return errorf(http.StatusNotFound, "no stream is available on this path")
	case errors.Is(err, hub.ErrPublishNotAllowed):
		return errorf(http.StatusForbidden, "%v", hub.ErrPublishNotAllowed)
	case errors.Is(err, hub.ErrPublisherExists):
		return errorf(http.StatusConflict, "%v", hub.ErrPublisherExists)
	case errors.Is(err, hub.ErrTooManyReaders):
		return errorf(http.StatusServiceUnavailable, "%v", hub.ErrTooManyReaders)
	}
	return err
}

// readBody checks the content type and reads a body of at most MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, contentType string) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		return nil, errorf(http.StatusUnsupportedMediaType, "the body must be %s", contentType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", s.MaxBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, "cannot read the body: %v", err)
	}
	return body, nil
}

// parseSDP parses an offer for our own checks (pion parses it again).
func parseSDP(body []byte) (*sdp.SessionDescription, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed SDP: %v", err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return nil, errorf(http.StatusBadRequest, "the offer has no media")
	}
	if err := checkOfferSize(&desc); err != nil { // limits.go
		return nil, err
	}
	return &desc, nil
}

// writeCreated answers a POST with the answer SDP and the resource headers.
func (s *Server) writeCreated(w http.ResponseWriter, r *http.Request, id, etag, answer string) {
	h := w.Header()
	h.Set("Content-Type", contentSDP)
	h.Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+id)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-store")
	h.Set("Accept-Patch", contentTrickle)
	for _, l := range linkHeaders(s.ICEServers, time.Now()) {
		h.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// writeOptions answers OPTIONS on the endpoint (rest == "") or a resource.
func writeOptions(w http.ResponseWriter, rest string) {
	h := w.Header()
	if rest == "" {
		h.Set("Allow", "OPTIONS, POST")
		h.Set("Accept-Post", contentSDP)
	} else {
		h.Set("Allow", "OPTIONS, PATCH, DELETE")
		h.Set("Accept-Patch", contentTrickle)
	}
	w.WriteHeader(http.StatusNoContent)
}

// methodAllowed answers 405 for methods the URL does not take.
func methodAllowed(w http.ResponseWriter, r *http.Request, rest string) bool {
	ok := false
	switch r.Method {
	case http.MethodPost:
		ok = rest == ""
	case http.MethodPatch, http.MethodDelete:
		ok = rest != ""
	case http.MethodOptions:
		ok = true
	}
	if !ok {
		if rest == "" {
			w.Header().Set("Allow", "OPTIONS, POST")
		} else {
			w.Header().Set("Allow", "OPTIONS, PATCH, DELETE")
		}
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
	return ok
}

// resource is a WHEP session or a WHIP publisher: what PATCH and DELETE act on.
type resource interface {
	peer() *pwebrtc.PeerConnection
	tag() string
	stop()
}

// serve dispatches the requests of a WHEP or WHIP endpoint (rest "") and
// its resources (rest is the id).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, path, rest, proto string,
	post func(http.ResponseWriter, *http.Request, string) error, lookup func(path, id string) (resource, bool),
) {
	rest = strings.Trim(rest, "/")
	if !methodAllowed(w, r, rest) {
		return
	}
	if r.Method == http.MethodOptions {
		writeOptions(w, rest)
		return
	}
	if r.Method == http.MethodPost {
		release, err := s.admit(path, proto, r.RemoteAddr)
		if err != nil {
			s.writeErr(w, proto+" offer", path, err)
			return
		}
		defer release()
		if err := post(w, r, path); err != nil {
			s.writeErr(w, proto+" offer", path, err)
		}
		return
	}
	res, ok := lookup(path, rest)
	if !ok {
		writeError(w, http.StatusNotFound, "no such session")
		return
	}
	if r.Method == http.MethodDelete {
		res.stop()
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := s.trickle(w, r, res.peer(), res.tag()); err != nil {
		s.writeErr(w, proto+" trickle", path, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// trickle applies a trickle-ice-sdpfrag body (RFC 8840) to pc.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, pc *pwebrtc.PeerConnection, etag string) error {
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != etag {
		return errorf(http.StatusPreconditionFailed, "the ETag does not match the session")
	}
	body, err := s.readBody(w, r, contentTrickle)
	if err != nil {
		return err
	}
	remote := pc.RemoteDescription()
	if remote == nil {
		return errorf(http.StatusConflict, "the session has no remote description")
	}
	ufrag := remoteUfrag(remote.SDP)
	var mid string
	if ms := firstMid(remote.SDP); ms != "" {
		mid = ms
	}
	if n := strings.Count(string(body), "a=candidate:"); n > maxOfferCandidates {
		return errorf(http.StatusBadRequest, "%d candidates in one request: at most %d", n, maxOfferCandidates)
	}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			if u := strings.TrimPrefix(line, "a=ice-ufrag:"); ufrag != "" && u != ufrag {
				return errorf(http.StatusUnprocessableEntity, "ICE restarts are not supported")
			}
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			cand := strings.TrimPrefix(line, "a=")
			if cand == "end-of-candidates" {
				cand = ""
			}
			m := mid
			if err := pc.AddICECandidate(pwebrtc.ICECandidateInit{Candidate: cand, SDPMid: &m}); err != nil {
				return errorf(http.StatusBadRequest, "bad candidate: %v", err)
			}
		}
	}
	return nil
}

func remoteUfrag(sdpText string) string {
	return sdpValue(sdpText, "a=ice-ufrag:")
}

func firstMid(sdpText string) string {
	return sdpValue(sdpText, "a=mid:")
}

func sdpValue(sdpText, prefix string) string {
	for _, line := range strings.Split(sdpText, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return ""
}

// newID returns a random 128-bit hex identifier.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
