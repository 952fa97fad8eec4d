package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// RTSP Digest (RFC 2617, MD5, with or without qop=auth) needs the server to
// know MD5(user:realm:password), which an argon2id or bcrypt hash cannot
// give. A user therefore carries an optional DigestHA1 for RTSP Digest only;
// users without one can use RTSP Basic (preferably over RTSPS).

// maxDigestHeader bounds the Authorization header ParseDigest looks at.
const maxDigestHeader = 4096

// DigestHA1 returns MD5(user:Realm:pass) in lower-case hex, the value of a
// user's digestHA1 config field.
func DigestHA1(user, pass string) string {
	return md5Hex(user + ":" + Realm + ":" + pass)
}

// NewNonce returns a fresh random nonce for a Digest challenge. The RTSP
// layer issues one per connection and passes it back in DigestAuth.Nonce.
func NewNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// DigestChallenge returns the WWW-Authenticate value offering Digest with
// the given nonce in the gateway's realm. Send it next to
// `Basic realm="streamgate"` on a 401.
func DigestChallenge(nonce string) string {
	return fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm="MD5"`, Realm, nonce)
}

// DigestAuth carries an RTSP Digest Authorization header for Authorize.
type DigestAuth struct {
	Header string // the Authorization header value, starting with "Digest "
	Method string // the request method, for example "DESCRIBE"
	Nonce  string // the nonce this server issued to the connection
	// URIs are the digest-uri values accepted for this request: the request
	// URL and, for SETUP, the stream's base URL with and without a trailing
	// slash (VLC and some NVRs sign those). Each is also accepted in its
	// path-and-query form, which RFC 2617 allows clients to send.
	URIs []string
}

// DigestCredentials is a parsed Digest Authorization header.
type DigestCredentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string // 32 lower-case hex digits
	Algorithm string // "" or "MD5"
	QOP       string // "" or "auth"
	NC        string // nonce count, with qop
	CNonce    string // client nonce, with qop
	Opaque    string
}

// ParseDigest parses an Authorization header of the Digest scheme. It
// accepts MD5 only (no -sess, no SHA-256, no userhash) and qop "auth" only.
func ParseDigest(header string) (DigestCredentials, error) {
	var c DigestCredentials
	if len(header) > maxDigestHeader {
		return c, errors.New("digest header too long")
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(header, " "), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return c, errors.New("not a Digest authorization")
	}
	params, err := parseAuthParams(rest)
	if err != nil {
		return c, err
	}
	c = DigestCredentials{
		Username: params["username"], Realm: params["realm"], Nonce: params["nonce"],
		URI: params["uri"], Response: strings.ToLower(params["response"]),
		Algorithm: params["algorithm"], QOP: params["qop"], NC: params["nc"],
		CNonce: params["cnonce"], Opaque: params["opaque"],
	}
	for _, k := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := params[k]; !ok {
			return DigestCredentials{}, fmt.Errorf("digest: missing %s", k)
		}
	}
	switch {
	case c.Username == "" || c.Nonce == "" || c.URI == "":
		return DigestCredentials{}, errors.New("digest: empty username, nonce or uri")
	case c.Algorithm != "" && !strings.EqualFold(c.Algorithm, "MD5"):
		return DigestCredentials{}, fmt.Errorf("digest: unsupported algorithm %q", c.Algorithm)
	case params["userhash"] != "" && !strings.EqualFold(params["userhash"], "false"):
		return DigestCredentials{}, errors.New("digest: userhash is not supported")
	case len(c.Response) != 32 || !isHex(c.Response):
		return DigestCredentials{}, errors.New("digest: response is not 32 hex digits")
	}
	if _, ok := params["username*"]; ok {
		return DigestCredentials{}, errors.New("digest: username* is not supported")
	}
	switch c.QOP {
	case "":
		if c.NC != "" || c.CNonce != "" {
			return DigestCredentials{}, errors.New("digest: nc or cnonce without qop")
		}
	case "auth":
		if len(c.NC) != 8 || !isHex(c.NC) || c.CNonce == "" {
			return DigestCredentials{}, errors.New("digest: qop=auth needs nc (8 hex digits) and cnonce")
		}
	default:
		return DigestCredentials{}, fmt.Errorf("digest: unsupported qop %q", c.QOP)
	}
	return c, nil
}

// Verify reports whether the response matches the given HA1 for a request
// of the given method, comparing in constant time. It checks neither the
// realm, the nonce nor the URI: Authorize does.
func (c DigestCredentials) Verify(ha1, method string) bool {
	ha2 := md5Hex(method + ":" + c.URI)
	var want string
	if c.QOP == "auth" {
		want = md5Hex(ha1 + ":" + c.Nonce + ":" + c.NC + ":" + c.CNonce + ":" + c.QOP + ":" + ha2)
	} else {
		want = md5Hex(ha1 + ":" + c.Nonce + ":" + ha2)
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) == 1
}

// uriAccepted reports whether the signed digest-uri is one of the URIs the
// RTSP layer accepts for this request.
func (c DigestCredentials) uriAccepted(uris []string) bool {
	for _, u := range uris {
		if u == "" {
			continue
		}
		if c.URI == u {
			return true
		}
		if pu, err := url.Parse(u); err == nil && pu.IsAbs() && c.URI == pu.RequestURI() {
			return true
		}
	}
	return false
}

// parseAuthParams parses RFC 7235 auth-params: name=token or
// name="quoted string", separated by commas. Names are case-insensitive
// and may appear once.
func parseAuthParams(s string) (map[string]string, error) {
	params := make(map[string]string)
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			return params, nil
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("digest: unexpected %q", s[i])
		}
		name := strings.ToLower(s[start:i])
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("digest: %s has no value", name)
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var value string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				ch := s[i]
				if ch == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if ch == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("digest: unterminated quoted value of %s", name)
			}
			value = b.String()
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			value = s[start:i]
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("digest: %s given twice", name)
		}
		params[name] = value
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("digest: expected a comma after %s", name)
		}
	}
}

// isTokenChar reports whether ch may appear in an RFC 7230 token.
func isTokenChar(ch byte) bool {
	switch {
	case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s)%2 == 0
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
