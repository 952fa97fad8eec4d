package rtspserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/streamgate/streamgate/auth"
	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

// handler receives gortsplib's callbacks for both listeners.
type handler struct {
	s *Server
}

// connState remembers, per connection, the request being handled, so the
// response can be given the status code the RFC asks for.
type connState struct {
	mu     sync.Mutex
	method base.Method
	state  gortsplib.ServerSessionState
	hasSes bool
	// sesHdr says the request named a session (a Session header).
	sesHdr bool
	// refused says authorize refused the request: its response must not
	// hand out the session gortsplib created for a refused SETUP.
	refused bool
	// nonce is the Digest nonce of the connection's challenges.
	nonce string
	// describe is the stream a DESCRIBE of recordings answered with.
	describe *gortsplib.ServerStream
}

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	nonce, err := auth.NewNonce()
	if err != nil {
		h.s.Logger.Warn("no Digest nonce for an RTSP connection: Digest is not offered to it", "error", err)
	}
	ctx.Conn.SetUserData(&connState{nonce: nonce})
	h.s.Logger.Debug("rtsp connection opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.Logger.Debug("rtsp connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "reason", ctx.Error)
}

func (h *handler) OnRequest(c *gortsplib.ServerConn, req *base.Request) {
	cs, _ := c.UserData().(*connState)
	if cs == nil {
		return
	}
	h.s.noteRequest(c, req) // output.go
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.method = req.Method
	cs.refused = false
	cs.hasSes = false
	cs.sesHdr = len(req.Header["Session"]) != 0
	if ss := c.Session(); ss != nil {
		cs.hasSes = true
		cs.state = ss.State()
	}
}

// OnResponse corrects gortsplib's generic 400 for a method that is not valid
// in the session's state to 455, as RFC 2326 section 11.3.6 asks, and its
// 501 for a session method sent without a session (PLAY before SETUP) to
// 454, since the method is implemented and the session is what is missing.
func (h *handler) OnResponse(c *gortsplib.ServerConn, res *base.Response) {
	cs, _ := c.UserData().(*connState)
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.describe != nil {
		// The SDP is in res.Body by now.
		cs.describe.Close()
		cs.describe = nil
	}
	h.s.noteResponse(c, cs.method, res) // output.go
	if cs.refused {
		delete(res.Header, "Session")
		return
	}
	if cs.method == base.Play && res.StatusCode == base.StatusOK {
		fixRTPInfo(c, res)
	}
	if res.StatusCode == base.StatusNotImplemented && !cs.sesHdr && needsSession(cs.method) {
		res.StatusCode = base.StatusSessionNotFound
		res.StatusMessage = ""
		return
	}
	if res.StatusCode != base.StatusBadRequest {
		return
	}
	if cs.hasSes && !methodValidIn(cs.method, cs.state) {
		res.StatusCode = base.StatusMethodNotValidInThisState
		res.StatusMessage = ""
	}
}

// needsSession reports whether gortsplib serves m only within a session.
// fixRTPInfo gives a PLAY response the RTP-Info of what the session sends.
// gortsplib describes the shared stream, whose numbering no session uses
// (each session numbers its own packets); playback from the timeline
// knows its first sequence numbers and timestamps and says them, live
// play names only the tracks.
func fixRTPInfo(c *gortsplib.ServerConn, res *base.Response) {
	ss := c.Session()
	if ss == nil {
		return
	}
	ses := sessionOf(ss)
	if ses == nil {
		return
	}
	ses.mu.Lock()
	info := ses.rtpInfo
	ses.rtpInfo = nil
	ses.mu.Unlock()
	if info != nil {
		if res.Header == nil {
			res.Header = base.Header{}
		}
		res.Header["RTP-Info"] = info.Marshal()
	}
}

func needsSession(m base.Method) bool {
	switch m {
	case base.Play, base.Pause, base.Record, base.Teardown:
		return true
	}
	return false
}

func methodValidIn(m base.Method, st gortsplib.ServerSessionState) bool {
	switch m {
	case base.Play:
		return st == gortsplib.ServerSessionStatePrePlay || st == gortsplib.ServerSessionStatePlay
	case base.Record:
		return st == gortsplib.ServerSessionStatePreRecord
	case base.Pause:
		return st != gortsplib.ServerSessionStateInitial
	case base.Setup:
		return st == gortsplib.ServerSessionStateInitial || st == gortsplib.ServerSessionStatePrePlay ||
			st == gortsplib.ServerSessionStatePreRecord
	case base.Announce:
		return st == gortsplib.ServerSessionStateInitial
	}
	return true
}

