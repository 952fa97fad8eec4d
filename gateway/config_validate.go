package gateway

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// validator checks a resolved Config; pf says where a key was set.
type validator struct {
	c    *Config
	pf   func(key string) pos
	errs []error
}

func (v *validator) errorf(key, format string, args ...any) {
	v.errorAt(key, "", format, args...)
}

// errorAt reports a problem with key at the place key was set, else where
// alt was set, else where its closest parent (section or path) was set.
func (v *validator) errorAt(key, alt, format string, args ...any) {
	p := v.pf(key)
	if p == (pos{}) && alt != "" {
		p = v.pf(alt)
	}
	for k := key; p == (pos{}); {
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
		p = v.pf(k)
	}
	v.errs = append(v.errs, &ConfigError{File: v.c.File, Line: p.line, Env: p.env, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *Config) validate(pf func(string) pos) []error {
	v := &validator{c: c, pf: pf}
	v.log()
	v.rtsp()
	v.http()
	v.hls()
	v.webrtc()
	v.recordings()
	v.listeners()
	v.auth()
	v.path("pathDefaults", &c.PathDefaults, true)
	v.paths()
	return v.errs
}

func (v *validator) oneOf(key, what, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	last := len(allowed) - 1
	v.errorf(key, "invalid %s %s: expected %s or %s", what, quoteShort(val), strings.Join(allowed[:last], ", "), allowed[last])
}

func (v *validator) log() {
	v.oneOf("log.level", "log level", v.c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", "log format", v.c.Log.Format, "text", "json")
}

// splitAddr parses host:port (host optional); msg is "" when valid.
func splitAddr(addr, example string) (host string, port int, msg string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(h, " \t\r\n") {
		return "", 0, fmt.Sprintf("invalid address %s: expected host:port such as %q", quoteShort(addr), example)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Sprintf("invalid port in address %s: expected a port from 0 to 65535", quoteShort(addr))
	}
	return h, n, ""
}

func (v *validator) addr(key, val, example string) (int, bool) {
	if val == "" {
		v.errorf(key, "empty address: expected host:port such as %q", example)
		return 0, false
	}
	_, port, msg := splitAddr(val, example)
	if msg != "" {
		v.errorf(key, "%s", msg)
		return 0, false
	}
	return port, true
}

func (v *validator) rtsp() {
	r := &v.c.RTSP
	v.addr("rtsp.address", r.Address, ":8554")
	v.addr("rtsp.rtspsAddress", r.RTSPSAddress, ":8322")

	switch {
	case r.RTPAddress == "" && r.RTCPAddress != "":
		v.errorAt("rtsp.rtcpAddress", "rtsp.rtpAddress", "set while rtsp.rtpAddress is empty: expected \"\" as well (UDP transport is off)")
	case r.RTPAddress != "":
		rtp, ok1 := v.addr("rtsp.rtpAddress", r.RTPAddress, ":8000")
		if r.RTCPAddress == "" {
			v.errorAt("rtsp.rtcpAddress", "rtsp.rtpAddress", "empty while rtsp.rtpAddress is set: expected host:port with the RTP port + 1")
			break
		}
		rtcp, ok2 := v.addr("rtsp.rtcpAddress", r.RTCPAddress, ":8001")
		if !ok1 || !ok2 {
			break
		}
		switch {
		case rtp == 0 && rtcp != 0:
			v.errorAt("rtsp.rtcpAddress", "rtsp.rtpAddress", "port %d with rtsp.rtpAddress port 0: expected port 0 as well", rtcp)
		case rtp == 0:
		case rtp%2 != 0:
			v.errorf("rtsp.rtpAddress", "odd port %d: expected an even port (RTCP uses the next one)", rtp)
		case rtcp != rtp+1:
			v.errorAt("rtsp.rtcpAddress", "rtsp.rtpAddress", "port %d does not follow rtsp.rtpAddress port %d: expected port %d", rtcp, rtp, rtp+1)
		}
	}

	if r.MulticastIPRange != "" {
		_, ipnet, err := net.ParseCIDR(r.MulticastIPRange)
		if err != nil || ipnet.IP.To4() == nil || !ipnet.IP.IsMulticast() {
			v.errorf("rtsp.multicastIPRange", "invalid range %s: expected an IPv4 multicast CIDR such as \"224.1.0.0/16\", or \"\" to disable multicast", quoteShort(r.MulticastIPRange))
		}
	}
	switch mp := r.MulticastRTPPort; {
	case mp < 1 || mp > 65534:
		v.errorf("rtsp.multicastRTPPort", "invalid port %d: expected an even port from 2 to 65534", mp)
	case mp%2 != 0:
		v.errorf("rtsp.multicastRTPPort", "odd port %d: expected an even port (RTCP uses the next one)", mp)
	case r.MulticastRTCPPort != mp+1:
		v.errorAt("rtsp.multicastRTCPPort", "rtsp.multicastRTPPort", "port %d does not follow rtsp.multicastRTPPort %d: expected %d", r.MulticastRTCPPort, mp, mp+1)
	}

	switch {
	case r.ServerCert != "" && r.ServerKey == "":
		v.errorf("rtsp.serverCert", "set without rtsp.serverKey: expected both serverCert and serverKey, or neither")
	case r.ServerCert == "" && r.ServerKey != "":
		v.errorf("rtsp.serverKey", "set without rtsp.serverCert: expected both serverCert and serverKey, or neither")
	case r.TLSEnabled():
		v.file("rtsp.serverCert", r.ServerCert, "a PEM certificate file")
		v.file("rtsp.serverKey", r.ServerKey, "a PEM key file")
	}

	if len(r.AuthMethods) == 0 {
		v.errorf("rtsp.authMethods", "empty list: expected basic, digest or both")
	}
	seen := map[string]bool{}
	for _, m := range r.AuthMethods {
		if m != "basic" && m != "digest" {
			v.errorf("rtsp.authMethods", "invalid auth method %s: expected basic or digest", quoteShort(m))
		} else if seen[m] {
			v.errorf("rtsp.authMethods", "%s listed twice: expected each method once", m)
		}
		seen[m] = true
	}

	v.positive("rtsp.readTimeout", r.ReadTimeout)
	v.positive("rtsp.writeTimeout", r.WriteTimeout)
	v.positive("rtsp.sessionTimeout", r.SessionTimeout)
	if q := r.WriteQueueSize; q < 64 || q > 1<<20 || q&(q-1) != 0 {
		v.errorf("rtsp.writeQueueSize", "invalid size %d: expected a power of two from 64 to 1048576", q)
	}
	v.limit("rtsp.maxSessions", r.MaxSessions)
}

func (v *validator) http() {
	h := &v.c.HTTP
	v.addr("http.address", h.Address, ":8888")
	if len(h.AllowOrigins) == 0 {
		v.errorf("http.allowOrigins", "empty list: expected origins such as \"*\" or \"https://example.com\"")
	}
	for _, o := range h.AllowOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			v.errorf("http.allowOrigins", "invalid origin %s: expected \"*\" or an origin such as \"https://example.com\"", quoteShort(o))
		}
	}
	for _, p := range h.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				v.errorf("http.trustedProxies", "invalid proxy %s: expected an IP address or a CIDR such as \"10.0.0.0/8\"", quoteShort(p))
			}
		}
	}
	v.positive("http.readHeaderTimeout", h.ReadHeaderTimeout)
	v.positive("http.idleTimeout", h.IdleTimeout)
	v.size("http.maxHeaderBytes", h.MaxHeaderBytes)
	switch {
	case h.ServerCert != "" && h.ServerKey == "":
		v.errorf("http.serverCert", "set without http.serverKey: expected both serverCert and serverKey, or neither")
	case h.ServerCert == "" && h.ServerKey != "":
		v.errorf("http.serverKey", "set without http.serverCert: expected both serverCert and serverKey, or neither")
	case h.TLSEnabled():
		v.file("http.serverCert", h.ServerCert, "a PEM certificate file")
		v.file("http.serverKey", h.ServerKey, "a PEM key file")
	}
}

