// Package gateway is streamgate's composition root: it loads the
// configuration, builds every component and runs them until shutdown.
package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Special values of PathConfig.Source; every other source is an rtsp:// or
// rtsps:// URL that the gateway pulls.
const (
	// SourcePublisher makes a path accept RTSP ANNOUNCE/RECORD and WHIP publishers.
	SourcePublisher = "publisher"
	// SourceDemo makes a path play the embedded demo clip.
	SourceDemo = "demo"
)

// DemoPathName is the built-in path that exists when the config names no paths.
const DemoPathName = "demo"

// Config is the whole gateway configuration, fully resolved: defaults
// applied, pathDefaults merged into every path, env overrides applied.
type Config struct {
	// File is the name of the file the config was read from ("" for none).
	File string
	// Log configures the slog logger.
	Log LogConfig
	// RTSP configures the RTSP/RTSPS server.
	RTSP RTSPConfig
	// HTTP configures the HTTP listener (player pages, HLS).
	HTTP HTTPConfig
	// HLS configures the HLS muxers.
	HLS HLSConfig
	// WebRTC configures WHEP viewers and WHIP publishers.
	WebRTC WebRTCConfig
	// Recordings configures where recorded paths are kept.
	Recordings RecordingsConfig
	// Auth is who may read, publish, use the API and scrape metrics, over
	// every protocol.
	Auth AuthConfig
	// PathDefaults holds the values every path inherits unless it sets the key.
	PathDefaults PathConfig
	// Paths maps each path name (exact or pattern) to its resolved settings.
	Paths map[string]*PathConfig
	// PathOrder lists the keys of Paths in file order (env-created paths last);
	// MatchPath tries patterns in this order.
	PathOrder []string
}

// LogConfig is the "log" section.
type LogConfig struct {
	// Level is debug, info, warn or error; defaults to info.
	Level string
	// Format is text or json; defaults to text.
	Format string
}

// SlogLevel returns Level as a slog.Level (info for unknown values).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// RTSPConfig is the "rtsp" section.
type RTSPConfig struct {
	// Address is the RTSP TCP listener; defaults to ":8554".
	Address string
	// RTPAddress is the UDP listener for RTP; "" disables UDP transport.
	// Defaults to ":8000".
	RTPAddress string
	// RTCPAddress is the UDP listener for RTCP, port RTPAddress+1; defaults to ":8001".
	RTCPAddress string
	// MulticastIPRange is the CIDR multicast groups are taken from; ""
	// disables multicast. Defaults to "224.1.0.0/16".
	MulticastIPRange string
	// MulticastRTPPort is the (even) multicast RTP port; defaults to 8002.
	MulticastRTPPort int
	// MulticastRTCPPort is MulticastRTPPort+1; defaults to 8003.
	MulticastRTCPPort int
	// RTSPSAddress is the RTSPS TCP listener, used when TLSEnabled; defaults to ":8322".
	RTSPSAddress string
	// ServerCert is the PEM certificate file for RTSPS; set with ServerKey or not at all.
	ServerCert string
	// ServerKey is the PEM key file for RTSPS.
	ServerKey string
	// AuthMethods is a non-empty subset of basic and digest; defaults to both.
	AuthMethods []string
	// ReadTimeout defaults to 10s.
	ReadTimeout time.Duration
	// WriteTimeout defaults to 10s.
	WriteTimeout time.Duration
	// SessionTimeout closes idle RTSP sessions; defaults to 60s.
	SessionTimeout time.Duration
	// WriteQueueSize is a power of two >= 64; defaults to 4096 (it must hold a cached GOP, sent as a burst to a new reader).
	WriteQueueSize int
	// MaxSessions limits the RTSP sessions open at once (readers and
	// publishers); a SETUP or ANNOUNCE over it gets 503. 0 is unlimited;
	// defaults to 1000.
	MaxSessions int
}

// TLSEnabled reports whether the RTSPS listener is on (cert and key set).
func (r *RTSPConfig) TLSEnabled() bool { return r.ServerCert != "" && r.ServerKey != "" }

// UDPEnabled reports whether the UDP transport (RTPAddress) is on.
func (r *RTSPConfig) UDPEnabled() bool { return r.RTPAddress != "" }

// MulticastEnabled reports whether multicast transport is on.
func (r *RTSPConfig) MulticastEnabled() bool { return r.MulticastIPRange != "" }