func (h *handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	ctx.Session.SetUserData(newSession(h.s, ctx.Session, ctx.Conn))
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if ses, ok := ctx.Session.UserData().(*session); ok {
		ses.close(ctx.Error)
	}
}

// pathName turns gortsplib's request path ("/cam1", "/cam1/trackID=0") into a path name.
// It repeats until nothing changes, so "//cam1" or "/cam1/trackID=0/trackID=1"
// leave neither a leading slash nor a track suffix.
func pathName(p string) string {
	for {
		q := strings.TrimLeft(p, "/")
		if i := strings.LastIndex(q, "/trackID="); i >= 0 {
			q = q[:i]
		}
		q = strings.TrimRight(q, "/")
		if q == p {
			return q
		}
		p = q
	}
}

func statusOf(err error) base.StatusCode {
	switch {
	case errors.Is(err, hub.ErrPathNotFound), errors.Is(err, hub.ErrNoStream), errors.Is(err, hub.ErrPathClosed):
		return base.StatusNotFound
	case errors.Is(err, hub.ErrTooManyReaders):
		return base.StatusNotEnoughBandwidth
	case errors.Is(err, hub.ErrPublishNotAllowed), errors.Is(err, hub.ErrPublisherExists):
		return base.StatusForbidden
	case errors.Is(err, errNotRecorded):
		return base.StatusNotFound
	case errors.Is(err, timeline.ErrOutOfRange):
		return base.StatusInvalidRange
	}
	return base.StatusBadRequest
}

