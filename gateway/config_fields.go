package gateway

import (
	"strings"
	"time"
)

// The tables below drive decoding, env overrides, merging and marshalling,
// so a key is declared once. They are read-only.

// sectionField is one key of the log or rtsp section.
type sectionField struct {
	key string
	ptr func(c *Config) any
}

// pathField is one key of a path (and of pathDefaults).
type pathField struct {
	key string
	ptr func(p *PathConfig) any
}

var logFields = []sectionField{
	{"level", func(c *Config) any { return &c.Log.Level }},
	{"format", func(c *Config) any { return &c.Log.Format }},
}

var rtspFields = []sectionField{
	{"address", func(c *Config) any { return &c.RTSP.Address }},
	{"rtpAddress", func(c *Config) any { return &c.RTSP.RTPAddress }},
	{"rtcpAddress", func(c *Config) any { return &c.RTSP.RTCPAddress }},
	{"multicastIPRange", func(c *Config) any { return &c.RTSP.MulticastIPRange }},
	{"multicastRTPPort", func(c *Config) any { return &c.RTSP.MulticastRTPPort }},
	{"multicastRTCPPort", func(c *Config) any { return &c.RTSP.MulticastRTCPPort }},
	{"rtspsAddress", func(c *Config) any { return &c.RTSP.RTSPSAddress }},
	{"serverCert", func(c *Config) any { return &c.RTSP.ServerCert }},
	{"serverKey", func(c *Config) any { return &c.RTSP.ServerKey }},
	{"authMethods", func(c *Config) any { return &c.RTSP.AuthMethods }},
	{"readTimeout", func(c *Config) any { return &c.RTSP.ReadTimeout }},
	{"writeTimeout", func(c *Config) any { return &c.RTSP.WriteTimeout }},
	{"sessionTimeout", func(c *Config) any { return &c.RTSP.SessionTimeout }},
	{"writeQueueSize", func(c *Config) any { return &c.RTSP.WriteQueueSize }},
	{"maxSessions", func(c *Config) any { return &c.RTSP.MaxSessions }},
}

var pathFields = []pathField{
	{"source", func(p *PathConfig) any { return &p.Source }},
	{"sourceProtocol", func(p *PathConfig) any { return &p.SourceProtocol }},
	{"sourceFingerprint", func(p *PathConfig) any { return &p.SourceFingerprint }},
	{"sourceSkipVerify", func(p *PathConfig) any { return &p.SourceSkipVerify }},
	{"sourceReadTimeout", func(p *PathConfig) any { return &p.SourceReadTimeout }},
	{"onDemand", func(p *PathConfig) any { return &p.OnDemand }},
	{"onDemandStartTimeout", func(p *PathConfig) any { return &p.OnDemandStartTimeout }},
	{"onDemandCloseAfter", func(p *PathConfig) any { return &p.OnDemandCloseAfter }},
	{"outageGrace", func(p *PathConfig) any { return &p.OutageGrace }},
	{"gopCache", func(p *PathConfig) any { return &p.GOPCache }},
	{"overridePublisher", func(p *PathConfig) any { return &p.OverridePublisher }},
	{"readUser", func(p *PathConfig) any { return &p.ReadUser }},
	{"readPass", func(p *PathConfig) any { return &p.ReadPass }},
	{"publishUser", func(p *PathConfig) any { return &p.PublishUser }},
	{"publishPass", func(p *PathConfig) any { return &p.PublishPass }},
	{"maxReaders", func(p *PathConfig) any { return &p.MaxReaders }},
	{"hlsVariant", func(p *PathConfig) any { return &p.HLSVariant }},
	{"hlsAlwaysOn", func(p *PathConfig) any { return &p.HLSAlwaysOn }},
	{"timeshift", func(p *PathConfig) any { return &p.Timeshift }},
	{"timeshiftMaxBytes", func(p *PathConfig) any { return &p.TimeshiftMaxBytes }},
	{"record", func(p *PathConfig) any { return &p.Record }},
	{"recordSegmentDuration", func(p *PathConfig) any { return &p.RecordSegmentDuration }},
	{"recordPartDuration", func(p *PathConfig) any { return &p.RecordPartDuration }},
	{"recordDeleteAfter", func(p *PathConfig) any { return &p.RecordDeleteAfter }},
	{"recordMaxBytes", func(p *PathConfig) any { return &p.RecordMaxBytes }},
}

