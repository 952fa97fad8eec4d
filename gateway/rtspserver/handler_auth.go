package rtspserver

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5"
	rtspauth "github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/streamgate/streamgate/auth"
)

// Why the RTSP layer answers refusals itself: gortsplib replaces the
// WWW-Authenticate header of a response returned with
// liberrors.ErrServerAuth by its own challenge (realm "ipcam", its own
// nonce), and a Digest response to that challenge could not be checked
// against the users' digestHA1 values, which are bound to the realm
// "streamgate". So refusals are returned with a nil error: the connection
// stays open for the retry with credentials, and the failure slowdown of
// the Authorizer, not a closed connection, is what limits guessing.

// errLegacyNeedsLogin explains why a request allowed anonymously is
// refused on a path with legacy credentials.
var errLegacyNeedsLogin = errors.New("the path asks for its readUser/publishUser credentials")

// authorize decides whether a DESCRIBE or SETUP (read) or an ANNOUNCE
// (publish) on path may go ahead. It returns nil when it may, else the
// response to send (401 with challenges, 403, or 503 with Retry-After).
func (h *handler) authorize(c *gortsplib.ServerConn, req *base.Request, path string, action auth.Action) *base.Response {
	s := h.s
	var legacy Credentials
	if s.Credentials != nil {
		read, publish := s.Credentials(path)
		legacy = read
		if action == auth.ActionPublish {
			legacy = publish
		}
	}
	if legacy.User == "" && s.Authorizer == nil {
		return nil
	}
	cs, _ := c.UserData().(*connState)
	if cs == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}
	}
	ar := auth.Request{Action: action, Path: path, IP: remoteIP(c)}
	if err := h.credentials(req, cs.nonce, &ar); err != nil {
		return h.refuse(c, cs, path, auth.Unauthorized, err)
	}
	if legacy.User != "" && legacyMatch(ar, legacy) {
		return nil
	}
	if s.Authorizer == nil {
		return h.refuse(c, cs, path, auth.Unauthorized, errLegacyNeedsLogin)
	}
	d, id, err := s.Authorizer.Authorize(s.ctx, ar)
	if d == auth.Allow && legacy.User != "" && id == nil {
		d, err = auth.Unauthorized, errLegacyNeedsLogin
	}
	if d == auth.Allow {
		return nil
	}
	return h.refuse(c, cs, path, d, err)
}

// credentials fills ar from the Authorization header: Basic gives User and
// Pass, Digest gives Digest with this connection's nonce. Only the schemes
// of AuthMethods are accepted.
func (h *handler) credentials(req *base.Request, nonce string, ar *auth.Request) error {
	values := req.Header["Authorization"]
	switch len(values) {
	case 0:
		return nil
	case 1:
	default:
		return errors.New("more than one Authorization header")
	}
	v := strings.TrimSpace(values[0])
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(scheme, "Basic") && h.offers(rtspauth.VerifyMethodBasic):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return errors.New("malformed Basic credentials")
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok || user == "" {
			return errors.New("malformed Basic credentials")
		}
		ar.User, ar.Pass = user, pass
	case strings.EqualFold(scheme, "Digest") && h.offers(rtspauth.VerifyMethodDigestMD5):
		ar.Digest = &auth.DigestAuth{Header: v, Method: string(req.Method), Nonce: nonce, URIs: digestURIs(req.URL)}
	default:
		return errors.New("authorization scheme not offered")
	}
	return nil
}

// offers reports whether the server accepts and offers the scheme m.
func (h *handler) offers(m rtspauth.VerifyMethod) bool {
	return slices.Contains(h.s.AuthMethods, m)
}

// digestURIs are the digest-uri values accepted for a request: its URL
// and, for SETUP of a track, the stream's base URL with and without a
// trailing slash, which some clients sign instead.
func digestURIs(u *base.URL) []string {
	if u == nil {
		return nil
	}
	full := u.String()
	uris := []string{full}
	if i := strings.LastIndex(full, "/trackID="); i >= 0 {
		uris = append(uris, full[:i], full[:i]+"/")
	}
	return uris
}

// legacyMatch reports whether the request carries exactly the legacy
// credentials want, as Basic or as a Digest response to our challenge.
func legacyMatch(ar auth.Request, want Credentials) bool {
	if d := ar.Digest; d != nil {
		c, err := auth.ParseDigest(d.Header)
		if err != nil || c.Realm != auth.Realm || d.Nonce == "" || c.Nonce != d.Nonce || !uriAccepted(c.URI, d.URIs) {
			return false
		}
		return c.Username == want.User && c.Verify(auth.DigestHA1(want.User, want.Pass), d.Method)
	}
	if ar.User == "" {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(ar.User), []byte(want.User)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(ar.Pass), []byte(want.Pass)) == 1
	return userOK && passOK
}

// uriAccepted reports whether the signed digest-uri is one of uris, whole
// or in its path-and-query form.
func uriAccepted(signed string, uris []string) bool {
	for _, u := range uris {
		if signed == u {
			return true
		}
		if pu, err := url.Parse(u); err == nil && pu.IsAbs() && signed == pu.RequestURI() {
			return true
		}
	}
	return false
}

// refuse builds the response for a decision other than Allow. RTSP has no
// 429: a slowed-down address gets 503 with Retry-After (RFC 2326 12.38).
func (h *handler) refuse(c *gortsplib.ServerConn, cs *connState, path string, d auth.Decision, reason error) *base.Response {
	cs.mu.Lock()
	cs.refused = true
	cs.mu.Unlock()
	h.s.Logger.Debug("rtsp request refused", "remote", c.NetConn().RemoteAddr().String(),
		"path", path, "decision", d.String(), "reason", reason)
	switch d {
	case auth.Forbidden:
		return &base.Response{StatusCode: base.StatusForbidden}
	case auth.TooManyFailures:
		secs := 1
		var tm *auth.TooManyFailuresError
		if errors.As(reason, &tm) {
			secs = max(1, int(math.Ceil(tm.RetryAfter.Seconds())))
		}
		return &base.Response{
			StatusCode:    base.StatusServiceUnavailable,
			StatusMessage: "Service Unavailable: too many failed logins, retry later",
			Header:        base.Header{"Retry-After": base.HeaderValue{strconv.Itoa(secs)}},
		}
	}
	var challenges base.HeaderValue
	if h.offers(rtspauth.VerifyMethodBasic) {
		challenges = append(challenges, `Basic realm="`+auth.Realm+`"`)
	}
	if h.offers(rtspauth.VerifyMethodDigestMD5) && cs.nonce != "" {
		challenges = append(challenges, auth.DigestChallenge(cs.nonce))
	}
	return &base.Response{
		StatusCode: base.StatusUnauthorized,
		Header:     base.Header{"WWW-Authenticate": challenges},
	}
}

// remoteIP is the client address of a connection.
func remoteIP(c *gortsplib.ServerConn) net.IP {
	if a, ok := c.NetConn().RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}
