package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Successful password checks are remembered for this long, so that Basic
// credentials sent with every HLS request cost one argon2id run, not one
// per request. A reload builds a new Authorizer and forgets them.
const (
	passCacheTTL  = 5 * time.Minute
	passCacheSize = 1024
)

// Request is one access to judge.
type Request struct {
	Action Action
	// Path is the path name as the protocol layer parsed it ("" for api and
	// metrics). The layers reject "..", "//" and encoded slashes; Authorize
	// refuses such names again rather than match them.
	Path string
	// IP is the client address, for allow lists and the failure slowdown.
	IP net.IP

	// At most one kind of credentials: User and Pass from Basic (HTTP or
	// RTSP), Token from "Authorization: Bearer" or ?token=, or Digest from
	// RTSP. More than one kind is refused.
	User, Pass string
	Token      string
	Digest     *DigestAuth
}

// Authorizer judges requests against a Config. It is safe for concurrent use.
type Authorizer struct {
	logger    *slog.Logger
	users     map[string]*user
	anonymous []rule
	jwt       *jwtVerifier // nil: tokens are refused
	failures  *failureLimiter
	now       func() time.Time
	dummy     argonHash
	hashSlots chan struct{} // bounds concurrent password hashing

	cacheKey [32]byte
	cacheMu  sync.Mutex
	cache    map[[32]byte]time.Time // HMAC(cacheKey, name, password) of good logins → expiry

	closeOnce sync.Once
}