func failure(err error) (*base.Response, error) {
	res := &base.Response{StatusCode: statusOf(err)}
	switch {
	case errors.Is(err, hub.ErrPublisherExists):
		res.StatusMessage = "Path Busy: another publisher is active"
	case errors.Is(err, hub.ErrPublishNotAllowed):
		res.StatusMessage = "Forbidden: this path does not accept publishers"
	case errors.Is(err, hub.ErrNoStream):
		res.StatusMessage = "Not Found: no stream is available on this path"
	case errors.Is(err, errNotRecorded):
		res.StatusMessage = "Not Found: no recordings of this path at that time"
	case errors.Is(err, timeline.ErrOutOfRange):
		res.StatusMessage = "Invalid Range: the requested time is outside what this path keeps"
	}
	return res, err
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	name := pathName(ctx.Path)
	if res := h.authorize(ctx.Conn, ctx.Request, name, auth.ActionRead); res != nil {
		return res, nil, nil
	}
	if start, ok, err := recordingStart(ctx.Query); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest, StatusMessage: "Bad Request: " + err.Error()}, nil, err
	} else if ok {
		return h.describeRecorded(ctx, name, start)
	}
	p, err := h.s.Paths.Acquire(name)
	if err != nil {
		res, err := failure(err)
		return res, nil, err
	}
	defer p.Release()
	st, err := p.WaitStream(h.s.ctx)
	if err != nil {
		res, err := failure(err)
		return res, nil, err
	}
	rs, err := h.s.serverStream(h.serverOf(ctx.Conn), st, false)
	if err != nil {
		res, err := failure(err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, rs, nil
}

// serverOf tells which listener a connection came through.
func (h *handler) serverOf(c *gortsplib.ServerConn) *gortsplib.Server {
	if h.s.secure != nil {
		if _, ok := c.NetConn().(*tls.Conn); ok {
			return h.s.secure
		}
	}
	return h.s.plain
}

func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	name := pathName(ctx.Path)
	if res := h.authorize(ctx.Conn, ctx.Request, name, auth.ActionPublish); res != nil {
		return res, nil
	}
	if res := h.s.admit(ctx.Session, ctx.Conn, name, ctx.Description); res != nil { // limits.go
		return res, nil
	}
	ses := sessionOf(ctx.Session)
	if err := ses.announce(name); err != nil {
		return failure(err)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	name := pathName(ctx.Path)
	if res := h.authorize(ctx.Conn, ctx.Request, name, auth.ActionRead); res != nil {
		return res, nil, nil
	}
	if res := h.s.admit(ctx.Session, ctx.Conn, name, nil); res != nil { // limits.go
		return res, nil, nil
	}
	multicast := ctx.Transport != nil && ctx.Transport.Protocol == gortsplib.ProtocolUDPMulticast
	if multicast && h.s.MulticastIPRange == "" {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	ses := sessionOf(ctx.Session)
	start, recorded, err := recordingStart(ctx.Query)
	if err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest, StatusMessage: "Bad Request: " + err.Error()}, nil, err
	}
	if recorded {
		if multicast {
			return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
		}
		rs, err := ses.setupRecorded(h.serverOf(ctx.Conn), name, start)
		if err != nil {
			res, err := failure(err)
			return res, nil, err
		}
		return &base.Response{StatusCode: base.StatusOK}, rs, nil
	}
	rs, err := ses.setup(h.serverOf(ctx.Conn), name, multicast)
	if err != nil {
		res, err := failure(err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, rs, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	ses := sessionOf(ctx.Session)
	ses.logger().Debug("PLAY", "range", ctx.Request.Header["Range"], "scale", ctx.Request.Header["Scale"])
	// A refused Range or Scale is answered without an error, so gortsplib
	// keeps the connection and the session plays on as it did.
	if v := ctx.Request.Header["Scale"]; len(v) > 0 {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64); err != nil || f != 1 {
			ses.logger().Info("PLAY refused", "reason", errScale, "scale", v[0])
			return &base.Response{
				StatusCode:    base.StatusHeaderFieldNotValidForResource,
				StatusMessage: "Header Field Not Valid for Resource: only Scale 1 is supported",
			}, nil
		}
	}
	rng, err := parseRange(strings.Join(ctx.Request.Header["Range"], ","))
	if err != nil {
		ses.logger().Info("PLAY refused", "reason", err)
		return &base.Response{StatusCode: base.StatusBadRequest, StatusMessage: "Bad Request: " + err.Error()}, nil
	}
	ans, err := ses.playRequest(rng, ctx.Request.URL)
	if errors.Is(err, timeline.ErrOutOfRange) {
		ses.logger().Info("PLAY refused", "reason", err)
		res, _ := failure(err)
		return res, nil
	}
	if err != nil {
		return failure(err)
	}
	ses.mu.Lock()
	ses.rtpInfo = ans.rtpInfo
	ses.mu.Unlock()
	return &base.Response{
		StatusCode: base.StatusOK,
		Header:     base.Header{"Range": base.HeaderValue{ans.rangeHdr}},
	}, nil
}

func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	sessionOf(ctx.Session).pause()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ses := sessionOf(ctx.Session)
	if err := ses.record(); err != nil {
		return failure(err)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnGetParameter(_ *gortsplib.ServerHandlerOnGetParameterCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	sessionOf(ctx.Session).writeErrors.Add(1)
}

func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	sessionOf(ctx.Session).lost.Add(ctx.Lost)
}

func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	sessionOf(ctx.Session).logger().Debug("publisher sent an undecodable packet", "error", ctx.Error)
}

// recordingStart reads the start=<RFC3339> query parameter that opens a
// session on a path's recordings.
func recordingStart(query string) (time.Time, bool, error) {
	if query == "" {
		return time.Time{}, false, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("malformed query %q", query)
	}
	v := q.Get("start")
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("start=%q is not an RFC 3339 time like 2026-11-25T20:30:00Z", v)
	}
	return t, true, nil
}

// describeRecorded answers DESCRIBE of rtsp://host/path?start=…: the SDP
// of the recordings at that time. The stream only lives for the answer.
func (h *handler) describeRecorded(ctx *gortsplib.ServerHandlerOnDescribeCtx, name string, start time.Time) (*base.Response, *gortsplib.ServerStream, error) {
	src, err := h.s.recordedSource(name, start)
	if err != nil {
		res, err := failure(err)
		return res, nil, err
	}
	rs := &gortsplib.ServerStream{Server: h.serverOf(ctx.Conn), Desc: src.Description()}
	if err := rs.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, err
	}
	if cs, _ := ctx.Conn.UserData().(*connState); cs != nil {
		cs.mu.Lock()
		cs.describe = rs // closed once the answer is written
		cs.mu.Unlock()
	}
	return &base.Response{StatusCode: base.StatusOK}, rs, nil
}
