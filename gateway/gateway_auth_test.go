package gateway_test

import (
	"bufio"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/streamgate/streamgate/auth"
)

// The auth matrix: every protocol the gateway speaks, against every kind of
// credentials, with an anonymous policy that allows nothing.

const (
	jwtIssuer   = "test-issuer"
	jwtAudience = "streamgate"
	jwtKID      = "k1"
)

// testJWKS serves the public half of an RSA key as a JWK set and signs
// tokens with it.
type testJWKS struct {
	url   string
	key   *rsa.PrivateKey
	other *rsa.PrivateKey // signs tokens the gateway must refuse
}

func newTestJWKS(t *testing.T) *testJWKS {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": jwtKID, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	return &testJWKS{url: srv.URL, key: key, other: other}
}

// token signs claims (standard ones filled in unless changed) with key.
func (j *testJWKS) token(t *testing.T, key *rsa.PrivateKey, change func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": "service", "iss": jwtIssuer, "aud": jwtAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"streamgate_permissions": []map[string]string{
			{"action": "read", "path": "demo"}, {"action": "api"}, {"action": "metrics"},
		},
	}
	if change != nil {
		change(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = jwtKID
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// bcryptHash is a cheap (cost 4) hash, so that the matrix stays fast.
func bcryptHash(t *testing.T, pass string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	require.NoError(t, err)
	return string(b)
}

// authConfigYAML has three users: viewer may read demo and use the API
// and metrics (and has a digestHA1), nobody may only read another path,
// lan may do everything but only from 10.0.0.0/8. Nothing is anonymous.
func authConfigYAML(t *testing.T, jwksURL, failures string) string {
	return fmt.Sprintf(`auth:
  anonymous: []
  users:
    - name: viewer
      password: %q
      digestHA1: %q
      permissions: [{action: read, path: demo}, {action: api}, {action: metrics}]
    - name: nobody
      password: %q
      permissions: [{action: read, path: elsewhere}]
    - name: lan
      password: %q
      ips: [10.0.0.0/8]
      permissions: [{action: read}, {action: api}, {action: metrics}]
  jwt: {jwksURL: %q, issuer: %s, audience: %s}
  failures: %s
`, bcryptHash(t, "viewer-pw"), auth.DigestHA1("viewer", "viewer-pw"), bcryptHash(t, "nobody-pw"),
		bcryptHash(t, "lan-pw"), jwksURL, jwtIssuer, jwtAudience, failures)
}

// creds are the credentials of one matrix row: Basic user and password, or
// a token sent as "Authorization: Bearer".
type creds struct {
	user, pass string
	token      string
}

// authHTTP talks HTTP to the gateway under test.
type authHTTP struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newAuthHTTP(t *testing.T, g *e2eGateway) *authHTTP {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &authHTTP{t: t, base: "http://" + g.HTTPAddr().String(), client: &http.Client{
		Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends one request with c's credentials and returns the response with
// its body read.
func (h *authHTTP) do(method, path, body string, c creds) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(e2eCtx(h.t), method, h.base+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/sdp")
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	res, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(h.t, err)
	return res, string(b)
}

// rtspConn is a raw RTSP connection, for requests with exact headers.
type rtspConn struct {
	t    *testing.T
	nc   net.Conn
	br   *bufio.Reader
	host string
	cseq int
}

func dialRTSP(t *testing.T, host string) *rtspConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", host, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(15*time.Second)))
	return &rtspConn{t: t, nc: nc, br: bufio.NewReader(nc), host: host}
}

func (c *rtspConn) do(method base.Method, path string, hdr base.Header) *base.Response {
	c.t.Helper()
	return c.doBody(method, path, hdr, nil)
}

func (c *rtspConn) doBody(method base.Method, path string, hdr base.Header, body []byte) *base.Response {
	c.t.Helper()
	u, err := base.ParseURL("rtsp://" + c.host + "/" + path)
	require.NoError(c.t, err)
	c.cseq++
	if hdr == nil {
		hdr = base.Header{}
	}
	hdr["CSeq"] = base.HeaderValue{fmt.Sprint(c.cseq)}
	b, err := base.Request{Method: method, URL: u, Header: hdr, Body: body}.Marshal()
	require.NoError(c.t, err)
	_, err = c.nc.Write(b)
	require.NoError(c.t, err)
	var res base.Response
	require.NoError(c.t, res.Unmarshal(c.br))
	return &res
}

// describe sends one DESCRIBE of demo with c's credentials (RTSP Basic; RTSP
// has no tokens) on a fresh connection.
func rtspDescribe(t *testing.T, host string, c creds) *base.Response {
	hdr := base.Header{}
	if c.user != "" {
		hdr["Authorization"] = base.HeaderValue{"Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))}
	}
	return dialRTSP(t, host).do(base.Describe, "demo", hdr)
}

// outcome is what a matrix cell expects.
type outcome int

const (
	allowed      outcome = iota // the protocol's success (400 for a garbage WHEP body)
	unauthorized                // 401 with a challenge
	forbidden                   // 403
	notApplicable
)

func TestAuthMatrix(t *testing.T) {
	jwks := newTestJWKS(t)
	g := startGateway(t, authConfigYAML(t, jwks.url, "{delay: 0}"))
	h := newAuthHTTP(t, g)

	valid := jwks.token(t, jwks.key, nil)
	readOnly := jwks.token(t, jwks.key, func(c jwt.MapClaims) {
		c["streamgate_permissions"] = []map[string]string{{"action": "read", "path": "demo"}}
	})
	expired := jwks.token(t, jwks.key, func(c jwt.MapClaims) {
		c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	})
	badSig := jwks.token(t, jwks.other, nil)
	badAud := jwks.token(t, jwks.key, func(c jwt.MapClaims) { c["aud"] = "someone-else" })

	// Each protocol runs one request and returns its status code; ok is the
	// status that proves the request got past authentication.
	type protocol struct {
		name string
		ok   int
		run  func(t *testing.T, c creds) (status int, challenged bool)
	}
	httpCase := func(method, path, body string) func(t *testing.T, c creds) (int, bool) {
		return func(t *testing.T, c creds) (int, bool) {
			res, _ := h.do(method, path, body, c)
			ch := res.Header.Values("WWW-Authenticate")
			return res.StatusCode, len(ch) == 2 && strings.HasPrefix(ch[0], `Basic realm="streamgate"`) && strings.HasPrefix(ch[1], "Bearer")
		}
	}
	protocols := []protocol{
		{"RTSP DESCRIBE", int(base.StatusOK), func(t *testing.T, c creds) (int, bool) {
			res := rtspDescribe(t, g.host, c)
			ch := res.Header["WWW-Authenticate"]
			return int(res.StatusCode), len(ch) == 2 && ch[0] == `Basic realm="streamgate"` && strings.HasPrefix(ch[1], `Digest realm="streamgate", nonce="`)
		}},
		{"HLS playlist", http.StatusOK, httpCase(http.MethodGet, "/demo/index.m3u8", "")},
		{"player page", http.StatusOK, httpCase(http.MethodGet, "/demo/", "")},
		// Authentication is decided before the body is read: a garbage
		// offer gets 401/403 when refused, 400 once let through.
		{"WHEP", http.StatusBadRequest, httpCase(http.MethodPost, "/demo/whep", "not an SDP offer")},
		{"WHIP", http.StatusBadRequest, httpCase(http.MethodPost, "/demo/whip", "not an SDP offer")},
		{"API", http.StatusOK, httpCase(http.MethodGet, "/api/v1/paths", "")},
		{"metrics", http.StatusOK, httpCase(http.MethodGet, "/metrics", "")},
	}

	// want lists the outcome per protocol, in the order above.
	type row struct {
		name  string
		creds creds
		want  []outcome
	}
	const a, u, f, na = allowed, unauthorized, forbidden, notApplicable
	rows := []row{
		{"no credentials", creds{}, []outcome{u, u, u, u, u, u, u}},
		{"wrong password", creds{user: "viewer", pass: "wrong"}, []outcome{u, u, u, u, u, u, u}},
		{"unknown user", creds{user: "mallory", pass: "viewer-pw"}, []outcome{u, u, u, u, u, u, u}},
		{"right password, no permission", creds{user: "nobody", pass: "nobody-pw"}, []outcome{f, f, f, f, f, f, f}},
		{"right password and permission", creds{user: "viewer", pass: "viewer-pw"}, []outcome{a, a, a, a, f, a, a}},
		{"user restricted to 10.0.0.0/8", creds{user: "lan", pass: "lan-pw"}, []outcome{f, f, f, f, f, f, f}},
		{"JWT valid", creds{token: valid}, []outcome{na, a, a, a, f, a, a}},
		{"JWT valid, read only", creds{token: readOnly}, []outcome{na, a, a, a, f, f, f}},
		{"JWT expired", creds{token: expired}, []outcome{na, u, u, u, u, u, u}},
		{"JWT wrong signature", creds{token: badSig}, []outcome{na, u, u, u, u, u, u}},
		{"JWT wrong audience", creds{token: badAud}, []outcome{na, u, u, u, u, u, u}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			for i, p := range protocols {
				want := r.want[i]
				if want == notApplicable {
					continue
				}
				status, challenged := p.run(t, r.creds)
				switch want {
				case allowed:
					require.Equal(t, p.ok, status, "%s", p.name)
				case unauthorized:
					require.Equal(t, http.StatusUnauthorized, status, "%s", p.name)
					require.True(t, challenged, "%s: a 401 must carry the Basic (and Bearer or Digest) challenges", p.name)
				case forbidden:
					require.Equal(t, http.StatusForbidden, status, "%s", p.name)
				}
			}
		})
	}

	t.Run("token in the query", func(t *testing.T) {
		for _, path := range []string{"/demo/index.m3u8?token=" + valid, "/demo/?token=" + valid, "/api/v1/paths?token=" + valid} {
			res, body := h.do(http.MethodGet, path, "", creds{})
			require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", path, body)
		}
		res, _ := h.do(http.MethodGet, "/demo/index.m3u8?token="+expired, "", creds{})
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		res, _ = h.do(http.MethodGet, "/demo/index.m3u8?token="+valid, "", creds{token: readOnly})
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "two different tokens are refused")
	})

	t.Run("open routes", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/assets/player.js", "/"} {
			res, _ := h.do(http.MethodGet, path, "", creds{})
			require.Equal(t, http.StatusOK, res.StatusCode, path)
		}
		// The list names only what the visitor may read.
		_, body := h.do(http.MethodGet, "/", "", creds{})
		require.NotContains(t, body, `href="demo/"`)
		_, body = h.do(http.MethodGet, "/", "", creds{user: "viewer", pass: "viewer-pw"})
		require.Contains(t, body, `href="demo/"`)
		_, body = h.do(http.MethodGet, "/?token="+valid, "", creds{})
		require.Contains(t, body, `href="demo/"`)
		// A CORS preflight carries no credentials and is not refused.
		res, _ := h.do(http.MethodOptions, "/demo/index.m3u8", "", creds{})
		require.Equal(t, http.StatusNoContent, res.StatusCode)
	})

	t.Run("path tricks never reach the stream", func(t *testing.T) {
		res, body := h.do(http.MethodGet, "/demo/index.m3u8", "", creds{user: "viewer", pass: "viewer-pw"})
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, body, "#EXTM3U", "the control: the real URL plays")
		for _, path := range []string{
			"/DEMO/index.m3u8", "/Demo/", "/demo//index.m3u8", "//demo/index.m3u8", "/x/../demo/index.m3u8",
			"/demo/./index.m3u8", "/demo%2Findex.m3u8", "/x/..%2Fdemo/index.m3u8", "/%64emo/..%2f..%2fdemo/index.m3u8",
			"/demo%2fwhep", "/api/v1/paths/..%2F..%2Fmetrics",
		} {
			for _, c := range []creds{{}, {user: "nobody", pass: "nobody-pw"}} {
				res, body := h.do(http.MethodGet, path, "", c)
				require.NotContains(t, body, "#EXTM3U", "%s as %q", path, c.user)
				require.Contains(t, []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound},
					res.StatusCode, "%s as %q: %s", path, c.user, body)
			}
		}
		// The viewer may read demo only: another letter case is another path.
		res, _ = h.do(http.MethodGet, "/DEMO/index.m3u8", "", creds{user: "viewer", pass: "viewer-pw"})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})

	t.Run("RTSP Digest with digestHA1", func(t *testing.T) {
		c := dialRTSP(t, g.host)
		res := c.do(base.Describe, "demo", nil)
		require.Equal(t, base.StatusUnauthorized, res.StatusCode)
		var nonce string
		for _, ch := range res.Header["WWW-Authenticate"] {
			if v, ok := strings.CutPrefix(ch, `Digest realm="streamgate", nonce="`); ok {
				nonce, _, _ = strings.Cut(v, `"`)
			}
		}
		require.NotEmpty(t, nonce)
		uri := "rtsp://" + g.host + "/demo"
		digest := func(user, pass, nonce string) base.Header {
			md := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
			resp := md(md(user+":streamgate:"+pass) + ":" + nonce + ":" + md("DESCRIBE:"+uri))
			return base.Header{"Authorization": base.HeaderValue{fmt.Sprintf(
				`Digest username="%s", realm="streamgate", nonce="%s", uri="%s", response="%s"`, user, nonce, uri, resp)}}
		}
		require.Equal(t, base.StatusUnauthorized, c.do(base.Describe, "demo", digest("viewer", "wrong", nonce)).StatusCode)
		require.Equal(t, base.StatusUnauthorized, c.do(base.Describe, "demo", digest("viewer", "viewer-pw", "made-up")).StatusCode,
			"a nonce the connection was not given")
		require.Equal(t, base.StatusUnauthorized, c.do(base.Describe, "demo", digest("nobody", "nobody-pw", nonce)).StatusCode,
			"a user without digestHA1 cannot use Digest")
		require.Equal(t, base.StatusOK, c.do(base.Describe, "demo", digest("viewer", "viewer-pw", nonce)).StatusCode)

		// A real client: gortsplib picks Digest when offered, and plays.
		r := mustReader(t, "rtsp://viewer:viewer-pw@"+g.host+"/demo", gortsplib.ProtocolTCP)
		r.waitPackets(t, e2eCtx(t), 5)
		// nobody has no digestHA1, and a client that prefers Digest cannot
		// fall back to Basic after its Digest answer is refused.
		_, err := dialReader(t, "rtsp://nobody:nobody-pw@"+g.host+"/demo", gortsplib.ProtocolTCP)
		require.Error(t, err)
		require.Contains(t, err.Error(), "401")
	})

	t.Run("RTSP publish needs publish", func(t *testing.T) {
		c := dialRTSP(t, g.host)
		hdr := base.Header{
			"Authorization": base.HeaderValue{"Basic " + base64.StdEncoding.EncodeToString([]byte("viewer:viewer-pw"))},
			"Content-Type":  base.HeaderValue{"application/sdp"},
		}
		sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
			"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"
		res := c.doBody(base.Announce, "pushed", hdr, []byte(sdp))
		require.Equal(t, base.StatusForbidden, res.StatusCode)
		require.Empty(t, res.Header["Session"])
	})
}