// New validates conf and returns an Authorizer. A bad hash, address, action
// or pattern is a *ConfigError naming the user and field. With a JWKS URL
// it fetches the key set once (up to 10s; a failure is logged, not
// returned) and refreshes it in the background until Close.
func New(conf Config, logger *slog.Logger) (*Authorizer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	users, err := compileUsers(conf.Users)
	if err != nil {
		return nil, err
	}
	anonymous, err := compilePermissions(conf.Anonymous, "anonymous")
	if err != nil {
		return nil, err
	}
	a := &Authorizer{
		logger:    logger,
		users:     users,
		anonymous: anonymous,
		now:       conf.now,
		dummy:     dummyHash(),
		hashSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		cache:     make(map[[32]byte]time.Time),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if _, err := rand.Read(a.cacheKey[:]); err != nil {
		return nil, fmt.Errorf("auth: reading random key: %w", err)
	}
	if conf.FailureDelay >= 0 {
		a.failures = newFailureLimiter(
			orDefault(conf.FailureThreshold, 3),
			orDefault(conf.FailureWindow, time.Minute),
			orDefault(conf.FailureDelay, time.Second),
			orDefault(conf.FailureDelayMax, time.Minute),
			a.now)
	}
	if conf.JWT.JWKSURL != "" {
		v, err := newJWTVerifier(conf.JWT, logger)
		if err != nil {
			return nil, &ConfigError{Field: "jwt.jwksURL", Err: err}
		}
		a.jwt = v
	}
	return a, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Close stops the JWKS refresh. It is idempotent; Authorize keeps working
// with the keys already fetched.
func (a *Authorizer) Close() {
	a.closeOnce.Do(func() {
		if a.jwt != nil {
			a.jwt.close()
		}
	})
}

// Authorize decides whether req may go ahead. The error says why when the
// decision is not Allow; with TooManyFailures it is a *TooManyFailuresError.
// The Identity is nil when no credentials were checked, and set for
// authenticated requests whether allowed or forbidden.
func (a *Authorizer) Authorize(ctx context.Context, req Request) (Decision, *Identity, error) {
	if !req.Action.valid() {
		return Forbidden, nil, fmt.Errorf("%w %q", ErrBadAction, req.Action)
	}
	if err := checkName(req.Path); err != nil {
		return Forbidden, nil, fmt.Errorf("%w: %q %v", ErrBadPath, req.Path, err)
	}
	if req.Path == "" && (req.Action == ActionRead || req.Action == ActionPublish) {
		return Forbidden, nil, fmt.Errorf("%w: empty", ErrBadPath)
	}
	addr := clientAddr(req.IP)

	kinds := 0
	for _, given := range []bool{req.User != "" || req.Pass != "", req.Token != "", req.Digest != nil} {
		if given {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		if allowedBy(a.anonymous, req.Action, req.Path, addr) {
			return Allow, nil, nil
		}
		return Unauthorized, nil, ErrNoCredentials
	case kinds > 1:
		return Unauthorized, nil, ErrAmbiguous
	}
	if d := a.failures.blocked(req.IP); d > 0 {
		return TooManyFailures, nil, &TooManyFailuresError{RetryAfter: d}
	}
	switch {
	case req.Token != "":
		return a.authorizeToken(ctx, req, addr)
	case req.Digest != nil:
		return a.authorizeDigest(req, addr)
	}
	return a.authorizeBasic(ctx, req, addr)
}

// authorizeBasic checks a user name and password.
func (a *Authorizer) authorizeBasic(ctx context.Context, req Request, addr netip.Addr) (Decision, *Identity, error) {
	u := a.users[req.User]
	ok, err := a.checkPassword(ctx, u, req.User, req.Pass)
	if err != nil {
		return Unauthorized, nil, err
	}
	if !ok {
		return a.failed(req.IP, ErrBadCredentials)
	}
	return a.decide(&Identity{Name: u.name}, u.ips, u.rules, req, addr)
}

// authorizeDigest checks an RTSP Digest response against the user's HA1.
func (a *Authorizer) authorizeDigest(req Request, addr netip.Addr) (Decision, *Identity, error) {
	d := req.Digest
	c, err := ParseDigest(d.Header)
	if err != nil {
		return Unauthorized, nil, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	// Nothing below was signed by someone who knows the password until the
	// response is checked, so these refusals are not counted as failures.
	switch {
	case c.Realm != Realm:
		return Unauthorized, nil, fmt.Errorf("%w: digest realm %q, want %q", ErrBadCredentials, c.Realm, Realm)
	case d.Nonce == "" || c.Nonce != d.Nonce:
		return Unauthorized, nil, fmt.Errorf("%w: stale or unknown digest nonce", ErrBadCredentials)
	case !c.uriAccepted(d.URIs):
		return Unauthorized, nil, fmt.Errorf("%w: digest uri %q does not name this request", ErrBadCredentials, c.URI)
	}
	u := a.users[c.Username]
	if u != nil && u.digestHA1 == "" {
		return Unauthorized, nil, ErrDigestNotAvailable
	}
	ha1 := DigestHA1("", "") // compared for unknown names too, to take the same time
	if u != nil {
		ha1 = u.digestHA1
	}
	if !c.Verify(ha1, d.Method) || u == nil {
		return a.failed(req.IP, ErrBadCredentials)
	}
	return a.decide(&Identity{Name: u.name}, u.ips, u.rules, req, addr)
}

// authorizeToken checks a JWT and takes its permissions from the claim.
func (a *Authorizer) authorizeToken(ctx context.Context, req Request, addr netip.Addr) (Decision, *Identity, error) {
	if a.jwt == nil {
		return Unauthorized, nil, ErrJWTDisabled
	}
	sub, rules, err := a.jwt.verify(ctx, req.Token)
	if err != nil {
		err = fmt.Errorf("%w: token: %w", ErrBadCredentials, err)
		// Only a bad signature is a guess. An expired token or an unknown
		// key ID is not, and a player retrying with one must not get its
		// neighbours behind the same NAT blocked.
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) && !errors.Is(err, keyfunc.ErrKeyfunc) {
			return a.failed(req.IP, err)
		}
		return Unauthorized, nil, err
	}
	return a.decide(&Identity{Name: sub, FromJWT: true}, nil, rules, req, addr)
}

// decide applies an authenticated identity's address list and permissions,
// plus what is allowed anonymously.
func (a *Authorizer) decide(id *Identity, ips []netip.Prefix, rules []rule, req Request, addr netip.Addr) (Decision, *Identity, error) {
	if !ipAllowed(ips, addr) {
		return Forbidden, id, ErrAddressNotAllowed
	}
	if allowedBy(rules, req.Action, req.Path, addr) || allowedBy(a.anonymous, req.Action, req.Path, addr) {
		return Allow, id, nil
	}
	return Forbidden, id, fmt.Errorf("%w: %s on %q", ErrNotPermitted, req.Action, req.Path)
}

// failed counts a failure from ip and returns the Unauthorized decision.
func (a *Authorizer) failed(ip net.IP, err error) (Decision, *Identity, error) {
	if d, n := a.failures.fail(ip); d > 0 && n == a.failures.threshold {
		a.logger.Warn("repeated authentication failures from one address; slowing it down",
			"remote", ip.String(), "failures", n, "delay", d)
	}
	return Unauthorized, nil, err
}

// checkPassword verifies pass for u (nil: unknown name, checked against a
// dummy hash so that it takes as long). It returns an error only when ctx
// ends while waiting for a hashing slot.
func (a *Authorizer) checkPassword(ctx context.Context, u *user, name, pass string) (bool, error) {
	key := a.cacheEntry(name, pass)
	if u != nil && a.cached(key) {
		return true, nil
	}
	select {
	case a.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	var ok bool
	if u != nil {
		ok = u.hash.verify(pass)
	} else {
		a.dummy.verify(pass)
	}
	<-a.hashSlots
	if ok {
		a.remember(key)
	}
	return ok, nil
}

func (a *Authorizer) cacheEntry(name, pass string) [32]byte {
	m := hmac.New(sha256.New, a.cacheKey[:])
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (a *Authorizer) cached(key [32]byte) bool {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	exp, ok := a.cache[key]
	return ok && a.now().Before(exp)
}

func (a *Authorizer) remember(key [32]byte) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	now := a.now()
	if len(a.cache) >= passCacheSize {
		for k, exp := range a.cache {
			if !now.Before(exp) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= passCacheSize {
			clear(a.cache) // all fresh: rare enough to start over
		}
	}
	a.cache[key] = now.Add(passCacheTTL)
}

// allowedBy reports whether one of the rules grants the action.
func allowedBy(rules []rule, action Action, name string, addr netip.Addr) bool {
	for _, r := range rules {
		if r.allows(action, name, addr) {
			return true
		}
	}
	return false
}

// clientAddr converts the request address; nil gives the invalid Addr,
// which no allow list contains.
func clientAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}
