// Package rtspserver is streamgate's native RTSP face: readers get the
// original RTP payloads with per-session PLAY, PAUSE and TEARDOWN over TCP,
// UDP and multicast; publishers push with ANNOUNCE and RECORD. Paths and
// their streams come from the hub; this package only speaks RTSP.
package rtspserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	rtspauth "github.com/bluenviron/gortsplib/v5/pkg/auth"

	"github.com/streamgate/streamgate/auth"
	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

// Paths is what the server needs of the hub.
type Paths interface {
	Acquire(name string) (*hub.Path, error)
}

// Authorizer decides who may read (DESCRIBE, SETUP) and publish
// (ANNOUNCE); the gateway passes its *auth.Authorizer.
type Authorizer interface {
	Authorize(ctx context.Context, req auth.Request) (auth.Decision, *auth.Identity, error)
}

// Credentials are the user and password a path asks of RTSP readers or
// publishers (the legacy per-path readUser/publishUser keys); an empty
// User means the path asks for none.
type Credentials struct {
	User string
	Pass string
}

// Server serves RTSP, and RTSPS when a TLS config is given. Configure it by
// fields, then Start it.
type Server struct {
	// Address is the RTSP (TCP) listener, e.g. ":8554". Required.
	Address string
	// RTPAddress and RTCPAddress enable the UDP transport; both or neither.
	RTPAddress  string
	RTCPAddress string
	// MulticastIPRange with the two ports enables UDP multicast.
	MulticastIPRange  string
	MulticastRTPPort  int
	MulticastRTCPPort int
	// RTSPSAddress with TLSConfig enables RTSPS on its own listener.
	RTSPSAddress string
	TLSConfig    *tls.Config
	// ReadTimeout and WriteTimeout bound network operations. Default to 10s.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// SessionTimeout closes sessions that stay silent. Defaults to 60s.
	SessionTimeout time.Duration
	// WriteQueueSize is each session's outgoing packet queue (a power of
	// two) where gortsplib writes the media (RTSPS with SRTP, multicast).
	// It must hold a whole cached GOP. Defaults to 4096.
	WriteQueueSize int
	// MaxSessions limits the sessions (readers and publishers) open at
	// once; a SETUP or ANNOUNCE that would open one more gets 503 and the
	// session is closed. 0 is unlimited.
	MaxSessions int
	// WriteQueueBytes bounds the media a plain TCP or UDP reader session
	// may have queued: beyond it packets are dropped and counted. It must
	// hold a whole cached GOP. Defaults to 4 MiB.
	WriteQueueBytes int
	// ReaderQueueSize is each reader's queue of units in the hub. Defaults to 4096.
	ReaderQueueSize int
	// AuthMethods are the accepted authentication schemes, offered in
	// every challenge. Defaults to Basic and Digest.
	AuthMethods []rtspauth.VerifyMethod
	// Paths resolves path names. Required.
	Paths Paths
	// Timeshift returns the time range a path keeps for pause-and-resume
	// and seeking (its timeshift buffer), or nil. Nil: no path keeps one.
	Timeshift func(path string) timeline.Source
	// Recordings returns a path's recordings from the segment that holds
	// t (or the first one after it): for rtsp://host/path?start=<RFC3339>
	// and for PLAY with a clock Range outside the timeshift window. Nil:
	// nothing is recorded.
	Recordings func(path string, t time.Time) (timeline.Source, error)
	// Authorizer judges every DESCRIBE and SETUP (read) and ANNOUNCE
	// (publish). Nil lets every request in that Credentials does not stop.
	Authorizer Authorizer
	// Credentials returns a path's legacy read and publish credentials.
	// Where a path has them, a request is let in with exactly those
	// credentials, or when the Authorizer allows it for an authenticated
	// user; being allowed anonymously is not enough. Nil: no path has any.
	Credentials func(path string) (read, publish Credentials)
	// Logger receives the server's logs. Defaults to slog.Default().
	Logger *slog.Logger

	plain   *gortsplib.Server
	secure  *gortsplib.Server
	addr    net.Addr
	tlsAddr net.Addr

	mu sync.Mutex
	// udpRTP and udpRTCP are the unicast UDP sockets (output.go).
	udpRTP, udpRTCP *net.UDPConn
	// chunks are the sessions' queue buffers (output_queue.go).
	chunks chunkPool
	// srPeriod is the RTCP sender report interval of the sessions' own
	// writers. Defaults to 10s, gortsplib's.
	srPeriod time.Duration

	streams map[streamKey]*gortsplib.ServerStream
	feeds   map[*hub.Stream]*multicastFeed
	// sessions are the open sessions by id (sessions.go).
	sessions map[string]*session
	// admitted are the sessions counted against MaxSessions (limits.go).
	admitted map[*gortsplib.ServerSession]struct{}
	closed   bool
	wg       sync.WaitGroup
	done     chan struct{}
	ctx      context.Context // cancelled by Close, for waits inside requests
	cancel   context.CancelFunc
}

type streamKey struct {
	srv       *gortsplib.Server
	stream    *hub.Stream
	multicast bool
}