// HTTPConfig is the "http" section.
type HTTPConfig struct {
	// Address is the HTTP listener; defaults to ":8888".
	Address string
	// AllowOrigins are the CORS origins allowed for media; defaults to ["*"].
	AllowOrigins []string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed; defaults to none.
	TrustedProxies []string
	// ReadHeaderTimeout bounds reading a request's headers (slowloris); defaults to 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections that send no request for
	// this long; defaults to 2m.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits a request's header block (larger ones get 431);
	// defaults to 65536.
	MaxHeaderBytes int
	// ServerCert and ServerKey (PEM files) turn the listener into HTTPS with
	// HTTP/2; renewed files are picked up without a restart.
	ServerCert string
	ServerKey  string
	// Pprof serves Go's runtime profiles under /debug/pprof/ to those with
	// the api permission; defaults to off.
	Pprof bool
}

// TLSEnabled reports whether the HTTP listener serves HTTPS.
func (h *HTTPConfig) TLSEnabled() bool { return h.ServerCert != "" && h.ServerKey != "" }

// HLSConfig is the "hls" section: settings shared by every path's muxer.
type HLSConfig struct {
	// SegmentCount is the number of segments in a playlist; defaults to 7.
	SegmentCount int
	// SegmentDuration is the minimum segment duration; defaults to 1s.
	SegmentDuration time.Duration
	// PartDuration is the Low-Latency HLS part duration; defaults to 200ms.
	PartDuration time.Duration
	// IdleClose closes a path's muxer nobody requested for this long; defaults to 60s.
	IdleClose time.Duration
}

// WebRTCConfig is the "webrtc" section.
type WebRTCConfig struct {
	// Address is the ICE port: UDP for every peer and ICE-TCP on the same
	// number; defaults to ":8189". "" turns WebRTC off.
	Address string
	// ICEServers are stun:, turn: and turns: URLs handed to browsers (WHEP
	// and WHIP Link headers) and used by the gateway's own peers.
	ICEServers []string
	// ICEUsername and ICECredential are static credentials for the turn: servers.
	ICEUsername   string
	ICECredential string
	// ICESecret is a TURN REST shared secret: each client gets time-limited
	// credentials made from it (instead of ICEUsername/ICECredential).
	ICESecret string
	// AdditionalHosts are extra IPs announced as host candidates (a public
	// IP, the Docker host's address) for clients behind NAT.
	AdditionalHosts []string
	// MaxSessions limits WHEP viewers and WHIP publishers open at once; an
	// offer over it gets 503. 0 is unlimited; defaults to 500.
	MaxSessions int
	// MaxOfferBytes limits WHEP and WHIP offers and trickle bodies; larger
	// ones get 413. Defaults to 65536.
	MaxOfferBytes int
	// OffersPerSecond limits the WHEP and WHIP offers one client address may
	// post per second (bursts of as many); more get 429 with Retry-After.
	// 0 is unlimited; defaults to 10.
	OffersPerSecond int
}

// RecordingsConfig is the "recordings" section.
type RecordingsConfig struct {
	// Directory holds a folder per recorded path; defaults to "./recordings".
	Directory string
}

