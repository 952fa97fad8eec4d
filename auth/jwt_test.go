package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksServer serves a JWK set on loopback that a test can swap.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig", "x": b64(pub)}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
		"x": b64(pub.X.FillBytes(make([]byte, 32))), "y": b64(pub.Y.FillBytes(make([]byte, 32)))}
}

// testKeys are the identity provider's keys.
type testKeys struct {
	rsa1, rsa2, rogue *rsa.PrivateKey
	ed                ed25519.PrivateKey
	ec                *ecdsa.PrivateKey
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa1, &k.rsa2, &k.rogue} {
		*p, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, key crypto.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// claims returns valid claims granting read on cams/*, with changes.
func claims(changes map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": "https://idp.example", "aud": []string{"other", "streamgate"}, "sub": "viewer-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"streamgate_permissions": []map[string]string{{"action": "read", "path": "cams/*"}, {"action": "fly", "path": "x"}},
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func jwtAuthorizer(t *testing.T, url string) *Authorizer {
	t.Helper()
	conf := testConfig(t)
	conf.JWT = JWTConfig{JWKSURL: url, Issuer: "https://idp.example", Audience: "streamgate"}
	return newTestAuthorizer(t, conf)
}

func TestAuthorizeJWT(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("rsa-1", &k.rsa1.PublicKey), edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)), ecJWK("ec-1", &k.ec.PublicKey))
	a := jwtAuthorizer(t, srv.URL)

	read := func(tok string) Request { return Request{Action: ActionRead, Path: "cams/a", Token: tok} }
	good := sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(nil))
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	noneKid := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil))
	noneKid.Header["kid"] = "rsa-1"
	noneWithKid, err := noneKid.SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	// The classic confusion: HS256 keyed with the RSA public key.
	hs := sign(t, jwt.SigningMethodHS256, "rsa-1", []byte(rsaJWK("rsa-1", &k.rsa1.PublicKey)["n"]), claims(nil))
	hour := time.Hour

	runCases(t, a, []authCase{
		{name: "RS256 valid", req: read(good), want: Allow, wantUser: "viewer-1"},
		{name: "EdDSA valid", req: read(sign(t, jwt.SigningMethodEdDSA, "ed-1", k.ed, claims(nil))), want: Allow},
		{name: "ES256 valid", req: read(sign(t, jwt.SigningMethodES256, "ec-1", k.ec, claims(nil))), want: Allow},
		{name: "valid token, path not in claim", req: Request{Action: ActionRead, Path: "lobby", Token: good}, want: Forbidden, wantErr: ErrNotPermitted, wantUser: "viewer-1"},
		{name: "valid token, action not in claim", req: Request{Action: ActionPublish, Path: "cams/a", Token: good}, want: Forbidden},
		{name: "valid token keeps anonymous grants", req: Request{Action: ActionRead, Path: "public/a", Token: good}, want: Allow},
		{name: "claim missing", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"streamgate_permissions": nil}))), want: Forbidden, wantErr: ErrNotPermitted},
		{name: "claim not a list", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"streamgate_permissions": "read"}))), want: Forbidden},
		{name: "claim with a bad pattern grants nothing", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{
			"streamgate_permissions": []map[string]string{{"action": "read", "path": "cams/../**"}}}))), want: Forbidden},
		{name: "expired", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"exp": time.Now().Add(-hour).Unix()}))), want: Unauthorized, wantErr: jwt.ErrTokenExpired},
		{name: "expired within leeway", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"exp": time.Now().Add(-10 * time.Second).Unix()}))), want: Allow},
		{name: "no exp", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"exp": nil}))), want: Unauthorized},
		{name: "not yet valid", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"nbf": time.Now().Add(hour).Unix()}))), want: Unauthorized, wantErr: jwt.ErrTokenNotValidYet},
		{name: "issued in the future", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"iat": time.Now().Add(hour).Unix()}))), want: Unauthorized},
		{name: "wrong signature", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rogue, claims(nil))), want: Unauthorized, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "wrong audience", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"aud": "other"}))), want: Unauthorized, wantErr: jwt.ErrTokenInvalidAudience},
		{name: "no audience", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"aud": nil}))), want: Unauthorized},
		{name: "wrong issuer", req: read(sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"iss": "https://evil.example"}))), want: Unauthorized, wantErr: jwt.ErrTokenInvalidIssuer},
		{name: "alg none", req: read(none), want: Unauthorized},
		{name: "alg none with kid", req: read(noneWithKid), want: Unauthorized},
		{name: "HS256 with the public key", req: read(hs), want: Unauthorized},
		{name: "RS256 signed by the EdDSA kid's owner claim mismatch", req: read(sign(t, jwt.SigningMethodRS256, "ed-1", k.rsa1, claims(nil))), want: Unauthorized},
		{name: "garbage", req: read("not.a.token"), want: Unauthorized, wantErr: ErrBadCredentials},
		{name: "token and Basic together", req: Request{Action: ActionRead, Path: "cams/a", Token: good, User: "alice", Pass: "alice-pw"}, want: Unauthorized, wantErr: ErrAmbiguous},
	})
}

