package auth

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func h(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The example of RFC 2617 section 3.5, with qop=auth.
func TestDigestRFC2617Vector(t *testing.T) {
	header := `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ` +
		`uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ` +
		`response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`
	c, err := ParseDigest(header)
	require.NoError(t, err)
	assert.Equal(t, "Mufasa", c.Username)
	assert.Equal(t, "/dir/index.html", c.URI)
	assert.Equal(t, "5ccc069c403ebaf9f0171e9517f40e41", c.Opaque)
	ha1 := h("Mufasa:testrealm@host.com:Circle Of Life")
	assert.True(t, c.Verify(ha1, "GET"))
	assert.False(t, c.Verify(ha1, "POST"))
	assert.False(t, c.Verify(h("Mufasa:testrealm@host.com:circle of life"), "GET"))
}

// digestHeader builds what an RTSP client sends for the gateway's realm,
// computing the response per RFC 2617 (without qop when cnonce is empty).
func digestHeader(user, pass, method, uri, nonce, cnonce string) string {
	ha1 := h(user + ":" + Realm + ":" + pass)
	ha2 := h(method + ":" + uri)
	if cnonce == "" {
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
			user, Realm, nonce, uri, h(ha1+":"+nonce+":"+ha2))
	}
	resp := h(ha1 + ":" + nonce + ":00000001:" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=00000001, cnonce="%s", response="%s", algorithm=MD5`,
		user, Realm, nonce, uri, cnonce, resp)
}

func TestAuthorizeDigest(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t))
	const nonce = "0123456789abcdef0123456789abcdef"
	const url = "rtsp://gw.example:8554/door"
	digest := func(header, method string, uris ...string) *DigestAuth {
		if uris == nil {
			uris = []string{url}
		}
		return &DigestAuth{Header: header, Method: method, Nonce: nonce, URIs: uris}
	}
	good := digestHeader("dave", "dave-pw", "DESCRIBE", url, nonce, "")
	runCases(t, a, []authCase{
		{name: "right response", req: Request{Action: ActionRead, Path: "door", Digest: digest(good, "DESCRIBE")}, want: Allow, wantUser: "dave"},
		{name: "right response with qop=auth", want: Allow,
			req: Request{Action: ActionPublish, Path: "door", Digest: digest(digestHeader("dave", "dave-pw", "ANNOUNCE", url, nonce, "c1"), "ANNOUNCE")}},
		{name: "path-and-query form of the URI", want: Allow,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(digestHeader("dave", "dave-pw", "DESCRIBE", "/door", nonce, ""), "DESCRIBE")}},
		{name: "SETUP signed with the base URL", want: Allow,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(digestHeader("dave", "dave-pw", "SETUP", url+"/", nonce, ""), "SETUP", url+"/trackID=0", url+"/", url)}},
		{name: "not permitted on other path", req: Request{Action: ActionRead, Path: "cams/a", Digest: digest(good, "DESCRIBE")}, want: Forbidden, wantUser: "dave"},
		{name: "wrong password", want: Unauthorized, wantErr: ErrBadCredentials,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(digestHeader("dave", "wrong", "DESCRIBE", url, nonce, ""), "DESCRIBE")}},
		{name: "response for another method", req: Request{Action: ActionRead, Path: "door", Digest: digest(good, "PLAY")}, want: Unauthorized},
		{name: "stale nonce", want: Unauthorized,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(digestHeader("dave", "dave-pw", "DESCRIBE", url, "old", ""), "DESCRIBE")}},
		{name: "no nonce issued", want: Unauthorized,
			req: Request{Action: ActionRead, Path: "door", Digest: &DigestAuth{Header: good, Method: "DESCRIBE", URIs: []string{url}}}},
		{name: "wrong realm", want: Unauthorized,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(strings.Replace(good, Realm, "ipcam", 1), "DESCRIBE")}},
		{name: "URI of another path", want: Unauthorized,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(good, "DESCRIBE", "rtsp://gw.example:8554/cams/a")}},
		{name: "user without digestHA1", want: Unauthorized, wantErr: ErrDigestNotAvailable,
			req: Request{Action: ActionRead, Path: "cams/a", Digest: digest(digestHeader("alice", "alice-pw", "DESCRIBE", url, nonce, ""), "DESCRIBE")}},
		{name: "unknown user", want: Unauthorized, wantErr: ErrBadCredentials,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(digestHeader("eve", "dave-pw", "DESCRIBE", url, nonce, ""), "DESCRIBE")}},
		{name: "malformed header", want: Unauthorized,
			req: Request{Action: ActionRead, Path: "door", Digest: digest(`Digest username="dave"`, "DESCRIBE")}},
	})
}

func TestParseDigest(t *testing.T) {
	const resp = "6629fae49393a05397450978507c4ef1"
	base := `username="u", realm="r", nonce="n", uri="/p", response="` + resp + `"`
	tests := []struct {
		name   string
		header string
		ok     bool
		check  func(t *testing.T, c DigestCredentials)
	}{
		{"plain", "Digest " + base, true, nil},
		{"scheme and names any case", `digest USERNAME="u", Realm="r", NONCE="n", Uri="/p", Response="` + strings.ToUpper(resp) + `"`, true,
			func(t *testing.T, c DigestCredentials) { assert.Equal(t, resp, c.Response) }},
		{"escaped quote in user", `Digest username="a\"b", realm="r", nonce="n", uri="/p", response="` + resp + `"`, true,
			func(t *testing.T, c DigestCredentials) { assert.Equal(t, `a"b`, c.Username) }},
		{"comma inside quotes", `Digest username="a,b", realm="r", nonce="n", uri="/p?x=1,2", response="` + resp + `"`, true,
			func(t *testing.T, c DigestCredentials) { assert.Equal(t, "/p?x=1,2", c.URI) }},
		{"unquoted token values and spaces", "Digest  username = \"u\" ,realm=\"r\",nonce=n ,uri=\"/p\", response=" + resp + " , algorithm=md5", true, nil},
		{"unknown parameter ignored", "Digest " + base + `, foo="bar"`, true, nil},
		{"Basic", "Basic dTpw", false, nil},
		{"missing response", `Digest username="u", realm="r", nonce="n", uri="/p"`, false, nil},
		{"empty username", `Digest username="", realm="r", nonce="n", uri="/p", response="` + resp + `"`, false, nil},
		{"duplicate", "Digest " + base + `, username="v"`, false, nil},
		{"SHA-256", "Digest " + base + ", algorithm=SHA-256", false, nil},
		{"MD5-sess", "Digest " + base + ", algorithm=MD5-sess", false, nil},
		{"auth-int", "Digest " + base + `, qop=auth-int, nc=00000001, cnonce="c"`, false, nil},
		{"qop without cnonce", "Digest " + base + ", qop=auth, nc=00000001", false, nil},
		{"nc without qop", "Digest " + base + ", nc=00000001", false, nil},
		{"short response", `Digest username="u", realm="r", nonce="n", uri="/p", response="abc"`, false, nil},
		{"unterminated quote", `Digest username="u, realm="r"`, false, nil},
		{"missing comma", `Digest username="u" realm="r", nonce="n", uri="/p", response="` + resp + `"`, false, nil},
		{"no value", `Digest username`, false, nil},
		{"userhash", "Digest " + base + ", userhash=true", false, nil},
		{"too long", "Digest " + base + `, x="` + strings.Repeat("a", maxDigestHeader) + `"`, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseDigest(tc.header)
			if !tc.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestDigestHelpers(t *testing.T) {
	assert.Equal(t, h("dave:streamgate:pw"), DigestHA1("dave", "pw"))
	n1, err := NewNonce()
	require.NoError(t, err)
	n2, err := NewNonce()
	require.NoError(t, err)
	assert.Len(t, n1, 32)
	assert.NotEqual(t, n1, n2)
	assert.Equal(t, `Digest realm="streamgate", nonce="abc", algorithm="MD5"`, DigestChallenge("abc"))
}

// The parser never panics, and what it accepts has the fields Authorize
// relies on.
func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"`)
	f.Add(`Digest username="a\"b", realm="r", nonce=n, uri="/p", response="6629fae49393a05397450978507c4ef1"`)
	f.Add(`Digest username="u, realm="r"`)
	f.Add(`Digest ,,,=`)
	f.Add(`Basic dTpw`)
	f.Fuzz(func(t *testing.T, header string) {
		c, err := ParseDigest(header)
		if err != nil {
			return
		}
		if c.Username == "" || c.Nonce == "" || c.URI == "" {
			t.Fatalf("accepted empty username, nonce or uri: %+v", c)
		}
		if len(c.Response) != 32 || strings.ToLower(c.Response) != c.Response || !isHex(c.Response) {
			t.Fatalf("accepted response %q", c.Response)
		}
		if c.QOP != "" && c.QOP != "auth" {
			t.Fatalf("accepted qop %q", c.QOP)
		}
		_ = c.Verify("00000000000000000000000000000000", "DESCRIBE")
	})
}