// TestAuthSlowdownAndLegacy uses the default anonymous policy (read and
// publish for everyone) with a path that keeps its legacy readUser, and a
// failure slowdown that starts at the second failure.
func TestAuthSlowdownAndLegacy(t *testing.T) {
	g := startGateway(t, fmt.Sprintf(`auth:
  users:
    - name: admin
      password: %q
      permissions: [{action: api}]
  failures: {threshold: 2, delay: 30s, maxDelay: 1m}
paths:
  demo:
  locked:
    source: demo
    readUser: legacy
    readPass: legacy-pw
`, bcryptHash(t, "admin-pw")))
	h := newAuthHTTP(t, g)

	// Anonymous read works as before; the API is open from loopback only
	// by default, so a request from here passes.
	require.Equal(t, base.StatusOK, rtspDescribe(t, g.host, creds{}).StatusCode)
	res, _ := h.do(http.MethodGet, "/api/v1/paths", "", creds{})
	require.Equal(t, http.StatusOK, res.StatusCode)

	// The legacy path asks for its own credentials over RTSP.
	locked := func(c creds) base.StatusCode {
		hdr := base.Header{}
		if c.user != "" {
			hdr["Authorization"] = base.HeaderValue{"Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))}
		}
		return dialRTSP(t, g.host).do(base.Describe, "locked", hdr).StatusCode
	}
	require.Equal(t, base.StatusUnauthorized, locked(creds{}))
	require.Equal(t, base.StatusOK, locked(creds{user: "legacy", pass: "legacy-pw"}))
	r := mustReader(t, "rtsp://legacy:legacy-pw@"+g.host+"/locked", gortsplib.ProtocolTCP)
	r.waitPackets(t, e2eCtx(t), 5)

	// Two wrong passwords, then the address is slowed down: HTTP says 429,
	// RTSP 503, both with Retry-After, even for the right password.
	for range 2 {
		res, _ := h.do(http.MethodGet, "/api/v1/paths", "", creds{user: "admin", pass: "wrong"})
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	}
	res, _ = h.do(http.MethodGet, "/api/v1/paths", "", creds{user: "admin", pass: "admin-pw"})
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	rres := rtspDescribe(t, g.host, creds{user: "admin", pass: "admin-pw"})
	require.Equal(t, base.StatusServiceUnavailable, rres.StatusCode)
	require.NotEmpty(t, rres.Header["Retry-After"])
	// Requests without credentials are judged as usual.
	require.Equal(t, base.StatusOK, rtspDescribe(t, g.host, creds{}).StatusCode)
}
