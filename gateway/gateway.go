package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	rtspauth "github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/streamgate/streamgate/auth"
	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/rtspserver"
	"github.com/streamgate/streamgate/gateway/timeshift"
	"github.com/streamgate/streamgate/hls"
	"github.com/streamgate/streamgate/ingest"
	"github.com/streamgate/streamgate/internal/certfile"
	"github.com/streamgate/streamgate/record"
	"github.com/streamgate/streamgate/web"
	"github.com/streamgate/streamgate/webrtc"
)

// ShutdownTimeout bounds how long Run waits for components to stop.
const ShutdownTimeout = 5 * time.Second

// Gateway wires the hub, the sources and the servers together from a Config.
type Gateway struct {
	// Config is the validated configuration. Required.
	Config *Config
	// Logger receives every log line. Defaults to slog.Default().
	Logger *slog.Logger
	// SummaryPeriod is how often a summary line of every path with a
	// stream is logged (readers, bytes per second, drops). Defaults to 1m.
	SummaryPeriod time.Duration

	auth  *auth.Authorizer
	hub   *hub.Hub
	rtsp  *rtspserver.Server
	hls   *hls.Server
	rtc   *webrtc.Server
	web   *web.Server
	rec   *record.Store
	pulls pulls
	live  liveConfig
	// timeshift keeps the paths' timeshift buffers (timeshift.go).
	timeshift *timeshift.Keeper
	// summary logs the periodic path summaries (summary.go).
	summary *summaryLoop
	// rates keeps the incoming bitrate the last summary measured (summary.go).
	rates pathRates
}

// Start builds and starts every component; on error nothing keeps running.
func (g *Gateway) Start() error {
	if g.Config == nil {
		return errors.New("gateway: Config is required")
	}
	if g.Logger == nil {
		g.Logger = slog.Default()
	}
	conf := g.Config

	// The Authorizer comes first and goes last: every server asks it.
	authz, err := auth.New(conf.Auth.AuthorizerConfig(), g.Logger.With("component", "auth"))
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	g.auth = authz
	if len(conf.Auth.Users) > 0 || conf.Auth.JWT.JWKSURL != "" || len(conf.Auth.Anonymous) == 0 {
		g.Logger.Info("authentication on", "users", len(conf.Auth.Users),
			"jwt", conf.Auth.JWT.JWKSURL != "", "anonymousRules", len(conf.Auth.Anonymous))
	}

	g.hub = &hub.Hub{
		Resolve:   g.resolve,
		NewSource: g.newSource,
		AlwaysOn:  alwaysOn(conf),
		Logger:    g.Logger,
	}
	if err := g.hub.Start(); err != nil {
		g.Close()
		return err
	}
	g.timeshift = &timeshift.Keeper{Paths: g.hub, Logger: g.Logger.With("component", "timeshift")}
	g.timeshift.Set(timeshiftPaths(conf))

	// Recorders hold their paths (the sources keep running) from here on.
	g.rec = &record.Store{
		Directory: conf.Recordings.Directory,
		Paths:     g.hub,
		Logger:    g.Logger,
	}
	if err := g.rec.Start(); err != nil {
		g.Close()
		return err
	}
	if err := g.rec.Apply(recordSettings(conf)); err != nil {
		g.Logger.Warn("cannot start recording", "error", err)
	}

	rc := conf.RTSP
	g.rtsp = &rtspserver.Server{
		Address:        rc.Address,
		ReadTimeout:    rc.ReadTimeout,
		WriteTimeout:   rc.WriteTimeout,
		SessionTimeout: rc.SessionTimeout,
		WriteQueueSize: rc.WriteQueueSize,
		MaxSessions:    rc.MaxSessions,
		AuthMethods:    authMethods(rc.AuthMethods),
		Paths:          g.hub,
		Timeshift:      g.timeshiftSource,
		Recordings:     g.rec.SourceAt,
		Authorizer:     g.auth,
		Credentials:    g.credentials,
		Logger:         g.Logger.With("component", "rtsp"),
	}
	if rc.UDPEnabled() {
		g.rtsp.RTPAddress, g.rtsp.RTCPAddress = rc.RTPAddress, rc.RTCPAddress
	}
	if rc.MulticastEnabled() {
		g.rtsp.MulticastIPRange = rc.MulticastIPRange
		g.rtsp.MulticastRTPPort, g.rtsp.MulticastRTCPPort = rc.MulticastRTPPort, rc.MulticastRTCPPort
	}
	if rc.TLSEnabled() {
		tc, err := g.certificate("rtsp", rc.ServerCert, rc.ServerKey)
		if err != nil {
			g.Close()
			return err
		}
		g.rtsp.RTSPSAddress = rc.RTSPSAddress
		g.rtsp.TLSConfig = tc
	}
	if err := g.rtsp.Start(); err != nil {
		g.Close()
		return err
	}

	g.hls = &hls.Server{
		Paths:    g.hub,
		Settings: g.hlsSettings,
		Logger:   g.Logger,
	}
	if err := g.hls.Start(); err != nil {
		g.Close()
		return err
	}
	if wc := conf.WebRTC; wc.Address != "" {
		g.rtc = &webrtc.Server{
			Paths:           g.hub,
			Address:         wc.Address,
			ICEServers:      iceServers(wc),
			AdditionalHosts: wc.AdditionalHosts,
			// No mDNS: browsers that hide their address behind a .local
			// name still connect (their checks reach our announced
			// address), and the gateway sends no multicast queries.
			DisableMDNS:  true,
			MaxSessions:  wc.MaxSessions,
			MaxBodyBytes: int64(wc.MaxOfferBytes),
			Logger:       g.Logger.With("component", "webrtc"),
		}
		if err := g.rtc.Start(); err != nil {
			g.Close()
			return fmt.Errorf("webrtc listener %s: %w", wc.Address, err)
		}
	}
	hc := conf.HTTP
	var httpTLS *tls.Config
	if hc.TLSEnabled() {
		tc, err := g.certificate("http", hc.ServerCert, hc.ServerKey)
		if err != nil {
			g.Close()
			return err
		}
		httpTLS = tc
	}
	g.web = &web.Server{
		Address:           hc.Address,
		Paths:             g,
		HLS:               g.hls,
		WebRTC:            g.webrtcOrNil(),
		Recordings:        g.rec,
		Auth:              g.auth,
		AllowOrigins:      hc.AllowOrigins,
		TrustedProxies:    hc.TrustedProxies,
		ReadHeaderTimeout: hc.ReadHeaderTimeout,
		IdleTimeout:       hc.IdleTimeout,
		MaxHeaderBytes:    hc.MaxHeaderBytes,
		OffersPerSecond:   conf.WebRTC.OffersPerSecond,
		TLSConfig:         httpTLS,
		Logger:            g.Logger.With("component", "http"),
		Extra:             g.httpRoutes().Mount,
	}
	if err := g.web.Start(); err != nil {
		g.Close()
		return fmt.Errorf("http listener %s: %w", hc.Address, err)
	}
	for _, name := range conf.PathOrder {
		if pc := conf.Paths[name]; pc != nil && !pc.Pattern && pc.HLSAlwaysOn {
			if err := g.hls.Ensure(name); err != nil {
				g.Logger.Warn("cannot start the always-on HLS muxer", "path", name, "error", err)
			}
		}
	}
	g.summary = g.startSummary()
	return nil
}