func (v *validator) hls() {
	h := &v.c.HLS
	if h.SegmentCount < 7 || h.SegmentCount > 100 {
		v.errorf("hls.segmentCount", "invalid count %d: expected 7 to 100 (Low-Latency HLS needs at least 7)", h.SegmentCount)
	}
	v.positive("hls.segmentDuration", h.SegmentDuration)
	v.positive("hls.partDuration", h.PartDuration)
	if h.PartDuration > 0 && h.SegmentDuration > 0 && h.PartDuration > h.SegmentDuration {
		v.errorAt("hls.partDuration", "hls.segmentDuration", "%s is longer than hls.segmentDuration %s: expected a shorter part", h.PartDuration, h.SegmentDuration)
	}
	v.positive("hls.idleClose", h.IdleClose)
}

func (v *validator) webrtc() {
	w := &v.c.WebRTC
	if w.Address != "" {
		v.addr("webrtc.address", w.Address, ":8189")
	}
	for _, u := range w.ICEServers {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			v.errorf("webrtc.iceServers", "invalid ICE server %s: expected a stun:, turn: or turns: URL such as \"stun:stun.example.com:3478\"", quoteShort(u))
		}
	}
	switch {
	case w.ICESecret != "" && (w.ICEUsername != "" || w.ICECredential != ""):
		v.errorf("webrtc.iceSecret", "set together with webrtc.iceUsername/iceCredential: expected either a TURN REST secret or static credentials")
	case (w.ICEUsername == "") != (w.ICECredential == ""):
		v.errorf("webrtc.iceUsername", "set without its pair: expected both webrtc.iceUsername and webrtc.iceCredential, or neither")
	}
	for _, h := range w.AdditionalHosts {
		if net.ParseIP(h) == nil {
			v.errorf("webrtc.additionalHosts", "invalid IP %s: expected IP addresses such as \"203.0.113.7\"", quoteShort(h))
		}
	}
	v.limit("webrtc.maxSessions", w.MaxSessions)
	v.size("webrtc.maxOfferBytes", w.MaxOfferBytes)
	v.limit("webrtc.offersPerSecond", w.OffersPerSecond)
}

