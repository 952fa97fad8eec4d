package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// testConfig is the model most tests judge against.
func testConfig(t *testing.T) Config {
	t.Helper()
	carol, err := bcrypt.GenerateFromPassword([]byte("carol-pw"), bcrypt.MinCost)
	require.NoError(t, err)
	return Config{
		Users: []User{
			{Name: "alice", Password: cheapHash(t, "alice-pw"), Permissions: []Permission{
				{Action: ActionRead, Path: "cams/*"},
				{Action: ActionPublish, Path: "cams/a"},
			}},
			{Name: "bob", Password: cheapHash(t, "bob-pw"), IPs: []string{"10.0.0.0/8", "2001:db8::1"},
				Permissions: []Permission{{Action: ActionRead, Path: "**"}}},
			{Name: "carol", Password: string(carol), Permissions: []Permission{{Action: ActionRead, Path: "lobby"}}},
			{Name: "ops", Password: cheapHash(t, "ops-pw"), Permissions: []Permission{
				{Action: ActionAPI},
				{Action: ActionMetrics, IPs: []string{"192.168.0.0/16"}},
			}},
			{Name: "dave", Password: cheapHash(t, "dave-pw"), DigestHA1: DigestHA1("dave", "dave-pw"),
				Permissions: []Permission{{Action: ActionPublish, Path: "door"}, {Action: ActionRead, Path: "door"}}},
		},
		Anonymous: []Permission{
			{Action: ActionRead, Path: "public/**"},
			{Action: ActionMetrics, IPs: []string{"127.0.0.1"}},
		},
		FailureDelay: -1, // the slowdown has its own tests
	}
}

func newTestAuthorizer(t *testing.T, conf Config) *Authorizer {
	t.Helper()
	a, err := New(conf, nil)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

type authCase struct {
	name     string
	req      Request
	want     Decision
	wantErr  error  // checked with errors.Is when set
	wantUser string // identity name when an identity is expected
}

func runCases(t *testing.T, a *Authorizer, cases []authCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.req.IP == nil {
				tc.req.IP = ip("203.0.113.7")
			}
			got, id, err := a.Authorize(ctx, tc.req)
			assert.Equal(t, tc.want, got, "decision (err: %v)", err)
			if tc.want == Allow {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
			if tc.wantUser != "" {
				require.NotNil(t, id)
				assert.Equal(t, tc.wantUser, id.Name)
			}
		})
	}
}