// Start binds the listeners and starts serving.
func (s *Server) Start() error {
	if s.Paths == nil {
		return errors.New("rtspserver: Paths is required")
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = 10 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 10 * time.Second
	}
	if s.SessionTimeout <= 0 {
		s.SessionTimeout = 60 * time.Second
	}
	if s.WriteQueueSize <= 0 {
		s.WriteQueueSize = 4096
	}
	if s.WriteQueueBytes <= 0 {
		s.WriteQueueBytes = 4 << 20
	}
	if s.srPeriod <= 0 {
		s.srPeriod = 10 * time.Second
	}
	if s.ReaderQueueSize <= 0 {
		s.ReaderQueueSize = 4096
	}
	if len(s.AuthMethods) == 0 {
		s.AuthMethods = []rtspauth.VerifyMethod{rtspauth.VerifyMethodBasic, rtspauth.VerifyMethodDigestMD5}
	}
	s.streams = make(map[streamKey]*gortsplib.ServerStream)
	s.feeds = make(map[*hub.Stream]*multicastFeed)
	s.done = make(chan struct{})
	s.ctx, s.cancel = context.WithCancel(context.Background())

	h := &handler{s: s}
	s.plain = s.newServer(h, s.Address, &s.addr)
	s.plain.UDPRTPAddress = s.RTPAddress
	s.plain.UDPRTCPAddress = s.RTCPAddress
	s.plain.MulticastIPRange = s.MulticastIPRange
	s.plain.MulticastRTPPort = s.MulticastRTPPort
	s.plain.MulticastRTCPPort = s.MulticastRTCPPort
	if err := s.plain.Start(); err != nil {
		s.plain = nil // not started: Close must not close it
		return fmt.Errorf("rtsp listener %s: %w", s.Address, err)
	}
	if s.TLSConfig != nil && s.RTSPSAddress != "" {
		s.secure = s.newServer(h, s.RTSPSAddress, &s.tlsAddr)
		s.secure.TLSConfig = s.TLSConfig
		s.secure.TLSListen = func(network, address string, conf *tls.Config) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			s.tlsAddr = l.Addr()
			return tls.NewListener(mediaListener{l}, conf), nil
		}
		if err := s.secure.Start(); err != nil {
			s.plain.Close()
			s.plain, s.secure = nil, nil // Close has nothing left to close
			return fmt.Errorf("rtsps listener %s: %w", s.RTSPSAddress, err)
		}
	}
	s.Logger.Info("RTSP listener ready", "address", s.addr.String())
	if s.secure != nil {
		s.Logger.Info("RTSPS listener ready", "address", s.tlsAddr.String())
	}
	return nil
}

func (s *Server) newServer(h *handler, address string, bound *net.Addr) *gortsplib.Server {
	return &gortsplib.Server{
		Handler:        h,
		RTSPAddress:    address,
		ReadTimeout:    s.ReadTimeout,
		WriteTimeout:   s.WriteTimeout,
		IdleTimeout:    s.SessionTimeout,
		WriteQueueSize: s.WriteQueueSize,
		AuthMethods:    s.AuthMethods,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			*bound = l.Addr()
			return mediaListener{l}, nil
		},
		ListenPacket: s.listenPacket,
	}
}

// Addr is the bound RTSP address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.addr }

// TLSAddr is the bound RTSPS address, or nil.
func (s *Server) TLSAddr() net.Addr { return s.tlsAddr }

// Close says goodbye to readers (RTCP BYE), closes every session and the
// listeners, and waits for the server's goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed || s.plain == nil {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.cancel()
	streams := make([]*gortsplib.ServerStream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	feeds := make([]*multicastFeed, 0, len(s.feeds))
	for _, f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()

	for _, f := range feeds {
		f.reader.Close()
	}
	for _, st := range streams {
		st.Close()
	}
	if s.secure != nil {
		s.secure.Close()
	}
	s.plain.Close()
	s.wg.Wait()
}

// serverStream returns the gortsplib stream that serves hub stream st on
// srv, creating it (and the goroutine that closes it with st) on first use.
func (s *Server) serverStream(srv *gortsplib.Server, st *hub.Stream, multicast bool) (*gortsplib.ServerStream, error) {
	key := streamKey{srv: srv, stream: st, multicast: multicast}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("server is closing")
	}
	if rs := s.streams[key]; rs != nil {
		return rs, nil
	}
	select {
	case <-st.Done():
		return nil, hub.ErrNoStream
	default:
	}
	rs := &gortsplib.ServerStream{Server: srv, Desc: st.Desc}
	if err := rs.Initialize(); err != nil {
		return nil, fmt.Errorf("serve stream: %w", err)
	}
	s.streams[key] = rs
	if multicast {
		if err := s.startFeedLocked(st, rs); err != nil {
			rs.Close()
			delete(s.streams, key)
			return nil, err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-st.Done():
		case <-s.done:
			return
		}
		s.mu.Lock()
		delete(s.streams, key)
		s.mu.Unlock()
		rs.Close()
	}()
	return rs, nil
}

// errNotRecorded answers a request for recordings that do not exist.
var errNotRecorded = errors.New("no recordings at that time")

// recordedSource returns the recordings of a path at start, for a session
// opened on them.
func (s *Server) recordedSource(name string, start time.Time) (timeline.Source, error) {
	if s.Recordings == nil {
		return nil, fmt.Errorf("path %s: %w", name, errNotRecorded)
	}
	src, err := s.Recordings(name, start)
	if err != nil {
		return nil, fmt.Errorf("path %s: %w: %w", name, errNotRecorded, err)
	}
	if st, end := src.Span(); start.Before(st) && st.Sub(start) > time.Minute || start.After(end) {
		return nil, fmt.Errorf("path %s: %w: recordings span %s – %s", name, errNotRecorded,
			st.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	return src, nil
}