func (v *validator) file(key, name, what string) {
	st, err := os.Stat(name)
	switch {
	case err != nil:
		v.errorf(key, "cannot use %s: %v: expected %s", quoteShort(name), unwrapPathErr(err), what)
	case st.IsDir():
		v.errorf(key, "%s is a directory: expected %s", quoteShort(name), what)
	}
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// limit checks a count limit where 0 means unlimited.
func (v *validator) limit(key string, n int) {
	if n < 0 {
		v.errorf(key, "negative value %d: expected 0 (unlimited) or more", n)
	}
}

// size checks a byte limit on what clients send.
func (v *validator) size(key string, n int) {
	if n < 1024 || n > 16<<20 {
		v.errorf(key, "invalid size %d: expected bytes from 1024 to 16777216", n)
	}
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.errorf(key, "duration %s is not positive: expected %s", d, durationExpect)
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.errorf(key, "negative duration %s: expected a duration of 0 or more", d)
	}
}

// listener is one socket the RTSP server binds.
type listener struct {
	key  string
	udp  bool
	host string
	port int
}

// listeners reports two sockets of one protocol on one port. The error
// goes to the key that was set in the file or env, the later one if both.
func (v *validator) listeners() {
	r := &v.c.RTSP
	var ls []listener
	add := func(key, addr string, udp bool) {
		if h, p, msg := splitAddr(addr, ""); msg == "" && p != 0 {
			ls = append(ls, listener{key, udp, h, p})
		}
	}
	add("rtsp.address", r.Address, false)
	add("http.address", v.c.HTTP.Address, false)
	if v.c.WebRTC.Address != "" {
		add("webrtc.address", v.c.WebRTC.Address, false)
		add("webrtc.address", v.c.WebRTC.Address, true)
	}
	if r.TLSEnabled() {
		add("rtsp.rtspsAddress", r.RTSPSAddress, false)
	}
	if r.UDPEnabled() {
		add("rtsp.rtpAddress", r.RTPAddress, true)
		add("rtsp.rtcpAddress", r.RTCPAddress, true)
	}
	if r.MulticastEnabled() {
		ls = append(ls, listener{"rtsp.multicastRTPPort", true, "", r.MulticastRTPPort},
			listener{"rtsp.multicastRTCPPort", true, "", r.MulticastRTCPPort})
	}
	for j := range ls {
		for i := 0; i < j; i++ {
			a, b := ls[i], ls[j]
			if a.udp != b.udp || a.port != b.port || !hostsOverlap(a.host, b.host) {
				continue
			}
			if v.pf(b.key) == (pos{}) && v.pf(a.key) != (pos{}) {
				a, b = b, a
			}
			v.errorf(b.key, "port %d is already used by %s: expected a free port", b.port, a.key)
			break
		}
	}
}