// The HTTP-style matrix with Basic credentials: 401 without or with wrong
// credentials, 403 when authenticated but not permitted or from a wrong
// address, Allow when a user or the anonymous rules grant the action.
func TestAuthorizeBasic(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t))
	read := func(path, user, pass string) Request {
		return Request{Action: ActionRead, Path: path, User: user, Pass: pass}
	}
	runCases(t, a, []authCase{
		{name: "no credentials, anonymous read allowed", req: Request{Action: ActionRead, Path: "public/lobby/cam"}, want: Allow},
		{name: "no credentials, read needs auth", req: Request{Action: ActionRead, Path: "cams/a"}, want: Unauthorized, wantErr: ErrNoCredentials},
		{name: "no credentials, publish needs auth", req: Request{Action: ActionPublish, Path: "public/x"}, want: Unauthorized, wantErr: ErrNoCredentials},
		{name: "no credentials, api needs auth", req: Request{Action: ActionAPI}, want: Unauthorized, wantErr: ErrNoCredentials},
		{name: "wrong password", req: read("cams/a", "alice", "nope"), want: Unauthorized, wantErr: ErrBadCredentials},
		{name: "unknown user", req: read("cams/a", "mallory", "alice-pw"), want: Unauthorized, wantErr: ErrBadCredentials},
		{name: "empty user name with password", req: read("cams/a", "", "alice-pw"), want: Unauthorized, wantErr: ErrBadCredentials},
		{name: "right password and permission", req: read("cams/a", "alice", "alice-pw"), want: Allow, wantUser: "alice"},
		{name: "right password, path one level too deep", req: read("cams/a/b", "alice", "alice-pw"), want: Forbidden, wantErr: ErrNotPermitted, wantUser: "alice"},
		{name: "right password, action not granted", req: Request{Action: ActionPublish, Path: "cams/b", User: "alice", Pass: "alice-pw"}, want: Forbidden, wantErr: ErrNotPermitted},
		{name: "right password, exact publish grant", req: Request{Action: ActionPublish, Path: "cams/a", User: "alice", Pass: "alice-pw"}, want: Allow},
		{name: "authenticated user keeps anonymous grants", req: read("public/x", "alice", "alice-pw"), want: Allow, wantUser: "alice"},
		{name: "case differs from pattern", req: read("CAMS/a", "alice", "alice-pw"), want: Forbidden, wantErr: ErrNotPermitted},
		{name: "bcrypt hash accepted", req: read("lobby", "carol", "carol-pw"), want: Allow, wantUser: "carol"},
		{name: "bcrypt wrong password", req: read("lobby", "carol", "carol-PW"), want: Unauthorized},
		{name: "address in user's CIDR", req: Request{Action: ActionRead, Path: "x/y/z", User: "bob", Pass: "bob-pw", IP: ip("10.20.30.40")}, want: Allow},
		{name: "IPv4-mapped address in user's CIDR", req: Request{Action: ActionRead, Path: "x", User: "bob", Pass: "bob-pw", IP: ip("::ffff:10.1.1.1")}, want: Allow},
		{name: "exact IPv6 address of user", req: Request{Action: ActionRead, Path: "x", User: "bob", Pass: "bob-pw", IP: ip("2001:db8::1")}, want: Allow},
		{name: "address not allowed for user", req: Request{Action: ActionRead, Path: "x", User: "bob", Pass: "bob-pw", IP: ip("192.0.2.1")}, want: Forbidden, wantErr: ErrAddressNotAllowed, wantUser: "bob"},
		{name: "wrong password from allowed address is 401 not 403", req: Request{Action: ActionRead, Path: "x", User: "bob", Pass: "x", IP: ip("192.0.2.1")}, want: Unauthorized},
		{name: "api granted on the empty path", req: Request{Action: ActionAPI, User: "ops", Pass: "ops-pw"}, want: Allow, wantUser: "ops"},
		{name: "metrics grant limited by rule address", req: Request{Action: ActionMetrics, User: "ops", Pass: "ops-pw", IP: ip("192.168.1.5")}, want: Allow},
		{name: "metrics grant from other address", req: Request{Action: ActionMetrics, User: "ops", Pass: "ops-pw", IP: ip("10.0.0.1")}, want: Forbidden, wantErr: ErrNotPermitted},
		{name: "anonymous metrics from loopback", req: Request{Action: ActionMetrics, IP: ip("127.0.0.1")}, want: Allow},
		{name: "anonymous metrics from elsewhere", req: Request{Action: ActionMetrics, IP: ip("10.0.0.1")}, want: Unauthorized, wantErr: ErrNoCredentials},
		{name: "user without api permission", req: Request{Action: ActionAPI, User: "alice", Pass: "alice-pw"}, want: Forbidden},
		{name: "two kinds of credentials", req: Request{Action: ActionRead, Path: "cams/a", User: "alice", Pass: "alice-pw", Token: "x.y.z"}, want: Unauthorized, wantErr: ErrAmbiguous},
		{name: "unknown action", req: Request{Action: "delete", Path: "cams/a", User: "alice", Pass: "alice-pw"}, want: Forbidden, wantErr: ErrBadAction},
		{name: "token without JWKS configured", req: Request{Action: ActionRead, Path: "cams/a", Token: "a.b.c"}, want: Unauthorized, wantErr: ErrJWTDisabled},
	})
}

// Path names that a correct protocol layer never passes on are refused
// before any pattern sees them, even where "**" or an anonymous rule would
// match: a mistake upstream must not open a hole.
func TestAuthorizePathTricks(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t))
	var cases []authCase
	for _, p := range []string{
		"cams/a/../b", "cams/..", "../cams/a", "cams//a", "/cams/a", "cams/a/", "/", "cams\\a",
		"cams%2Fa", "cams/./a", "./cams/a", "cams/a\x00", "cams/\na", "public/../cams/a", "public//x", "/public/x",
		"public/x/", "\xff\xfe", "",
	} {
		cases = append(cases,
			authCase{name: "bob " + p, req: Request{Action: ActionRead, Path: p, User: "bob", Pass: "bob-pw", IP: ip("10.0.0.1")}, want: Forbidden, wantErr: ErrBadPath},
			authCase{name: "anonymous " + p, req: Request{Action: ActionRead, Path: p}, want: Forbidden, wantErr: ErrBadPath},
		)
	}
	runCases(t, a, cases)
}