// A custom claim name is honoured.
func TestAuthorizeJWTCustomClaim(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	srv.set(edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)))
	a := newTestAuthorizer(t, Config{JWT: JWTConfig{JWKSURL: srv.URL, Claim: "perms"}})
	tok := sign(t, jwt.SigningMethodEdDSA, "ed-1", k.ed, claims(map[string]any{
		"perms": []map[string]string{{"action": "metrics", "path": ""}},
	}))
	d, id, err := a.Authorize(context.Background(), Request{Action: ActionMetrics, Token: tok})
	require.NoError(t, err)
	assert.Equal(t, Allow, d)
	assert.Equal(t, &Identity{Name: "viewer-1", FromJWT: true}, id)
	d, _, _ = a.Authorize(context.Background(), Request{Action: ActionRead, Path: "cams/a", Token: tok})
	assert.Equal(t, Forbidden, d, "streamgate_permissions is not read when the claim is renamed")
}

// A token signed by a key the cached set lacks makes the set refetch, so a
// rotation at the identity provider works without waiting for the refresh
// interval; a key gone from the set stops working.
func TestJWKSRotation(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("rsa-1", &k.rsa1.PublicKey))
	a := jwtAuthorizer(t, srv.URL)
	ctx := context.Background()
	require.EqualValues(t, 1, srv.fetches.Load(), "fetched once by New")

	old := sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(nil))
	d, _, err := a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: old})
	require.NoError(t, err)
	require.Equal(t, Allow, d)
	require.EqualValues(t, 1, srv.fetches.Load(), "a known key needs no fetch")

	srv.set(rsaJWK("rsa-2", &k.rsa2.PublicKey))
	rotated := sign(t, jwt.SigningMethodRS256, "rsa-2", k.rsa2, claims(nil))
	d, _, err = a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: rotated})
	require.NoError(t, err)
	assert.Equal(t, Allow, d, "new kid: set refetched")
	assert.EqualValues(t, 2, srv.fetches.Load())

	d, _, _ = a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: old})
	assert.Equal(t, Unauthorized, d, "the retired key no longer verifies")

	// Made-up key IDs do not make the gateway hammer the provider.
	for range 5 {
		bogus := sign(t, jwt.SigningMethodRS256, "made-up", k.rogue, claims(nil))
		d, _, _ = a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: bogus})
		assert.Equal(t, Unauthorized, d)
	}
	assert.EqualValues(t, 2, srv.fetches.Load(), "unknown-kid refreshes are rate limited")
}

// The set is refreshed in the background at the configured interval.
func TestJWKSBackgroundRefresh(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	srv.set(edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)))
	conf := Config{JWT: JWTConfig{JWKSURL: srv.URL, RefreshInterval: 50 * time.Millisecond}}
	a := newTestAuthorizer(t, conf)
	require.Eventually(t, func() bool { return srv.fetches.Load() >= 3 }, 5*time.Second, 10*time.Millisecond)
	a.Close()
	a.Close() // idempotent
}

// An identity provider that is down at start does not stop the gateway:
// tokens fail until the set can be fetched.
func TestJWKSUnreachableAtStart(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	url := srv.URL
	srv.Close()
	a := jwtAuthorizer(t, url)
	d, _, err := a.Authorize(context.Background(), Request{Action: ActionRead, Path: "cams/a",
		Token: sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(nil))})
	assert.Equal(t, Unauthorized, d)
	assert.Error(t, err)
}

// Tokens with a bad signature count towards the slowdown; expired ones do
// not, so a player retrying with a stale token cannot lock out its
// neighbours.
func TestJWTFailuresCounted(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("rsa-1", &k.rsa1.PublicKey))
	conf := testConfig(t)
	conf.FailureDelay = 0
	conf.JWT = JWTConfig{JWKSURL: srv.URL}
	a := newTestAuthorizer(t, conf)
	ctx := context.Background()
	expired := sign(t, jwt.SigningMethodRS256, "rsa-1", k.rsa1, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	for range 5 {
		d, _, _ := a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: expired, IP: ip("192.0.2.1")})
		require.Equal(t, Unauthorized, d)
	}
	forged := sign(t, jwt.SigningMethodRS256, "rsa-1", k.rogue, claims(nil))
	for range 3 {
		d, _, _ := a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: forged, IP: ip("192.0.2.1")})
		require.Equal(t, Unauthorized, d)
	}
	d, _, _ := a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", Token: forged, IP: ip("192.0.2.1")})
	assert.Equal(t, TooManyFailures, d)
}