// PathConfig is the configuration of one path (or of pathDefaults).
type PathConfig struct {
	// Name is the key in Config.Paths ("" in PathDefaults).
	Name string
	// Pattern is true when Name holds {placeholders}; MatchPath returns
	// concrete copies with Pattern false.
	Pattern bool
	// Source is an rtsp:// or rtsps:// URL, SourcePublisher or SourceDemo;
	// defaults to publisher.
	Source string
	// SourceProtocol is auto (UDP, falling back to TCP), tcp, udp or multicast.
	SourceProtocol string
	// SourceFingerprint is the SHA-256 of the rtsps server certificate,
	// normalised to 64 lowercase hex digits without colons ("" = none).
	SourceFingerprint string
	// SourceSkipVerify accepts any rtsps certificate.
	SourceSkipVerify bool
	// SourceReadTimeout is the silence after which the source is dead; defaults to 10s.
	SourceReadTimeout time.Duration
	// OnDemand pulls the source only while someone reads; always true for
	// pattern paths with a URL source, always false for non-URL sources.
	OnDemand bool
	// OnDemandStartTimeout is how long a reader waits for an on-demand
	// source to come up; defaults to 10s.
	OnDemandStartTimeout time.Duration
	// OnDemandCloseAfter stops the pull this long after the last reader left; defaults to 10s.
	OnDemandCloseAfter time.Duration
	// OutageGrace keeps readers attached this long while the source is down; defaults to 10s.
	OutageGrace time.Duration
	// GOPCache starts new readers at the cached keyframe; defaults to true.
	GOPCache bool
	// OverridePublisher lets a new publisher take over instead of being refused.
	OverridePublisher bool
	// ReadUser and ReadPass are RTSP credentials for readers ("" = anonymous).
	ReadUser string
	// ReadPass is the readers' password.
	ReadPass string
	// PublishUser and PublishPass are RTSP credentials for publishers.
	PublishUser string
	// PublishPass is the publishers' password.
	PublishPass string
	// MaxReaders limits concurrent readers; 0 = unlimited.
	MaxReaders int
	// HLSVariant is lowLatency, fmp4 or mpegts; defaults to lowLatency.
	HLSVariant string
	// HLSAlwaysOn keeps the path's HLS muxer running without viewers, so the first viewer starts at once.
	HLSAlwaysOn bool
	// Timeshift keeps this much of the stream in memory, so RTSP sessions
	// can pause and resume where they paused and seek back; 0 is off. A
	// path with timeshift keeps its source running.
	Timeshift time.Duration
	// TimeshiftMaxBytes bounds the timeshift buffer's media bytes; the
	// oldest frames go first. Defaults to 512 MiB.
	TimeshiftMaxBytes int64
	// Record writes the path's stream to disk and keeps its source running.
	// Pattern paths are not recorded.
	Record bool
	// RecordSegmentDuration is how long a segment file gets before the
	// next keyframe starts another; defaults to 1m.
	RecordSegmentDuration time.Duration
	// RecordPartDuration is the fragment length aimed at (a fragment also
	// ends at every keyframe); it bounds what a crash loses. Defaults to 1s.
	RecordPartDuration time.Duration
	// RecordDeleteAfter deletes segments older than this; 0 keeps them.
	// Defaults to 24h.
	RecordDeleteAfter time.Duration
	// RecordMaxBytes bounds the path's recordings on disk ("0" for no
	// bound, bytes or a size like "500MB", "20GiB"); the oldest segments go
	// first. See MaxBytes.
	RecordMaxBytes string
}

// MaxBytes is RecordMaxBytes in bytes (0 when unbounded or invalid).
func (p *PathConfig) MaxBytes() int64 {
	n, _ := parseByteSize(p.RecordMaxBytes)
	return n
}

// Pulled reports whether the path's source is an rtsp:// or rtsps:// URL.
func (p *PathConfig) Pulled() bool { return isURLSource(p.Source) }

func isURLSource(s string) bool {
	return strings.HasPrefix(s, "rtsp://") || strings.HasPrefix(s, "rtsps://")
}

// defaultPathConfig returns the built-in values of every path key.
func defaultPathConfig() PathConfig {
	return PathConfig{
		Source:               SourcePublisher,
		SourceProtocol:       "auto",
		SourceReadTimeout:    10 * time.Second,
		OnDemandStartTimeout: 10 * time.Second,
		OnDemandCloseAfter:   10 * time.Second,
		OutageGrace:          10 * time.Second,
		GOPCache:             true,
		HLSVariant:           "lowLatency",
		TimeshiftMaxBytes:    512 << 20,
		// Recording is off; these apply when a path turns it on.
		RecordSegmentDuration: time.Minute,
		RecordPartDuration:    time.Second,
		RecordDeleteAfter:     24 * time.Hour,
		RecordMaxBytes:        "0",
	}
}

// DefaultConfig returns the configuration used when there is no file and no
// environment override: every key at its default and the demo path.
func DefaultConfig() *Config {
	c := &Config{
		Log: LogConfig{Level: "info", Format: "text"},
		RTSP: RTSPConfig{
			Address:           ":8554",
			RTPAddress:        ":8000",
			RTCPAddress:       ":8001",
			MulticastIPRange:  "224.1.0.0/16",
			MulticastRTPPort:  8002,
			MulticastRTCPPort: 8003,
			RTSPSAddress:      ":8322",
			AuthMethods:       []string{"basic", "digest"},
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			SessionTimeout:    60 * time.Second,
			WriteQueueSize:    4096,
			MaxSessions:       1000,
		},
		HTTP: HTTPConfig{
			Address:           ":8888",
			AllowOrigins:      []string{"*"},
			TrustedProxies:    []string{},
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		HLS: HLSConfig{
			SegmentCount:    7,
			SegmentDuration: time.Second,
			PartDuration:    200 * time.Millisecond,
			IdleClose:       60 * time.Second,
		},
		WebRTC: WebRTCConfig{
			Address:         ":8189",
			ICEServers:      []string{},
			AdditionalHosts: []string{},
			MaxSessions:     500,
			MaxOfferBytes:   64 << 10,
			OffersPerSecond: 10,
		},
		Recordings:   RecordingsConfig{Directory: "./recordings"},
		Auth:         defaultAuthConfig(),
		PathDefaults: defaultPathConfig(),
		Paths:        map[string]*PathConfig{},
	}
	c.addDemoPath()
	return c
}

func (c *Config) addDemoPath() {
	demo := c.PathDefaults
	demo.Name = DemoPathName
	demo.Source = SourceDemo
	demo.OnDemand = false
	if demo.Timeshift == 0 {
		// A minute to try PAUSE and seeking on: the clip is small.
		demo.Timeshift = time.Minute
	}
	c.Paths[DemoPathName] = &demo
	c.PathOrder = append(c.PathOrder, DemoPathName)
}

// LoadConfig reads file (a YAML config; "" means none: defaults only),
// applies STREAMGATE_* environment overrides and validates the result.
func LoadConfig(file string) (*Config, error) {
	var data []byte
	if file != "" {
		var err error
		data, err = os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("load config: %w", err)
		}
	}
	return ParseConfig(file, data, os.Environ())
}