// A config with mistakes is refused with an error that names the user
// and the field.
func TestNewValidation(t *testing.T) {
	good := cheapHash(t, "pw")
	tests := []struct {
		name  string
		conf  Config
		field string // ConfigError.Field
		msg   string // substring of the error
	}{
		{"plain password", Config{Users: []User{{Name: "alice", Password: "secret"}}},
			"users[0].password", "streamgate hash-password"},
		{"plain: prefix", Config{Users: []User{{Name: "alice", Password: "plain:secret"}}},
			"users[0].password", "plain passwords are not accepted"},
		{"empty password", Config{Users: []User{{Name: "alice"}}}, "users[0].password", "empty"},
		{"argon2i", Config{Users: []User{{Name: "a", Password: "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}},
			"users[0].password", "argon2id"},
		{"argon2id bad version", Config{Users: []User{{Name: "a", Password: "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}},
			"users[0].password", "v=19"},
		{"argon2id huge memory", Config{Users: []User{{Name: "a", Password: "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}},
			"users[0].password", "memory"},
		{"argon2id short salt", Config{Users: []User{{Name: "a", Password: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA"}}},
			"users[0].password", "salt"},
		{"argon2id bad params", Config{Users: []User{{Name: "a", Password: "$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}},
			"users[0].password", "parameters"},
		{"bcrypt garbage", Config{Users: []User{{Name: "a", Password: "$2b$10$short"}}}, "users[0].password", "bcrypt"},
		{"no name", Config{Users: []User{{Password: good}}}, "users[0].name", "empty"},
		{"colon in name", Config{Users: []User{{Name: "a:b", Password: good}}}, "users[0].name", "':'"},
		{"duplicate name", Config{Users: []User{{Name: "a", Password: good}, {Name: "a", Password: good}}}, "users[1].name", "twice"},
		{"bad CIDR", Config{Users: []User{{Name: "a", Password: good, IPs: []string{"10.0.0.0/33"}}}}, "users[0].ips", "10.0.0.0/33"},
		{"bad address", Config{Users: []User{{Name: "a", Password: good, IPs: []string{"localhost"}}}}, "users[0].ips", "localhost"},
		{"bad digestHA1", Config{Users: []User{{Name: "a", Password: good, DigestHA1: "xyz"}}}, "users[0].digestHA1", "32 hex"},
		{"bad action", Config{Users: []User{{Name: "a", Password: good, Permissions: []Permission{{Action: "write"}}}}},
			"users[0].permissions[0].action", `"write"`},
		{"bad pattern", Config{Users: []User{{Name: "a", Password: good, Permissions: []Permission{{Action: ActionRead, Path: "cams/../x"}}}}},
			"users[0].permissions[0].path", ".."},
		{"** in the middle", Config{Users: []User{{Name: "a", Password: good, Permissions: []Permission{{Action: ActionRead, Path: "a/**/b"}}}}},
			"users[0].permissions[0].path", "last segment"},
		{"anonymous bad rule address", Config{Anonymous: []Permission{{Action: ActionRead, IPs: []string{"x"}}}},
			"anonymous[0].ips", `"x"`},
		{"bad JWKS URL", Config{JWT: JWTConfig{JWKSURL: "file:///etc/keys"}}, "jwt.jwksURL", "http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.conf, nil)
			require.Error(t, err)
			require.Nil(t, a)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, err.Error(), tc.msg)
			if len(tc.conf.Users) > 0 && tc.conf.Users[0].Name != "" {
				assert.Contains(t, err.Error(), `(user "`, "the message names the user")
			}
		})
	}
}

// The zero Decision never allows, and each decision maps to its HTTP code.
func TestDecision(t *testing.T) {
	var zero Decision
	assert.Equal(t, Unauthorized, zero)
	assert.Equal(t, 200, Allow.HTTPStatus())
	assert.Equal(t, 401, Unauthorized.HTTPStatus())
	assert.Equal(t, 403, Forbidden.HTTPStatus())
	assert.Equal(t, 429, TooManyFailures.HTTPStatus())
	assert.Equal(t, "too many failures", TooManyFailures.String())
}

// A good password is hashed once; later requests use the cache, and a
// wrong one is never cached.
func TestPasswordCache(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t))
	ctx := context.Background()
	req := Request{Action: ActionRead, Path: "cams/a", User: "alice", Pass: "alice-pw", IP: ip("10.0.0.1")}
	for range 3 {
		d, _, err := a.Authorize(ctx, req)
		require.NoError(t, err)
		require.Equal(t, Allow, d)
	}
	a.cacheMu.Lock()
	assert.Len(t, a.cache, 1)
	a.cacheMu.Unlock()

	req.Pass = "alice-pw "
	d, _, _ := a.Authorize(ctx, req)
	assert.Equal(t, Unauthorized, d)
	a.cacheMu.Lock()
	assert.Len(t, a.cache, 1)
	a.cacheMu.Unlock()
}

// A request whose context ends while waiting for a hashing slot gives up.
func TestAuthorizeContextCancelled(t *testing.T) {
	a := newTestAuthorizer(t, testConfig(t))
	for range cap(a.hashSlots) {
		a.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, _, err := a.Authorize(ctx, Request{Action: ActionRead, Path: "cams/a", User: "alice", Pass: "alice-pw"})
	assert.Equal(t, Unauthorized, d)
	assert.ErrorIs(t, err, context.Canceled)
}
