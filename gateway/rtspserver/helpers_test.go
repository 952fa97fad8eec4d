package rtspserver

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeshift"
)

// testTimeout bounds every wait of a test, so a hang fails with a message
// instead of running into the package's -timeout.
const testTimeout = 20 * time.Second

// testCtx is a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logSink is a slog handler's output the tests can wait on: the server's log
// is how a test observes what happened inside a session.
type logSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newLogSink() *logSink { return &logSink{notify: make(chan struct{}, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

// count is the number of log lines that contain every one of parts.
func (l *logSink) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// waitCount waits until at least n lines contain every one of parts.
func (l *logSink) waitCount(t testing.TB, n int, parts ...string) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for l.count(parts...) < n {
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d log lines with %q; log:\n%s", n, parts, l.String())
		}
	}
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// envConfig describes the server and hub a test runs against.
type envConfig struct {
	// paths are the configured paths; Extra may hold a *synthConf to give
	// a HasSource path a synthetic source.
	paths map[string]hub.PathConf
	// udp enables the UDP transport on a free port pair.
	udp bool
	// multicast enables UDP multicast in 224.1.0.0/16 on a free port pair.
	multicast bool
	// credentials is the server's Credentials func.
	credentials func(path string) (read, publish Credentials)
	// sessionTimeout is the server's SessionTimeout.
	sessionTimeout time.Duration
	// host is the IP the server listens on. Defaults to 127.0.0.1.
	host string
	// timeshift gives every listed path a timeshift buffer of that window.
	timeshift map[string]time.Duration
	// writeQueueBytes and srPeriod set the server's WriteQueueBytes and
	// sender report interval (output tests).
	writeQueueBytes int
	srPeriod        time.Duration
}

// testEnv is a running hub and RTSP server on loopback.
type testEnv struct {
	hub  *hub.Hub
	keep *timeshift.Keeper
	srv  *Server
	logs *logSink
	host string // "127.0.0.1:port"
}

// url is the RTSP URL of a path on the test server.
func (e *testEnv) url(path string) string { return "rtsp://" + e.host + "/" + path }

func newEnv(t testing.TB, cfg envConfig) *testEnv {
	t.Helper()
	logs := newLogSink()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := &hub.Hub{
		Resolve: func(name string) (hub.PathConf, bool) {
			c, ok := cfg.paths[name]
			return c, ok
		},
		NewSource: func(p *hub.Path) hub.Runner {
			if sc, ok := p.Conf().Extra.(*synthConf); ok {
				return &synthSource{path: p, conf: sc}
			}
			return nil
		},
		Logger: logger,
	}
	require.NoError(t, h.Start())
	keep := &timeshift.Keeper{Paths: h, Logger: logger}
	ts := make(map[string]timeshift.Settings)
	for name, w := range cfg.timeshift {
		ts[name] = timeshift.Settings{Window: w}
	}
	keep.Set(ts)

	if cfg.host == "" {
		cfg.host = "127.0.0.1"
	}
	var srv *Server
	var err error
	// A free port found by binding can be taken again before the server
	// binds it; try a few pairs.
	for range 10 {
		srv = &Server{
			Address:        net.JoinHostPort(cfg.host, "0"),
			Paths:          h,
			Credentials:    cfg.credentials,
			Timeshift:      keep.Source,
			Logger:         logger,
			SessionTimeout: cfg.sessionTimeout,

			WriteQueueBytes: cfg.writeQueueBytes,
			srPeriod:        cfg.srPeriod,
		}
		if cfg.udp {
			rtp := freeUDPPair(t, cfg.host)
			srv.RTPAddress = net.JoinHostPort(cfg.host, strconv.Itoa(rtp))
			srv.RTCPAddress = net.JoinHostPort(cfg.host, strconv.Itoa(rtp+1))
		}
		if cfg.multicast {
			srv.MulticastIPRange = "224.1.0.0/16"
			srv.MulticastRTPPort = freeUDPPair(t, "")
			srv.MulticastRTCPPort = srv.MulticastRTPPort + 1
		}
		if err = srv.Start(); err == nil {
			break
		}
	}
	if err != nil {
		keep.Close()
		h.Close()
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		srv.Close()
		keep.Close()
		h.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testEnv{hub: h, keep: keep, srv: srv, logs: logs, host: srv.Addr().String()}
}

// freeUDPPair finds an even port p in 20000–60000 where p and p+1 are both
// free on host, and releases them for the caller.
func freeUDPPair(t testing.TB, host string) int {
	t.Helper()
	for range 200 {
		p := 20000 + 2*rand.IntN(20000)
		a, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(p+1)))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	t.Fatal("no free UDP port pair found")
	return 0
}

// synthConf configures the synthetic source of a HasSource path.
type synthConf struct {
	gop int // frames from one IDR to the next
	fps int // frames per second (real-time pace)
}

// synthSource is a fake gateway source (an RTSP pull, the demo) that
// publishes a synthetic H.264 + AAC stream through PublishSource.
type synthSource struct {
	path *hub.Path
	conf *synthConf
}

func (s *synthSource) Run(ctx context.Context) {
	desc := avDesc(testSPS)
	pub, err := s.path.PublishSource(desc)
	if err != nil {
		return
	}
	defer pub.Close()
	gen := &h264Synth{GOP: s.conf.gop}
	aud := &aacSynth{}
	tick := time.NewTicker(time.Second / time.Duration(s.conf.fps))
	defer tick.Stop()
	for {
		fr := gen.frame()
		for _, pkt := range fr.pkts {
			pub.WriteRTP(desc.Medias[0], pkt, fr.pts, time.Time{})
		}
		for aud.pts() <= fr.pts*48000/90000 {
			pkt, pts := aud.packet()
			pub.WriteRTP(desc.Medias[1], pkt, pts, time.Time{})
		}
		select {
		case <-ctx.Done():
			return
		case <-pub.Done():
			return
		case <-tick.C:
		}
	}
}

// waitFor receives from ch within testTimeout.
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
	}
	var zero T
	return zero
}
