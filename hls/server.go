// Package hls serves the streams of the hub over HTTP Live Streaming: one
// gohlslib muxer per watched path, created by the first playlist request,
// primed from the hub's recent GOPs so the first playlist comes at once, and
// closed when nobody asked for anything for a while. The web layer mounts
// Server.ServeHLS; CORS, authentication and the HTTP server are its job.
package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamgate/streamgate/gateway/hub"
)

// ensureRetry is how long an always-on path waits before it tries again to
// start its muxer (no stream yet, no track to carry).
const ensureRetry = time.Second

// Paths gives muxers their hub paths; *hub.Hub implements it.
type Paths interface {
	// Acquire returns the path called name with a reference the muxer gives back with Release.
	Acquire(name string) (*hub.Path, error)
}

// PathStatus is what the HLS side of a path is doing, for the web page and API.
type PathStatus struct {
	// Running is true while the muxer is up (false while it starts).
	Running bool `json:"running"`
	// AlwaysOn is true for a muxer kept without requests.
	AlwaysOn bool `json:"alwaysOn"`
	// Variant is the muxer's variant: "lowLatency", "fmp4" or "mpegts".
	Variant string `json:"variant"`
	// Tracks are the tracks the muxer carries.
	Tracks []TrackStatus `json:"tracks"`
	// LeftOut are the tracks the variant cannot carry, each with the reason.
	LeftOut []TrackStatus `json:"leftOut,omitempty"`
	// BytesSent counts the response bytes (playlists, init files, segments,
	// parts) ServeHLS wrote for the path over every muxer it had; it does
	// not go down when a muxer closes.
	BytesSent uint64 `json:"bytesSent"`
}

// Server makes HLS out of hub streams. Configure it by fields, then Start it;
// the web layer mounts ServeHLS.
type Server struct {
	// Paths gives access to the hub's paths. Required.
	Paths Paths
	// Settings returns the settings of a path; nil means defaults for every path.
	Settings func(path string) Settings
	// Logger receives the server's logs. Defaults to slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	muxers  map[string]*muxer
	keepers map[string]bool
	// sent counts the response bytes written per path; it holds the paths
	// that had a muxer, and outlives them.
	sent map[string]*atomic.Uint64

	// wg counts muxer owners, always-on keepers and the goroutines running
	// gohlslib's Handle.
	wg sync.WaitGroup
	// handlers counts the goroutines running gohlslib's Handle, including
	// those whose client went away (they end when the muxer answers or closes).
	handlers atomic.Int64
}

// errNoMuxer is why a segment or part of a path without a muxer is not found.
var errNoMuxer = errors.New("no HLS muxer is running for this path")

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Start makes the server ready to serve.
func (s *Server) Start() error {
	if s.Paths == nil {
		return errors.New("hls: Paths is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("hls: server already started")
	}
	s.started = true
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.muxers = make(map[string]*muxer)
	s.keepers = make(map[string]bool)
	s.sent = make(map[string]*atomic.Uint64)
	return nil
}

// Close closes every muxer, releases every blocked request and waits for the
// server's goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	muxers := make([]*muxer, 0, len(s.muxers))
	for _, m := range s.muxers {
		muxers = append(muxers, m)
	}
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	s.cancel()
	for _, m := range muxers {
		m.requestClose()
	}
	s.wg.Wait()
}

// Ensure starts the muxer of an always-on path now and keeps one running
// until Close: a muxer that ends with its stream is replaced when a stream
// is back. It holds a reference on the path, so an on-demand source keeps
// running. It returns an error only when the path does not exist or the
// server is closed; a path without a stream yet is not an error.
func (s *Server) Ensure(path string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.mu.Lock()
	exists := s.keepers[path]
	s.mu.Unlock()
	if exists {
		return nil
	}
	p, err := s.Paths.Acquire(path)
	if err != nil {
		return fmt.Errorf("hls: always-on path %q: %w", path, err)
	}
	s.mu.Lock()
	if s.closed || s.keepers[path] {
		closed := s.closed
		s.mu.Unlock()
		p.Release()
		if closed {
			return ErrClosed
		}
		return nil
	}
	s.keepers[path] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go s.keep(path, p)
	return nil
}

