package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the authentication and authorisation model of the gateway.
type Config struct {
	// Users who log in with a password (HTTP Basic, RTSP Basic or Digest).
	Users []User
	// Anonymous lists what anyone may do, with or without credentials.
	// Empty means nothing: every request needs credentials. The gateway
	// picks its own default.
	Anonymous []Permission
	// JWT enables Bearer and ?token= authentication.
	JWT JWTConfig

	// FailureThreshold is the number of failures from one address, each
	// within FailureWindow of the previous, after which it is slowed down.
	// Defaults to 3. See failureLimiter for the whole policy.
	FailureThreshold int
	// FailureWindow is how long an address must stay quiet for its count
	// to start again. Defaults to 1m.
	FailureWindow time.Duration
	// FailureDelay is the first block; each further failure doubles it.
	// Defaults to 1s; negative disables the slowdown.
	FailureDelay time.Duration
	// FailureDelayMax caps the block. Defaults to 1m.
	FailureDelayMax time.Duration

	now func() time.Time // for tests; defaults to time.Now
}

// User is someone who logs in with a name and password.
type User struct {
	// Name is the login name; it must not contain ':'.
	Name string
	// Password is an argon2id hash in PHC form
	// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) or a bcrypt hash
	// ($2a$/$2b$/$2y$). Plain passwords are refused; make a hash with
	// `streamgate hash-password`.
	Password string
	// DigestHA1 is MD5("name:streamgate:password") in hex, needed only for
	// RTSP Digest (`streamgate hash-password -digest-user NAME` prints it).
	// Without it the user can use RTSP Basic only. It is as good as the
	// password for RTSP Digest, so keep the config private.
	DigestHA1 string
	// IPs are the addresses or CIDR ranges the user may connect from.
	// Empty means any.
	IPs []string
	// Permissions are what the user may do, in addition to Anonymous.
	Permissions []Permission
}

// Permission grants one action on the paths matching a pattern.
type Permission struct {
	// Action is read, publish, api or metrics.
	Action Action
	// Path is a path name pattern, matched case-sensitively by whole
	// segments: "" , "*" and "**" match every path (and the empty path of
	// api and metrics requests); "cams/*" matches "cams/a" but not
	// "cams/a/b"; "cams/**" matches any depth below cams but not "cams";
	// '*' inside a segment matches any characters ("cam*"); anything else
	// is an exact name.
	Path string
	// IPs restrict the grant to these addresses or CIDR ranges. Empty
	// means any.
	IPs []string
}

// ConfigError is a validation error of one config field. Field is the key
// path as the gateway's YAML names it, for example
// "users[1].permissions[0].path", so the gateway can point at the line.
type ConfigError struct {
	Field string // key path below the auth section
	User  string // the user's name, when the field belongs to a user
	Err   error
}

// Error names the field, the user and what is wrong.
func (e *ConfigError) Error() string {
	if e.User != "" {
		return fmt.Sprintf("auth: %s (user %q): %v", e.Field, e.User, e.Err)
	}
	return "auth: " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// rule is a compiled Permission.
type rule struct {
	action Action
	path   pattern
	ips    []netip.Prefix // empty: any
}

// allows reports whether the rule grants action on name to addr.
func (r rule) allows(action Action, name string, addr netip.Addr) bool {
	return r.action == action && r.path.match(name) && ipAllowed(r.ips, addr)
}

// user is a compiled User.
type user struct {
	name      string
	hash      passwordHash
	digestHA1 string // lower-case hex, or empty
	ips       []netip.Prefix
	rules     []rule
}

// compileUsers validates the users and indexes them by name.
func compileUsers(users []User) (map[string]*user, error) {
	out := make(map[string]*user, len(users))
	for i, u := range users {
		field := fmt.Sprintf("users[%d]", i)
		bad := func(key string, err error) error {
			return &ConfigError{Field: field + "." + key, User: u.Name, Err: err}
		}
		switch {
		case u.Name == "":
			return nil, bad("name", errors.New("empty"))
		case strings.ContainsAny(u.Name, ":\"\\") || hasControl(u.Name):
			return nil, bad("name", errors.New(`must not contain ':', '"', '\' or control characters`))
		case out[u.Name] != nil:
			return nil, bad("name", errors.New("given twice"))
		}
		h, err := parsePasswordHash(u.Password)
		if err != nil {
			return nil, bad("password", err)
		}
		ha1 := strings.ToLower(u.DigestHA1)
		if ha1 != "" && (len(ha1) != 32 || !isHex(ha1)) {
			return nil, bad("digestHA1", errors.New(`want 32 hex digits, MD5 of "name:streamgate:password"`))
		}
		ips, err := parsePrefixes(u.IPs)
		if err != nil {
			return nil, bad("ips", err)
		}
		rules, err := compilePermissions(u.Permissions, field+".permissions")
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.User = u.Name
			}
			return nil, err
		}
		out[u.Name] = &user{name: u.Name, hash: h, digestHA1: ha1, ips: ips, rules: rules}
	}
	return out, nil
}

// compilePermissions validates permissions; field prefixes error fields.
func compilePermissions(perms []Permission, field string) ([]rule, error) {
	rules := make([]rule, 0, len(perms))
	for i, p := range perms {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !p.Action.valid() {
			return nil, &ConfigError{Field: f + ".action", Err: fmt.Errorf("%q: want read, publish, api or metrics", p.Action)}
		}
		pat, err := compilePattern(p.Path)
		if err != nil {
			return nil, &ConfigError{Field: f + ".path", Err: fmt.Errorf("%q: %w", p.Path, err)}
		}
		ips, err := parsePrefixes(p.IPs)
		if err != nil {
			return nil, &ConfigError{Field: f + ".ips", Err: err}
		}
		rules = append(rules, rule{action: p.Action, path: pat, ips: ips})
	}
	return rules, nil
}

// parsePrefixes parses addresses ("10.0.0.5", "::1") and CIDR ranges
// ("10.0.0.0/8").
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q: not an address or CIDR range", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: not an address or CIDR range", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ipAllowed reports whether addr is in one of the prefixes; an empty list
// allows every address, and an unknown address is in no prefix.
func ipAllowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