// hostsOverlap reports whether two listen hosts can clash: equal, or one
// of them is a wildcard.
func hostsOverlap(a, b string) bool {
	wild := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || ip != nil && ip.IsUnspecified()
	}
	return a == b || wild(a) || wild(b)
}

// sourceMsg checks a source; "" when valid. Placeholders must have been
// substituted already.
func sourceMsg(s string) string {
	const expect = `expected rtsp://…, rtsps://…, "publisher" or "demo"`
	switch {
	case s == SourcePublisher || s == SourceDemo:
		return ""
	case s == "":
		return "empty source: " + expect
	}
	scheme, _, found := strings.Cut(s, "://")
	if !found {
		return fmt.Sprintf("invalid URL %s: %s", quoteShort(redactURL(s)), expect)
	}
	if scheme != "rtsp" && scheme != "rtsps" {
		return fmt.Sprintf("unsupported scheme %s in %s: %s", quoteShort(scheme), quoteShort(redactURL(s)), expect)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("invalid URL %s: %s", quoteShort(redactURL(s)), expect)
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("URL %s has no host: expected %s://host[:port]/…", quoteShort(redactURL(s)), scheme)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("URL %s has an invalid port: expected a port from 1 to 65535", quoteShort(redactURL(s)))
		}
	}
	return ""
}

// path checks the values of one path, or of pathDefaults when defaults.
// A path's value equal to the one in pathDefaults was checked there and
// is not reported again.
func (v *validator) path(prefix string, p *PathConfig, defaults bool) {
	key := func(k string) string { return prefix + "." + k }
	d := &v.c.PathDefaults
	own := func(differs bool) bool { return defaults || differs }
	if !v.source(prefix, p, defaults) {
		return
	}
	if own(p.SourceProtocol != d.SourceProtocol) {
		v.oneOf(key("sourceProtocol"), "source protocol", p.SourceProtocol, "auto", "tcp", "udp", "multicast")
	}
	if _, ok := normalizeFingerprint(p.SourceFingerprint); !ok {
		if own(p.SourceFingerprint != d.SourceFingerprint) {
			v.errorf(key("sourceFingerprint"), "invalid fingerprint %s: expected 64 hex digits (SHA-256 of the certificate), colons allowed", quoteShort(p.SourceFingerprint))
		}
	} else if p.SourceFingerprint != "" && p.SourceSkipVerify && (defaults || p.Pulled()) &&
		own(p.SourceFingerprint != d.SourceFingerprint || p.SourceSkipVerify != d.SourceSkipVerify) {
		v.errorAt(key("sourceFingerprint"), key("sourceSkipVerify"), "set together with sourceSkipVerify: expected either a fingerprint or sourceSkipVerify: true, not both")
	}
	if own(p.SourceReadTimeout != d.SourceReadTimeout) {
		v.positive(key("sourceReadTimeout"), p.SourceReadTimeout)
	}
	if own(p.OnDemandStartTimeout != d.OnDemandStartTimeout) {
		v.positive(key("onDemandStartTimeout"), p.OnDemandStartTimeout)
	}
	if own(p.OnDemandCloseAfter != d.OnDemandCloseAfter) {
		v.nonNegative(key("onDemandCloseAfter"), p.OnDemandCloseAfter)
	}
	if own(p.HLSVariant != d.HLSVariant) {
		v.oneOf(key("hlsVariant"), "HLS variant", p.HLSVariant, "lowLatency", "fmp4", "mpegts")
	}
	if own(p.OutageGrace != d.OutageGrace) {
		v.nonNegative(key("outageGrace"), p.OutageGrace)
	}
	if own(p.Timeshift != d.Timeshift) {
		v.nonNegative(key("timeshift"), p.Timeshift)
		if p.Timeshift > 0 && p.Pattern {
			v.errorf(key("timeshift"), "timeshift needs a named path, not a pattern: expected no timeshift key on %s", prefix)
		}
	}
	if p.TimeshiftMaxBytes <= 0 && own(p.TimeshiftMaxBytes != d.TimeshiftMaxBytes) {
		v.errorf(key("timeshiftMaxBytes"), "got %d: expected a positive number of bytes", p.TimeshiftMaxBytes)
	}
	v.record(key, p, d, own)
	if p.MaxReaders < 0 && own(p.MaxReaders != d.MaxReaders) {
		v.errorf(key("maxReaders"), "negative value %d: expected 0 (unlimited) or more", p.MaxReaders)
	}
	if defaults {
		return
	}
	if p.ReadPass != "" && p.ReadUser == "" {
		v.errorf(key("readPass"), "set without readUser: expected both readUser and readPass, or neither")
	}
	if p.PublishPass != "" && p.PublishUser == "" {
		v.errorf(key("publishPass"), "set without publishUser: expected both publishUser and publishPass, or neither")
	}
	switch {
	case p.OnDemand && !p.Pulled():
		v.errorf(key("onDemand"), "on-demand needs a pulled source, not %s: expected an rtsp:// or rtsps:// source, or onDemand: false", quoteShort(redactURL(p.Source)))
	case p.Pattern && p.Pulled() && !p.OnDemand:
		v.errorf(key("onDemand"), "pattern paths are always on-demand: expected onDemand: true or no onDemand key")
	}
}

