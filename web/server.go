// Package web is streamgate's HTTP front door: one gin engine on one
// listener (default :8888) that serves the stream list, the player pages,
// their embedded assets, HLS (through the HLS interface), health probes and,
// through Extra, the routes later packages add (WHEP, API, metrics).
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// DefaultAddress is the listen address when Server.Address is empty.
const DefaultAddress = ":8888"

// DefaultReadHeaderTimeout is the header read timeout when
// Server.ReadHeaderTimeout is zero.
const DefaultReadHeaderTimeout = 10 * time.Second

// shutdownTimeout bounds Close: in-flight requests get this long to finish
// before their connections are cut.
const shutdownTimeout = 5 * time.Second

// defaultIdleTimeout closes keep-alive connections nobody uses.
const defaultIdleTimeout = 2 * time.Minute

// DefaultMaxHeaderBytes is the request header limit when
// Server.MaxHeaderBytes is zero.
const DefaultMaxHeaderBytes = 64 << 10

// Paths is what the web layer needs to know about the configured paths.
type Paths interface {
	// Paths lists every path the list page shows, in display order.
	Paths() []PathInfo
	// Path returns one path by its exact (case-sensitive) name.
	Path(name string) (PathInfo, bool)
}

// HLS serves the files of one path's HLS muxer (playlists, init files,
// segments, parts). It answers 404 itself for paths it cannot serve.
type HLS interface {
	// ServeHLS serves file (for example "index.m3u8") of the path named path.
	ServeHLS(w http.ResponseWriter, r *http.Request, path, file string)
}

// WebRTC serves the WHEP (viewers) and WHIP (publishers) endpoints of a
// path. session is "" for the endpoint itself (POST an offer) and the
// session id for the resource the endpoint created (PATCH, DELETE).
type WebRTC interface {
	ServeWHEP(w http.ResponseWriter, r *http.Request, path, session string)
	ServeWHIP(w http.ResponseWriter, r *http.Request, path, session string)
}

// Recordings serves the recordings of paths: the list of spans (the API's
// GET /api/v1/recordings/{path}) and the playback files under
// /{path}/recordings/ (an HLS VOD playlist, an MP4 download, the segment
// files). It answers 400, 404 and 409 itself.
type Recordings interface {
	ServeSpans(w http.ResponseWriter, r *http.Request, path string)
	ServeRecording(w http.ResponseWriter, r *http.Request, path, file string)
}

// PathInfo describes one path for the pages.
type PathInfo struct {
	Name      string      // path name, may contain '/'
	State     string      // ready | waiting | connecting | failed | idle
	Source    string      // "publisher", "demo" or a URL with credentials masked
	Tracks    []TrackInfo // the tracks of the current stream, empty when none
	Readers   int         // current readers of every kind
	HLSNotice string      // why some tracks are not in HLS, "" if none
	// WebRTCNotice says why some tracks are not sent over WebRTC (AAC, for
	// example) and warns of what browsers may stumble on; "" if nothing.
	WebRTCNotice string
}

// TrackInfo describes one track of a path's stream.
type TrackInfo struct {
	Kind   string // video | audio
	Codec  string // for example H264, H265, AAC, Opus
	Width  int    // pixels, 0 when unknown or audio
	Height int    // pixels, 0 when unknown or audio
}