// ParseConfig parses data (the YAML read from the file called name, used in
// error messages), applies the STREAMGATE_* overrides in env (entries
// "KEY=value" as from os.Environ) and validates the result. Errors are
// *ConfigError values, several joined with errors.Join.
func ParseConfig(name string, data []byte, env []string) (*Config, error) {
	l := newLoader(name)
	l.decodeFile(data)
	if len(l.errs) == 0 {
		l.applyEnv(env)
	}
	if len(l.errs) > 0 {
		return nil, joinErrors(l.errs)
	}
	cfg := l.resolve()
	if errs := cfg.validate(l.pos); len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return cfg, nil
}

// Validate checks a resolved config (for example one built in code or
// changed after loading); errors carry no line numbers.
func (c *Config) Validate() error {
	errs := c.validate(func(string) pos { return pos{} })
	if len(errs) > 0 {
		return joinErrors(errs)
	}
	return nil
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	n.RTSP.AuthMethods = append([]string(nil), c.RTSP.AuthMethods...)
	n.HTTP.AllowOrigins = append([]string(nil), c.HTTP.AllowOrigins...)
	n.HTTP.TrustedProxies = append([]string(nil), c.HTTP.TrustedProxies...)
	n.WebRTC.ICEServers = append([]string(nil), c.WebRTC.ICEServers...)
	n.WebRTC.AdditionalHosts = append([]string(nil), c.WebRTC.AdditionalHosts...)
	n.Auth = c.Auth.clone()
	n.PathOrder = append([]string(nil), c.PathOrder...)
	n.Paths = make(map[string]*PathConfig, len(c.Paths))
	for k, p := range c.Paths {
		if p == nil {
			n.Paths[k] = nil
			continue
		}
		cp := *p
		n.Paths[k] = &cp
	}
	return &n
}

// MatchPath returns the settings for the concrete path name: an exact path
// first, else the first pattern path (in file order) whose shape matches,
// as a copy with Name set to name, Pattern false and the placeholders in
// Source substituted. The result is always a copy the caller may keep.
func (c *Config) MatchPath(name string) (*PathConfig, bool) {
	if ValidPathName(name) != nil {
		return nil, false
	}
	if p, ok := c.Paths[name]; ok && p != nil && !p.Pattern {
		cp := *p
		return &cp, true
	}
	segs := strings.Split(name, "/")
	for _, key := range c.PathOrder {
		p := c.Paths[key]
		if p == nil || !p.Pattern {
			continue
		}
		vals, ok := matchPattern(key, segs)
		if !ok {
			continue
		}
		cp := *p
		cp.Name = name
		cp.Pattern = false
		for ph, v := range vals {
			cp.Source = strings.ReplaceAll(cp.Source, "{"+ph+"}", v)
		}
		return &cp, true
	}
	return nil, false
}

// matchPattern matches the segments of a concrete name against a pattern
// key and returns the placeholder values.
func matchPattern(pattern string, segs []string) (map[string]string, bool) {
	psegs := strings.Split(pattern, "/")
	if len(psegs) != len(segs) {
		return nil, false
	}
	vals := map[string]string{}
	for i, ps := range psegs {
		if ph, ok := placeholderName(ps); ok {
			if segs[i] == "" {
				return nil, false
			}
			vals[ph] = segs[i]
			continue
		}
		if ps != segs[i] {
			return nil, false
		}
	}
	return vals, true
}