// source checks a path's source and its placeholders; false when it is
// unusable, so that checks depending on it are skipped.
func (v *validator) source(prefix string, p *PathConfig, defaults bool) bool {
	key := prefix + ".source"
	inherited := !defaults && p.Source == v.c.PathDefaults.Source
	names := map[string]bool{}
	if p.Pattern {
		names = namePlaceholders(p.Name)
	}
	src := p.Source
	for _, ph := range sourcePlaceholders(p.Source) {
		if !defaults && !names[ph] {
			from := ""
			if inherited && v.pf(key) == (pos{}) {
				from = " (inherited from pathDefaults.source)"
			}
			if p.Pattern {
				v.errorf(key, "placeholder {%s} is not in the path name%s: expected only placeholders of %s", ph, from, quoteShort(p.Name))
			} else {
				v.errorf(key, "placeholder {%s} in the source of a path without placeholders%s: expected a source without {…}", ph, from)
			}
			return false
		}
		src = strings.ReplaceAll(src, "{"+ph+"}", "x")
	}
	if inherited {
		return true // checked in pathDefaults
	}
	if msg := sourceMsg(src); msg != "" {
		if src != p.Source {
			msg = strings.Replace(msg, quoteShort(redactURL(src)), quoteShort(redactURL(p.Source)), 1)
		}
		v.errorf(key, "%s", msg)
		return false
	}
	return true
}

func (v *validator) paths() {
	c := v.c
	if len(c.PathOrder) != len(c.Paths) {
		v.errorf("paths", "%d paths but %d names in PathOrder: expected each path listed once", len(c.Paths), len(c.PathOrder))
	}
	shapes := map[string]string{}
	for _, name := range c.PathOrder {
		prefix := "paths." + name
		p, ok := c.Paths[name]
		if !ok || p == nil {
			v.errorf(prefix, "listed in PathOrder but missing from Paths: expected a path")
			continue
		}
		if p.Name != name || p.Pattern != strings.ContainsAny(name, "{}") {
			v.errorf(prefix, "Name %s or Pattern %t does not match the key: expected the key as Name", quoteShort(p.Name), p.Pattern)
			continue
		}
		if msg := checkPathName(name, true); msg != "" {
			v.errorf(prefix, "%s", msg)
			continue
		}
		if p.Pattern {
			shape := patternShape(name)
			if other, dup := shapes[shape]; dup {
				v.errorf(prefix, "pattern matches the same names as paths.%s, which comes first: expected patterns of different shapes", other)
				continue
			}
			shapes[shape] = name
		}
		v.path(prefix, p, false)
	}
}
