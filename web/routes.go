package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/streamgate/streamgate/auth"
)

// The routing table. Fixed routes are registered on the engine; everything
// else falls to dispatch, because path names may contain '/' and gin's tree
// cannot express "/{path...}/{file}".
//
//	GET  /healthz                 200 "ok" while the process serves
//	GET  /readyz                  200 once Start completed, 503 before and while closing
//	GET  /assets/*file            embedded styles, scripts, vendored hls.js
//	     (Extra)                  /api, /api/*rest (REST API, JSON errors), GET/HEAD /metrics
//	GET  /                        stream list (list.js refreshes it with fragmentHeader)
//	GET  /{path}/                 player page, 404 page for an unknown path
//	GET  /{path}                  301 to "{last segment}/" when the path exists
//	GET  /{path}/{file.ext}       HLS.ServeHLS(path, file), with CORS; OPTIONS is the preflight
//	     /{path}/whep, /whip      later: WebRTC, dispatched here on the last segment
//	GET  /{path}/recordings/{file.ext}  Recordings.ServeRecording(path, file), with CORS
//
// Pages of a path, media and WHEP need read on the path, WHIP publish
// (auth.go); the list, health probes and assets need nothing.
//
// First segments api, metrics, healthz, readyz and assets are never paths,
// in any letter case. "..", "//", '\', control characters and encoded '/'
// or '\' are refused with 400.
func (s *Server) newEngine() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// We route "/{path}" and "/{path}/" to different things ourselves and
	// paths are case-sensitive: no automatic redirects or case fixing.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.RemoveExtraSlash = false
	r.UseRawPath = false

	var cfgErr error
	if err := r.SetTrustedProxies(s.TrustedProxies); err != nil {
		cfgErr = fmt.Errorf("web: trusted proxies: %w", err)
		_ = r.SetTrustedProxies(nil)
	}
	if s.OffersPerSecond > 0 {
		s.offers = newOfferLimiter(s.OffersPerSecond, s.log)
	}
	s.origins = s.AllowOrigins
	if len(s.origins) == 0 {
		s.origins = []string{"*"}
	}
	var err error
	if s.pages, err = newPages(); err != nil {
		return nil, err
	}
	files, err := loadAssets()
	if err != nil {
		return nil, fmt.Errorf("web: load assets: %w", err)
	}

	// The access log is outermost so it also records recovered panics.
	r.Use(accessLog(s.log), gin.RecoveryWithWriter(recoveryLog{s.log}))

	r.GET("/healthz", health)
	r.HEAD("/healthz", health)
	r.GET("/readyz", s.readyz)
	r.HEAD("/readyz", s.readyz)
	r.GET("/assets/*file", files.serve)
	r.HEAD("/assets/*file", files.serve)
	if s.Extra != nil {
		s.Extra(r)
	}
	r.NoRoute(s.dispatch)
	return r, cfgErr
}

// health answers the liveness probe.
func health(c *gin.Context) { c.String(http.StatusOK, "ok") }

// readyz answers the readiness probe: ready between Start and Close.
func (s *Server) readyz(c *gin.Context) {
	if !s.ready.Load() {
		c.String(http.StatusServiceUnavailable, "not ready")
		return
	}
	c.String(http.StatusOK, "ready")
}

// Allowed methods per kind of target.
const (
	pageMethods  = "GET, HEAD"
	mediaMethods = corsMethods
)