// keep runs a muxer for an always-on path until the server closes.
func (s *Server) keep(name string, p *hub.Path) {
	defer s.wg.Done()
	defer p.Release()
	logger := s.logger().With("path", name, "component", "hls")
	var lastErr string
	for {
		m, err := s.muxerFor(s.ctx, name, true)
		if err == nil {
			m.alwaysOn.Store(true)
			lastErr = ""
			select {
			case <-m.closed:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		if err.Error() != lastErr {
			lastErr = err.Error()
			logger.Info("always-on HLS muxer cannot start yet; retrying", "error", err, "every", ensureRetry)
		}
		t := time.NewTimer(ensureRetry)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
}

// Status describes the muxer of path; false when no muxer exists for it.
// BytesSent is set either way: the path's total over its past muxers.
func (s *Server) Status(path string) (PathStatus, bool) {
	s.mu.Lock()
	m := s.muxers[path]
	var sent uint64
	if c := s.sent[path]; c != nil {
		sent = c.Load()
	}
	s.mu.Unlock()
	if m == nil {
		return PathStatus{BytesSent: sent}, false
	}
	st := m.status()
	st.BytesSent = sent
	return st, true
}

// sentCounterLocked returns the byte counter of path, made on first use.
// s.mu is held.
func (s *Server) sentCounterLocked(path string) *atomic.Uint64 {
	c := s.sent[path]
	if c == nil {
		c = new(atomic.Uint64)
		s.sent[path] = c
	}
	return c
}

func (s *Server) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return ErrClosed
	}
	return nil
}

func (s *Server) settingsFor(name string) Settings {
	if s.Settings == nil {
		return Settings{}.withDefaults()
	}
	return s.Settings(name).withDefaults()
}

// muxerFor returns the running muxer of a path. With create, a path without
// one gets one (the caller waits for its stream, within ctx); concurrent
// callers share the muxer being started.
func (s *Server) muxerFor(ctx context.Context, name string, create bool) (*muxer, error) {
	for {
		s.mu.Lock()
		if !s.started || s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		m := s.muxers[name]
		if m == nil {
			if !create {
				s.mu.Unlock()
				return nil, errNoMuxer
			}
			m = newMuxer(s, name, s.settingsFor(name))
			s.muxers[name] = m
			s.wg.Add(1) // released by run, or below when start fails
			s.mu.Unlock()
			if err := s.startMuxer(ctx, m); err != nil {
				return nil, err
			}
			return m, nil
		}
		s.mu.Unlock()
		select {
		case <-m.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if m.err != nil {
			// The request that started the muxer went away: try again for this one.
			if isContextErr(m.err) && ctx.Err() == nil {
				continue
			}
			return nil, m.err
		}
		select {
		case <-m.closed:
			if create {
				continue // closing: the next one is made for us
			}
			return nil, errNoMuxer
		default:
			return m, nil
		}
	}
}

// startMuxer starts m within ctx (cut short by Close), then hands it to run.
func (s *Server) startMuxer(ctx context.Context, m *muxer) error {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	err := m.start(ctx)
	stop()
	cancel()
	if err != nil {
		m.err = err
		s.forget(m)
		close(m.ready)
		close(m.closed)
		s.wg.Done()
		return err
	}
	// Only a muxer that started gets a counter, so requests for paths that
	// do not exist cannot grow the map.
	s.mu.Lock()
	m.sent = s.sentCounterLocked(m.name)
	s.mu.Unlock()
	close(m.ready)
	go m.run()
	return nil
}

// forget removes m from the muxers, so the next request starts a new one.
func (s *Server) forget(m *muxer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muxers[m.name] == m {
		delete(s.muxers, m.name)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
