// Package webrtc serves the streams of the hub to browsers over WebRTC
// (WHEP, draft-ietf-wish-whep) and takes streams from browsers and encoders
// (WHIP, RFC 9725); both share the resource model of RFC 9725. One pion API is built per process: one UDP port
// (ICE UDP mux) and ICE-TCP on the same number carry every peer. Each viewer
// gets its own PeerConnection, tracks and hub reader, so a slow viewer only
// hurts itself. The web layer mounts ServeWHEP and ServeWHIP; CORS,
// authentication and the HTTP server are its job.
package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

// ErrClosed is returned (and answered with 503) once the server is closing.
var ErrClosed = errors.New("the WebRTC server is closed")

// Paths gives sessions their hub paths; *hub.Hub implements it.
type Paths interface {
	// Acquire returns the path called name with a reference the session gives back with Release.
	Acquire(name string) (*hub.Path, error)
}

// Server answers WHEP viewers and WHIP publishers. Configure it by fields,
// then Start it; the web layer mounts ServeWHEP and ServeWHIP.
type Server struct {
	// Paths gives access to the hub's paths. Required.
	Paths Paths
	// Address is where ICE listens: one UDP port for every peer and ICE-TCP
	// on the same number. Defaults to ":8189". With a host ("10.0.0.5:8189")
	// only that address is used; without one every IPv4 interface is.
	// Port 0 picks a free number that UDP and TCP share (tests).
	Address string
	// ICEServers are the STUN/TURN servers handed to clients (Link headers);
	// the server's own peers use the TURN ones.
	ICEServers []ICEServer
	// AdditionalHosts are extra host candidate IPs announced next to the
	// gathered ones (a public IP, the docker host's address).
	AdditionalHosts []string
	// DisableMDNS turns mDNS off entirely (containers, where multicast is
	// useless). Otherwise the server resolves browsers' .local candidates but
	// never announces .local names of its own.
	DisableMDNS bool
	// MaxBodyBytes limits offers and trickle bodies; larger ones get 413.
	// Defaults to 64 KiB.
	MaxBodyBytes int64
	// MaxSessions limits the viewers and publishers open at once; an offer
	// over it gets 503. 0 is unlimited.
	MaxSessions int
	// GatherTimeout bounds the wait for ICE gathering before an answer is
	// sent (non-trickle answers). Defaults to 5s.
	GatherTimeout time.Duration
	// ConnectTimeout ends sessions whose peer does not connect in time.
	// Defaults to 20s.
	ConnectTimeout time.Duration
	// DisconnectTimeout ends sessions whose peer stays disconnected this
	// long. Defaults to 10s.
	DisconnectTimeout time.Duration
	// TrackWait is how long a WHIP publisher waits for the rest of its
	// tracks once the first one sends media. Defaults to 2s.
	TrackWait time.Duration
	// KeyframeInterval is how often a WHIP publisher's video senders are
	// asked for a keyframe (PLI), so new viewers need not wait long.
	// Defaults to 2s; negative turns it off.
	KeyframeInterval time.Duration
	// Logger receives the server's logs. Defaults to slog.Default().
	Logger *slog.Logger

	api *pwebrtc.API
	// viewerAPI makes the WHEP viewers' peer connections (api.go).
	viewerAPI *pwebrtc.API
	muxes     *muxes
	ctx       context.Context
	cancel    context.CancelFunc

	mu         sync.Mutex
	started    bool
	closed     bool
	viewers    map[string]*session
	publishers map[string]*publisher
	paths      map[string]*pathInfo
	// sentClosed is the RTP bytes the closed viewers of each path were
	// sent; it holds the paths that had a viewer.
	sentClosed map[string]uint64
	// admitting counts offers past admit whose session is not yet in
	// viewers or publishers (limits.go).
	admitting int
	wg        sync.WaitGroup
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Server) setDefaults() {
	if s.Address == "" {
		s.Address = ":8189"
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 64 << 10
	}
	if s.GatherTimeout <= 0 {
		s.GatherTimeout = 5 * time.Second
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = 20 * time.Second
	}
	if s.DisconnectTimeout <= 0 {
		s.DisconnectTimeout = 10 * time.Second
	}
	if s.TrackWait <= 0 {
		s.TrackWait = 2 * time.Second
	}
	if s.KeyframeInterval == 0 {
		s.KeyframeInterval = 2 * time.Second
	}
}

// Start binds the ICE ports and builds the pion API.
func (s *Server) Start() error {
	if s.Paths == nil {
		return errors.New("webrtc: Paths is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("webrtc: server already started")
	}
	s.setDefaults()
	for _, is := range s.ICEServers {
		if err := is.validate(); err != nil {
			return fmt.Errorf("webrtc: %w", err)
		}
	}
	m, err := listen(s.Address, s.logger())
	if err != nil {
		return fmt.Errorf("webrtc: %w", err)
	}
	api, err := s.buildAPI(m)
	if err == nil {
		s.viewerAPI, err = s.buildViewerAPI(m)
	}
	if err != nil {
		m.close()
		return fmt.Errorf("webrtc: %w", err)
	}
	s.muxes, s.api = m, api
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.viewers = make(map[string]*session)
	s.publishers = make(map[string]*publisher)
	s.paths = make(map[string]*pathInfo)
	s.sentClosed = make(map[string]uint64)
	s.started = true
	s.logger().Info("WebRTC listener ready", "address", m.udpAddr, "tcp", m.tcpAddr)
	return nil
}

// Addr returns the bound ICE addresses (nil before Start).
func (s *Server) Addr() (udp, tcp net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muxes == nil {
		return nil, nil
	}
	return s.muxes.udpAddr, s.muxes.tcpAddr
}

// Close ends every viewer session and publisher, closes the ports and waits
// for the server's goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	s.cancel()
	s.wg.Wait()
	s.muxes.close()
}

func (s *Server) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return ErrClosed
	}
	return nil
}

// iceConfig is the configuration of every PeerConnection. The server's own
// peers use only the TURN servers: pion gathers STUN (server-reflexive)
// candidates from ephemeral sockets, not through the one ICE port, so the
// public address belongs in AdditionalHosts instead; clients get every
// server in the Link headers.
func (s *Server) iceConfig() pwebrtc.Configuration {
	now := time.Now()
	var servers []pwebrtc.ICEServer
	for _, is := range s.ICEServers {
		turn := is
		turn.URLs = nil
		for _, u := range is.URLs {
			if strings.HasPrefix(u, "turn") {
				turn.URLs = append(turn.URLs, u)
			}
		}
		if len(turn.URLs) > 0 {
			servers = append(servers, turn.pion(now))
		}
	}
	return pwebrtc.Configuration{ICEServers: servers}
}