// dispatch routes every URL the engine has no route for.
func (s *Server) dispatch(c *gin.Context) {
	t := parseTarget(c.Request.URL.EscapedPath(), c.Request.URL.Path)
	switch t.kind {
	case targetMedia:
		s.media(c, t.path, t.file)
		return
	case targetWHEP, targetWHIP:
		s.webrtc(c, t)
		return
	case targetRecording:
		s.recording(c, t.path, t.file)
		return
	}
	switch t.kind {
	case targetBad:
		c.String(http.StatusBadRequest, "400 bad request: invalid path\n")
		return
	case targetNotFound:
		s.notFoundPage(c, "This page does not exist.")
		return
	}
	if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead {
		c.Header("Allow", pageMethods)
		c.String(http.StatusMethodNotAllowed, "405 method not allowed\n")
		return
	}
	if t.kind == targetPlayer || t.kind == targetBare {
		if !authorizeRequest(c, s.Auth, auth.ActionRead, t.path, textFail) {
			return
		}
	}
	switch t.kind {
	case targetList:
		s.listPage(c)
	case targetPlayer:
		s.playerPage(c, t.path)
	case targetBare:
		s.redirectToPlayer(c, t.path)
	default:
		s.notFoundPage(c, "This page does not exist.")
	}
}

// media serves one HLS file of a path, with CORS.
func (s *Server) media(c *gin.Context, path, file string) {
	markMedia(c)
	if !cors(c, s.origins) {
		return
	}
	if !authorizeRequest(c, s.Auth, auth.ActionRead, path, textFail) {
		return
	}
	if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead {
		c.Header("Allow", mediaMethods)
		c.String(http.StatusMethodNotAllowed, "405 method not allowed\n")
		return
	}
	if s.HLS == nil {
		c.String(http.StatusNotFound, "404 page not found\n")
		return
	}
	// gin presets 404 for NoRoute handlers; a handler that writes without
	// WriteHeader must get 200.
	c.Status(http.StatusOK)
	s.HLS.ServeHLS(c.Writer, c.Request, path, file)
}

// recording serves a playback file of a path's recordings, with CORS; it
// needs read on the path, like live media.
func (s *Server) recording(c *gin.Context, path, file string) {
	markMedia(c)
	if !cors(c, s.origins) {
		return
	}
	if !authorizeRequest(c, s.Auth, auth.ActionRead, path, textFail) {
		return
	}
	if s.Recordings == nil {
		c.String(http.StatusNotFound, "404 page not found: recording is off\n")
		return
	}
	c.Status(http.StatusOK)
	s.Recordings.ServeRecording(c.Writer, c.Request, path, file)
}

// webrtc hands a WHEP or WHIP request to the WebRTC server, with CORS.
func (s *Server) webrtc(c *gin.Context, t target) {
	markMedia(c)
	if !corsWith(c, s.origins, webrtcCORS) {
		return
	}
	// Decided before the body is read: a refused client learns nothing
	// about its SDP.
	action := auth.ActionRead
	if t.kind == targetWHIP {
		action = auth.ActionPublish
	}
	if !authorizeRequest(c, s.Auth, action, t.path, textFail) {
		return
	}
	// After authorization: refused requests are cheap and have their own
	// slow-down; an offer let in costs a PeerConnection (limits.go).
	if !s.allowOffer(c, t) {
		return
	}
	if s.WebRTC == nil {
		c.String(http.StatusNotFound, "404 page not found: WebRTC is off\n")
		return
	}
	c.Status(http.StatusOK)
	if t.kind == targetWHEP {
		s.WebRTC.ServeWHEP(c.Writer, c.Request, t.path, t.file)
	} else {
		s.WebRTC.ServeWHIP(c.Writer, c.Request, t.path, t.file)
	}
}

// redirectToPlayer sends "/{path}" to "/{path}/" when the path exists. The
// Location is relative ("door/" for "/site/door") so it stays right behind
// a proxy that mounts streamgate under a prefix.
func (s *Server) redirectToPlayer(c *gin.Context, name string) {
	if _, ok := s.lookup(name); !ok {
		s.notFoundPage(c, fmt.Sprintf("There is no stream named %q.", name))
		return
	}
	loc := name[strings.LastIndexByte(name, '/')+1:] + "/"
	if q := c.Request.URL.RawQuery; q != "" {
		loc += "?" + q
	}
	c.Header("Location", loc)
	c.String(http.StatusMovedPermanently, "moved to %s\n", loc)
}