// certificate loads a listener's certificate and key; the returned config
// picks up renewed files by itself. section names the config section.
func (g *Gateway) certificate(section, certFile, keyFile string) (*tls.Config, error) {
	l := &certfile.Loader{CertFile: certFile, KeyFile: keyFile}
	l.OnReload = func(err error) {
		if err != nil {
			g.Logger.Error("cannot reload the certificate: keeping the previous one", "component", section, "error", err)
			return
		}
		g.Logger.Info("certificate reloaded", "component", section, "file", certFile)
	}
	if err := l.Load(); err != nil {
		return nil, fmt.Errorf("%s.serverCert %q, %s.serverKey %q: cannot load the certificate: %w",
			section, certFile, section, keyFile, err)
	}
	return l.TLSConfig(), nil
}

// webrtcOrNil keeps a nil *webrtc.Server from becoming a non-nil interface.
func (g *Gateway) webrtcOrNil() web.WebRTC {
	if g.rtc == nil {
		return nil
	}
	return g.rtc
}

// iceServers turns the config's URLs and shared credentials into the
// WebRTC server's list; credentials apply to turn: and turns: URLs only.
func iceServers(wc WebRTCConfig) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, u := range wc.ICEServers {
		s := webrtc.ICEServer{URLs: []string{u}}
		if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
			s.Username, s.Credential, s.Secret = wc.ICEUsername, wc.ICECredential, wc.ICESecret
		}
		out = append(out, s)
	}
	return out
}

func (g *Gateway) hlsSettings(name string) hls.Settings {
	conf := g.conf()
	hc := conf.HLS
	s := hls.Settings{
		SegmentCount:    hc.SegmentCount,
		SegmentDuration: hc.SegmentDuration,
		PartDuration:    hc.PartDuration,
		IdleClose:       hc.IdleClose,
	}
	if pc, ok := conf.MatchPath(name); ok {
		s.Variant = pc.HLSVariant
		s.AlwaysOn = pc.HLSAlwaysOn
	}
	return s
}

// Close stops the servers first (readers are told and disconnected), then
// the sources, then the Authorizer's JWKS refresh. It is idempotent.
func (g *Gateway) Close() {
	g.summary.close()
	if g.web != nil {
		g.web.Close()
	}
	if g.rtc != nil {
		g.rtc.Close()
	}
	if g.hls != nil {
		g.hls.Close()
	}
	if g.rtsp != nil {
		g.rtsp.Close()
	}
	if g.timeshift != nil {
		g.timeshift.Close()
	}
	if g.rec != nil {
		g.rec.Close()
	}
	if g.hub != nil {
		g.hub.Close()
	}
	if g.auth != nil {
		g.auth.Close()
	}
}

// RTSPAddr is the bound RTSP address.
func (g *Gateway) RTSPAddr() net.Addr { return g.rtsp.Addr() }