var httpFields = []sectionField{
	{"address", func(c *Config) any { return &c.HTTP.Address }},
	{"allowOrigins", func(c *Config) any { return &c.HTTP.AllowOrigins }},
	{"trustedProxies", func(c *Config) any { return &c.HTTP.TrustedProxies }},
	{"readHeaderTimeout", func(c *Config) any { return &c.HTTP.ReadHeaderTimeout }},
	{"idleTimeout", func(c *Config) any { return &c.HTTP.IdleTimeout }},
	{"maxHeaderBytes", func(c *Config) any { return &c.HTTP.MaxHeaderBytes }},
	{"serverCert", func(c *Config) any { return &c.HTTP.ServerCert }},
	{"serverKey", func(c *Config) any { return &c.HTTP.ServerKey }},
	{"pprof", func(c *Config) any { return &c.HTTP.Pprof }},
}

var hlsFields = []sectionField{
	{"segmentCount", func(c *Config) any { return &c.HLS.SegmentCount }},
	{"segmentDuration", func(c *Config) any { return &c.HLS.SegmentDuration }},
	{"partDuration", func(c *Config) any { return &c.HLS.PartDuration }},
	{"idleClose", func(c *Config) any { return &c.HLS.IdleClose }},
}

var webrtcFields = []sectionField{
	{"address", func(c *Config) any { return &c.WebRTC.Address }},
	{"iceServers", func(c *Config) any { return &c.WebRTC.ICEServers }},
	{"iceUsername", func(c *Config) any { return &c.WebRTC.ICEUsername }},
	{"iceCredential", func(c *Config) any { return &c.WebRTC.ICECredential }},
	{"iceSecret", func(c *Config) any { return &c.WebRTC.ICESecret }},
	{"additionalHosts", func(c *Config) any { return &c.WebRTC.AdditionalHosts }},
	{"maxSessions", func(c *Config) any { return &c.WebRTC.MaxSessions }},
	{"maxOfferBytes", func(c *Config) any { return &c.WebRTC.MaxOfferBytes }},
	{"offersPerSecond", func(c *Config) any { return &c.WebRTC.OffersPerSecond }},
}

var recordingsFields = []sectionField{
	{"directory", func(c *Config) any { return &c.Recordings.Directory }},
}

// configSection is a top-level mapping of plain keys.
type configSection struct {
	name   string
	fields []sectionField
}

// sections are the top-level sections of plain keys, in file order.
var sections = []configSection{
	{"log", logFields},
	{"rtsp", rtspFields},
	{"http", httpFields},
	{"hls", hlsFields},
	{"webrtc", webrtcFields},
	{"recordings", recordingsFields},
}

func findSection(name string) (configSection, bool) {
	for _, s := range sections {
		if s.name == name {
			return s, true
		}
	}
	return configSection{}, false
}

// topKeys are the keys of the top-level mapping, in file order.
var topKeys = func() []string {
	keys := make([]string, 0, len(sections)+3)
	for _, s := range sections {
		keys = append(keys, s.name)
	}
	return append(keys, "auth", "pathDefaults", "paths")
}()

func sectionKeys(fields []sectionField) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

func pathKeys() []string {
	keys := make([]string, len(pathFields))
	for i, f := range pathFields {
		keys[i] = f.key
	}
	return keys
}

func findSectionField(fields []sectionField, key string) (sectionField, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return sectionField{}, false
}

func findPathField(key string) (pathField, bool) {
	for _, f := range pathFields {
		if f.key == key {
			return f, true
		}
	}
	return pathField{}, false
}

// unknownKeyMsg explains an unknown key, suggesting a key that differs only
// in case.
func unknownKeyMsg(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return "unknown key: expected " + k + " (keys are case-sensitive)"
		}
	}
	return "unknown key: expected one of " + strings.Join(known, ", ")
}

// expectation describes the type of the value a pointer field holds.
func expectation(ptr any) string {
	switch ptr.(type) {
	case *bool:
		return "true or false"
	case *int:
		return "an integer"
	case *int64:
		return "a size in bytes like 536870912 or \"512MiB\""
	case *time.Duration:
		return durationExpect
	case *[]string:
		return "a list like [basic, digest]"
	}
	return "a string"
}

const durationExpect = `a duration like "10s", "500ms" or "2m"`

// copyField copies the value behind src into dst (pointers of one type).
func copyField(dst, src any) {
	switch d := dst.(type) {
	case *string:
		*d = *src.(*string)
	case *bool:
		*d = *src.(*bool)
	case *int:
		*d = *src.(*int)
	case *int64:
		*d = *src.(*int64)
	case *time.Duration:
		*d = *src.(*time.Duration)
	case *[]string:
		*d = append([]string(nil), *src.(*[]string)...)
	}
}
