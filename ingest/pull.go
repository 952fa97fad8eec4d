package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// ErrSilent means the source kept its connection open but sent no RTP packet within ReadTimeout.
var ErrSilent = errors.New("no RTP packets received within the read timeout")

// ErrNoMedia means the source described no media that could be set up.
var ErrNoMedia = errors.New("no media could be set up")

// Pull pulls one RTSP source (a camera or another server) into a Target and keeps
// it there: when the session fails it closes the publication, backs off and retries.
// Configure it with its fields, then call Run; Status may be called at any time.
type Pull struct {
	// URL is the rtsp:// or rtsps:// address of the source. Credentials in it are
	// used for Basic or Digest authentication and never logged.
	URL string
	// Protocol is the RTP transport: "auto" or "" (UDP, falling back to TCP), "tcp",
	// "udp" or "multicast". It defaults to "auto".
	Protocol string
	// Fingerprint is the SHA-256 of the rtsps server certificate in hex (colons ignored).
	// When set, it replaces the usual certificate chain verification.
	Fingerprint string
	// SkipVerify accepts any rtsps server certificate. It defaults to false.
	SkipVerify bool
	// ReadTimeout bounds each RTSP request and declares a source dead when no RTP
	// packet arrives for this long. It defaults to 10s.
	ReadTimeout time.Duration
	// Backoff spaces reconnect attempts. Its zero value uses its defaults.
	Backoff Backoff
	// Target receives the session description and packets.
	Target Target
	// Logger receives lifecycle logs; the caller adds path attributes.
	// It defaults to slog.Default().
	Logger *slog.Logger

	status pullStatus
	// lost counts the packets lost over every session (Status.PacketsLost).
	lost atomic.Uint64
}

// pullConfig is the validated form of the Pull fields, built once per Run.
type pullConfig struct {
	url         *base.URL
	maskedURL   string
	secrets     []string
	protocol    *gortsplib.Protocol
	tlsConfig   *tls.Config
	readTimeout time.Duration
}

func (p *Pull) config() (*pullConfig, error) {
	if p.Target == nil {
		return nil, errors.New("pull: no target")
	}
	if scheme, _, _ := strings.Cut(p.URL, "://"); scheme != "rtsp" && scheme != "rtsps" {
		return nil, fmt.Errorf("pull: unsupported URL scheme in %q (want rtsp or rtsps)", maskURL(p.URL))
	}
	u, err := base.ParseURL(p.URL)
	if err != nil {
		// the parse error may quote the URL, credentials included
		return nil, fmt.Errorf("pull: invalid URL %q", maskURL(p.URL))
	}
	cfg := &pullConfig{
		url:         u,
		maskedURL:   maskURL(p.URL),
		secrets:     urlSecrets(u),
		readTimeout: p.ReadTimeout,
	}
	if cfg.readTimeout <= 0 {
		cfg.readTimeout = 10 * time.Second
	}

	switch strings.ToLower(p.Protocol) {
	case "", "auto":
	case "tcp":
		cfg.protocol = ptrOf(gortsplib.ProtocolTCP)
	case "udp":
		cfg.protocol = ptrOf(gortsplib.ProtocolUDP)
	case "multicast":
		cfg.protocol = ptrOf(gortsplib.ProtocolUDPMulticast)
	default:
		return nil, fmt.Errorf("pull: unknown protocol %q (want auto, tcp, udp or multicast)", p.Protocol)
	}

	cfg.tlsConfig, err = tlsConfigFor(p.Fingerprint, p.SkipVerify)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	return cfg, nil
}

func ptrOf[T any](v T) *T { return &v }

func (p *Pull) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Run pulls the source until ctx is cancelled, reconnecting with backoff whenever
// the session fails, also when the very first connect fails. It returns nil once
// ctx is done, or at once with an error when the fields are invalid.
func (p *Pull) Run(ctx context.Context) error {
	log := p.logger()
	cfg, err := p.config()
	if err != nil {
		p.status.set(func(s *Status) {
			s.State = StateStopped
			s.LastError = err.Error()
		})
		return err
	}
	defer p.status.set(func(s *Status) {
		s.State = StateStopped
		s.NextRetry = time.Time{}
		s.Tracks = nil
	})

	bo := p.Backoff
	for attempt := 0; ; attempt++ {
		p.status.set(func(s *Status) {
			s.State = StateConnecting
			s.NextRetry = time.Time{}
			s.Reconnects = attempt
		})
		log.Info("connecting", "url", cfg.maskedURL)

		upFor, err := p.runSession(ctx, cfg, log)
		if ctx.Err() != nil {
			return nil
		}
		msg := redact(err.Error(), cfg.secrets)
		if upFor > 0 {
			log.Warn("source down", "reason", msg, "up", upFor.Round(time.Millisecond))
		} else {
			log.Warn("source down", "reason", msg)
		}

		bo.Succeeded(upFor)
		delay := bo.Next()
		p.status.set(func(s *Status) {
			s.State = StateWaiting
			s.LastError = msg
			s.NextRetry = time.Now().Add(delay)
			s.Tracks = nil
		})
		log.Info("next retry in "+delay.Round(time.Millisecond).String(), "delay", delay)

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Status returns a snapshot of the source's state. It is safe for concurrent use.
func (p *Pull) Status() Status {
	s := p.status.get()
	s.PacketsLost = p.lost.Load()
	return s
}
