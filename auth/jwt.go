package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWT verification settings that are not worth a config key.
const (
	jwtLeeway         = 30 * time.Second // clock skew allowed on exp, nbf and iat
	jwksHTTPTimeout   = 10 * time.Second
	unknownKIDRefresh = 30 * time.Second // at most one refresh per this for tokens with an unknown kid
	maxTokenLen       = 8192
)

// JWTConfig enables Bearer and ?token= authentication with JSON Web Tokens
// signed by keys from a JWKS URL.
type JWTConfig struct {
	// JWKSURL is where the identity provider publishes its keys. Empty
	// disables tokens. The set is fetched when the Authorizer is made,
	// refreshed every RefreshInterval, and refetched (at most every 30s)
	// when a token names a key ID the set lacks, so key rotation works.
	JWKSURL string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be among the token's "aud".
	Audience string
	// Claim names the claim holding the token's permissions: a list of
	// {"action": "read", "path": "cams/*"} objects. Defaults to
	// "streamgate_permissions".
	Claim string
	// RefreshInterval is how often the JWKS is refetched. Defaults to 15m.
	RefreshInterval time.Duration
}

// jwtVerifier checks tokens against the JWKS.
type jwtVerifier struct {
	conf      JWTConfig
	keys      keyfunc.Keyfunc
	parser    *jwt.Parser
	cancel    context.CancelFunc
	transport *http.Transport
}

// newJWTVerifier fetches the JWKS once (a failure is logged, not fatal:
// tokens fail until a refresh succeeds) and starts keyfunc's refresh
// goroutine, which stops when close is called.
func newJWTVerifier(conf JWTConfig, logger *slog.Logger) (*jwtVerifier, error) {
	u, err := url.Parse(conf.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jwt: jwksURL %q: want an http or https URL", conf.JWKSURL)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		logger.Warn("JWKS fetched over plain http: anyone on the way can swap the keys; use https", "url", conf.JWKSURL)
	}
	if conf.Claim == "" {
		conf.Claim = "streamgate_permissions"
	}
	if conf.RefreshInterval <= 0 {
		conf.RefreshInterval = 15 * time.Minute
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	ctx, cancel := context.WithCancel(context.Background())
	noErrorFirst := true
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{conf.JWKSURL}, keyfunc.Override{
		Client:                    &http.Client{Transport: transport, Timeout: jwksHTTPTimeout},
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		// Bounds both the wait for the limiter and the refetch itself
		// (jwkset uses one context for both). A wait longer than this fails
		// at once, and a waiter holds the only reservation, so a flood of
		// tokens with made-up key IDs cannot pile up waiting requests.
		RateLimitWaitMax:  jwksHTTPTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDRefresh), 1),
		RefreshInterval:   conf.RefreshInterval,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				if ctx.Err() == nil {
					logger.Warn("cannot fetch JWKS; tokens signed by new keys fail until it works", "url", u, "error", err)
				}
			}
		},
	})
	if err != nil {
		cancel()
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("jwt: %w", err)
	}
	opts := []jwt.ParserOption{
		// Asymmetric algorithms only, so a public key from the JWKS can
		// never serve as an HMAC secret; never "none".
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if conf.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(conf.Issuer))
	}
	if conf.Audience != "" {
		opts = append(opts, jwt.WithAudience(conf.Audience))
	}
	return &jwtVerifier{conf: conf, keys: keys, parser: jwt.NewParser(opts...), cancel: cancel, transport: transport}, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// close stops the refresh goroutine and drops idle connections.
func (v *jwtVerifier) close() {
	v.cancel()
	v.transport.CloseIdleConnections()
}

// claimPermission is one entry of the permissions claim.
type claimPermission struct {
	Action Action `json:"action"`
	Path   string `json:"path"`
}

// verify checks the token and returns its subject and permissions. Entries
// of the permissions claim with an unknown action or a bad pattern are
// skipped: they can only grant less.
func (v *jwtVerifier) verify(ctx context.Context, token string) (string, []rule, error) {
	if len(token) > maxTokenLen {
		return "", nil, errors.New("token too long")
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keys.KeyfuncCtx(ctx)); err != nil {
		return "", nil, err
	}
	sub, _ := claims.GetSubject()
	raw, ok := claims[v.conf.Claim]
	if !ok {
		return sub, nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return sub, nil, nil
	}
	var entries []claimPermission
	if err := json.Unmarshal(b, &entries); err != nil {
		return sub, nil, nil
	}
	rules := make([]rule, 0, len(entries))
	for _, e := range entries {
		if !e.Action.valid() {
			continue
		}
		p, err := compilePattern(e.Path)
		if err != nil {
			continue
		}
		rules = append(rules, rule{action: e.Action, path: p})
	}
	return sub, rules, nil
}