// Server is the HTTP front door. Configure it with its fields, then call
// Start; Close stops it. The zero value serves on DefaultAddress with no
// paths.
type Server struct {
	// Address is the TCP address to listen on; defaults to ":8888".
	// Port 0 picks a free port (see Addr).
	Address string
	// Paths lists the paths for the pages; nil shows none.
	Paths Paths
	// HLS serves playlists and media; nil answers 404 to every media request.
	HLS HLS
	// WebRTC serves WHEP and WHIP; nil answers 404 to them.
	WebRTC WebRTC
	// Recordings serves /{path}/recordings/{file}; nil answers 404 to them.
	Recordings Recordings
	// Auth judges player pages, HLS, WHEP (read) and WHIP (publish); nil
	// lets everyone in. The API and /metrics are guarded by APIRoutes.Auth.
	Auth Authorizer
	// AllowOrigins are the origins allowed to fetch playlists and media
	// cross-origin (CORS); defaults to ["*"].
	AllowOrigins []string
	// TrustedProxies are the proxy addresses or CIDRs whose
	// X-Forwarded-For is believed for the client address; defaults to none.
	TrustedProxies []string
	// ReadHeaderTimeout bounds reading a request's headers; defaults to 10s.
	// There is deliberately no write timeout: LL-HLS playlist requests block
	// until the next part exists.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections that send no request for
	// this long; defaults to 2m.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits a request's header block; larger ones get 431.
	// Defaults to 64 KiB.
	MaxHeaderBytes int
	// OffersPerSecond limits the WHEP and WHIP offers (POST) one client
	// address may send per second, in bursts of as many; more get 429 with
	// Retry-After. 0 is unlimited.
	OffersPerSecond int
	// Logger receives the access log and server errors; defaults to
	// discarding.
	Logger *slog.Logger
	// TLSConfig, when set, serves HTTPS (with HTTP/2, which LL-HLS needs
	// for many viewers in one browser) instead of plain HTTP.
	TLSConfig *tls.Config
	// Extra, when set, adds routes to the engine before it serves (WHEP,
	// API, metrics). Routes it adds win over path names; it must not add
	// catch-all routes.
	Extra func(r *gin.Engine)

	buildOnce sync.Once
	engine    *gin.Engine
	buildErr  error
	log       *slog.Logger
	origins   []string
	pages     *pages
	offers    *offerLimiter

	mu       sync.Mutex
	started  bool
	closed   bool
	srv      *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	done     chan struct{}
	ready    atomic.Bool
	closeOne sync.Once
}

// Handler returns the server's routes as an http.Handler, for tests with
// httptest. If TrustedProxies is invalid the handler trusts no proxy and
// Start reports the error.
func (s *Server) Handler() http.Handler {
	s.build()
	return s.engine.Handler()
}

// build creates the engine once; fields are read here and not afterwards.
func (s *Server) build() {
	s.buildOnce.Do(func() {
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.engine, s.buildErr = s.newEngine()
	})
}

// Start binds Address and serves in a goroutine. It fails if the address
// cannot be bound, the configuration is invalid, or the server was already
// started or closed.
func (s *Server) Start() error {
	s.build()
	if s.buildErr != nil {
		return s.buildErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("web: server closed")
	case s.started:
		return errors.New("web: server already started")
	}
	addr := s.Address
	if addr == "" {
		addr = DefaultAddress
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	rht := s.ReadHeaderTimeout
	if rht <= 0 {
		rht = DefaultReadHeaderTimeout
	}
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	mhb := s.MaxHeaderBytes
	if mhb <= 0 {
		mhb = DefaultMaxHeaderBytes
	}
	// Every request context derives from base, so Close can wake handlers
	// that wait (LL-HLS blocking playlist reloads) instead of waiting for
	// them.
	base, cancel := context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.engine.Handler(),
		ReadHeaderTimeout: rht,
		IdleTimeout:       idle,
		MaxHeaderBytes:    mhb,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         s.TLSConfig,
	}
	s.ln = ln
	s.cancel = cancel
	s.done = make(chan struct{})
	s.started = true
	go s.serve(s.srv, ln, s.done)
	s.ready.Store(true)
	s.log.Info("HTTP listener ready", "address", ln.Addr().String(), "tls", s.TLSConfig != nil)
	return nil
}

// serve runs the http.Server until Close.
func (s *Server) serve(srv *http.Server, ln net.Listener, done chan struct{}) {
	defer close(done)
	var err error
	if srv.TLSConfig != nil {
		// The certificate comes from TLSConfig; ServeTLS adds HTTP/2.
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http server stopped", "error", err)
	}
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, cancels the contexts of in-flight requests, lets
// them finish for a bounded time, then cuts what remains and waits for the
// serving goroutine. It is idempotent and safe before Start.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		s.mu.Lock()
		s.closed = true
		srv, cancel, done := s.srv, s.cancel, s.done
		s.mu.Unlock()
		s.ready.Store(false)
		if srv == nil {
			return
		}
		cancel()
		ctx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
		defer stop()
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("http server shutdown incomplete, closing connections", "error", err)
			_ = srv.Close()
		}
		<-done
		s.log.Info("http server closed")
	})
}