// HTTPAddr is the bound HTTP address.
func (g *Gateway) HTTPAddr() net.Addr { return g.web.Addr() }

// WebRTCAddr is the bound ICE UDP address, or nil when WebRTC is off.
func (g *Gateway) WebRTCAddr() net.Addr {
	if g.rtc == nil {
		return nil
	}
	udp, _ := g.rtc.Addr()
	return udp
}

// RTSPSAddr is the bound RTSPS address, or nil when RTSPS is off.
func (g *Gateway) RTSPSAddr() net.Addr { return g.rtsp.TLSAddr() }

// Run starts the gateway, serves until ctx ends, then shuts down within
// ShutdownTimeout.
func Run(ctx context.Context, conf *Config, logger *slog.Logger, reload <-chan os.Signal) error {
	g := &Gateway{Config: conf, Logger: logger}
	if err := g.Start(); err != nil {
		return err
	}
	stopReloads := g.serveReloads(ctx, reload)
	<-ctx.Done()
	stopReloads()
	g.Logger.Info("shutting down")
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Close()
	}()
	select {
	case <-done:
		return nil
	case <-time.After(ShutdownTimeout):
		return fmt.Errorf("shutdown took longer than %s", ShutdownTimeout)
	}
}

func (g *Gateway) resolve(name string) (hub.PathConf, bool) {
	pc, ok := g.conf().MatchPath(name)
	if !ok {
		return hub.PathConf{}, false
	}
	return hubPathConf(pc), true
}

func hubPathConf(pc *PathConfig) hub.PathConf {
	return hub.PathConf{
		Name:              pc.Name,
		HasSource:         pc.Pulled() || pc.Source == SourceDemo,
		OnDemand:          pc.OnDemand,
		AcceptPublishers:  pc.Source == SourcePublisher,
		OverridePublisher: pc.OverridePublisher,
		StartTimeout:      pc.OnDemandStartTimeout,
		CloseAfter:        pc.OnDemandCloseAfter,
		OutageGrace:       pc.OutageGrace,
		MaxReaders:        pc.MaxReaders,
		// Enough history for a new HLS muxer to have whole segments at once.
		Stream: hub.StreamConfig{NoGOPCache: !pc.GOPCache, HistoryGOPs: hls.HistoryGOPs},
	}
}

// alwaysOn lists the paths whose sources run for the gateway's lifetime.
func alwaysOn(conf *Config) []string {
	var names []string
	for _, name := range conf.PathOrder {
		pc := conf.Paths[name]
		if pc != nil && !pc.Pattern && !pc.OnDemand && (pc.Pulled() || pc.Source == SourceDemo) {
			names = append(names, name)
		}
	}
	return names
}

func (g *Gateway) credentials(name string) (read, publish rtspserver.Credentials) {
	pc, ok := g.conf().MatchPath(name)
	if !ok {
		return read, publish
	}
	return rtspserver.Credentials{User: pc.ReadUser, Pass: pc.ReadPass},
		rtspserver.Credentials{User: pc.PublishUser, Pass: pc.PublishPass}
}

func authMethods(names []string) []rtspauth.VerifyMethod {
	var out []rtspauth.VerifyMethod
	for _, n := range names {
		switch n {
		case "basic":
			out = append(out, rtspauth.VerifyMethodBasic)
		case "digest":
			out = append(out, rtspauth.VerifyMethodDigestMD5)
		}
	}
	return out
}

// newSource builds the source the hub runs for a path.
func (g *Gateway) newSource(p *hub.Path) hub.Runner {
	pc, ok := g.conf().MatchPath(p.Name())
	if !ok {
		return nil
	}
	target := pathTarget{p}
	logger := p.Logger()
	switch {
	case pc.Source == SourceDemo:
		demo := &ingest.Demo{Target: target, Logger: logger}
		return runnerFunc(func(ctx context.Context) {
			// A path closed while the demo starts is a shutdown, not a failure.
			if err := demo.Run(ctx); err != nil && !errors.Is(err, hub.ErrPathClosed) {
				logger.Error("demo source stopped", "error", err)
			}
		})
	case pc.Pulled():
		pull := &ingest.Pull{
			URL:         pc.Source,
			Protocol:    pc.SourceProtocol,
			Fingerprint: pc.SourceFingerprint,
			SkipVerify:  pc.SourceSkipVerify,
			ReadTimeout: pc.SourceReadTimeout,
			Target:      target,
			Logger:      logger,
		}
		g.pulls.set(p.Name(), pull)
		return runnerFunc(func(ctx context.Context) {
			if err := pull.Run(ctx); err != nil {
				logger.Error("source stopped", "error", err)
			}
		})
	}
	return nil
}

type runnerFunc func(ctx context.Context)

func (f runnerFunc) Run(ctx context.Context) { f(ctx) }

// pathTarget lets an ingest source publish into a hub path.
type pathTarget struct{ p *hub.Path }

func (t pathTarget) Publish(desc *description.Session) (ingest.Writer, error) {
	pub, err := t.p.PublishSource(desc)
	if err != nil {
		return nil, err
	}
	return pub, nil
}
