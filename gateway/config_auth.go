package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/streamgate/streamgate/auth"
)

// AuthConfig is the "auth" section: one model for RTSP, HLS, WebRTC, the
// API and /metrics. The per-path readUser/readPass/publishUser/publishPass
// keys are a separate, RTSP-only check kept for older configs.
type AuthConfig struct {
	// Anonymous is what anyone may do without credentials. Defaults to read
	// and publish on every path, plus api and metrics from 127.0.0.1 and
	// ::1 (DefaultAnonymous). An empty list allows nothing.
	Anonymous []auth.Permission
	// Users log in with a password (HTTP Basic, RTSP Basic or Digest).
	Users []auth.User
	// JWT enables Bearer and ?token= tokens; off while JWKSURL is "".
	// Claim defaults to streamgate_permissions, RefreshInterval to 15m.
	JWT auth.JWTConfig
	// Failures configures the slowdown of addresses that keep failing.
	Failures AuthFailuresConfig
}

// AuthFailuresConfig is auth.failures: see auth.Config for the policy.
type AuthFailuresConfig struct {
	// Threshold is the failures in a row that start a block; defaults to 3.
	Threshold int
	// Window is the quiet time after which the count starts again; defaults to 1m.
	Window time.Duration
	// Delay is the first block, doubled by each further failure; defaults
	// to 1s. 0 turns the slowdown off.
	Delay time.Duration
	// MaxDelay caps the block; defaults to 1m.
	MaxDelay time.Duration
}

// DefaultAnonymous is what anyone may do when the config has no
// auth.anonymous key: read and publish every path, so the demo and
// configs written before the auth section keep working, and use the API
// and metrics from the machine itself only.
func DefaultAnonymous() []auth.Permission {
	local := []string{"127.0.0.1", "::1"}
	return []auth.Permission{
		{Action: auth.ActionRead},
		{Action: auth.ActionPublish},
		{Action: auth.ActionAPI, IPs: local},
		{Action: auth.ActionMetrics, IPs: append([]string(nil), local...)},
	}
}

func defaultAuthConfig() AuthConfig {
	return AuthConfig{
		Anonymous: DefaultAnonymous(),
		JWT:       auth.JWTConfig{Claim: "streamgate_permissions", RefreshInterval: 15 * time.Minute},
		Failures:  AuthFailuresConfig{Threshold: 3, Window: time.Minute, Delay: time.Second, MaxDelay: time.Minute},
	}
}

// AuthorizerConfig returns the section as the auth package's Config.
func (a *AuthConfig) AuthorizerConfig() auth.Config {
	c := a.clone()
	conf := auth.Config{
		Users:            c.Users,
		Anonymous:        c.Anonymous,
		JWT:              c.JWT,
		FailureThreshold: c.Failures.Threshold,
		FailureWindow:    c.Failures.Window,
		FailureDelay:     c.Failures.Delay,
		FailureDelayMax:  c.Failures.MaxDelay,
	}
	if conf.Anonymous == nil {
		conf.Anonymous = []auth.Permission{} // nothing, not the auth package's idea of a default
	}
	if c.Failures.Delay == 0 {
		conf.FailureDelay = -1 // off
	}
	return conf
}

func clonePermissions(ps []auth.Permission) []auth.Permission {
	if ps == nil {
		return nil
	}
	out := make([]auth.Permission, len(ps))
	for i, p := range ps {
		p.IPs = cloneStrings(p.IPs)
		out[i] = p
	}
	return out
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}

func (a AuthConfig) clone() AuthConfig {
	n := a
	n.Anonymous = clonePermissions(a.Anonymous)
	if a.Users != nil {
		n.Users = make([]auth.User, len(a.Users))
		for i, u := range a.Users {
			u.IPs = cloneStrings(u.IPs)
			u.Permissions = clonePermissions(u.Permissions)
			n.Users[i] = u
		}
	}
	return n
}

// normalize turns empty lists into nil, so that a config reads back equal
// to itself whether a list was written as [] or left out.
func (a *AuthConfig) normalize() {
	norm := func(ps []auth.Permission) []auth.Permission {
		if len(ps) == 0 {
			return nil
		}
		for i := range ps {
			if len(ps[i].IPs) == 0 {
				ps[i].IPs = nil
			}
		}
		return ps
	}
	a.Anonymous = norm(a.Anonymous)
	if len(a.Users) == 0 {
		a.Users = nil
	}
	for i := range a.Users {
		u := &a.Users[i]
		if len(u.IPs) == 0 {
			u.IPs = nil
		}
		u.Permissions = norm(u.Permissions)
	}
}

// redact masks the users' password hashes and digestHA1 values.
func (a *AuthConfig) redact() {
	for i := range a.Users {
		u := &a.Users[i]
		if u.Password != "" {
			u.Password = redactedMark
		}
		if u.DigestHA1 != "" {
			u.DigestHA1 = redactedMark
		}
	}
}

// Key tables of the auth section.

var authKeys = []string{"anonymous", "users", "jwt", "failures"}

var authJWTFields = []sectionField{
	{"jwksURL", func(c *Config) any { return &c.Auth.JWT.JWKSURL }},
	{"issuer", func(c *Config) any { return &c.Auth.JWT.Issuer }},
	{"audience", func(c *Config) any { return &c.Auth.JWT.Audience }},
	{"claim", func(c *Config) any { return &c.Auth.JWT.Claim }},
	{"refreshInterval", func(c *Config) any { return &c.Auth.JWT.RefreshInterval }},
}

var authFailuresFields = []sectionField{
	{"threshold", func(c *Config) any { return &c.Auth.Failures.Threshold }},
	{"window", func(c *Config) any { return &c.Auth.Failures.Window }},
	{"delay", func(c *Config) any { return &c.Auth.Failures.Delay }},
	{"maxDelay", func(c *Config) any { return &c.Auth.Failures.MaxDelay }},
}

// objectField is one key of a list item (a user or a permission).
type objectField[T any] struct {
	key string
	ptr func(*T) any
}

var permissionFields = []objectField[auth.Permission]{
	{"action", func(p *auth.Permission) any { return (*string)(&p.Action) }},
	{"path", func(p *auth.Permission) any { return &p.Path }},
	{"ips", func(p *auth.Permission) any { return &p.IPs }},
}

var userFields = []objectField[auth.User]{
	{"name", func(u *auth.User) any { return &u.Name }},
	{"password", func(u *auth.User) any { return &u.Password }},
	{"digestHA1", func(u *auth.User) any { return &u.DigestHA1 }},
	{"ips", func(u *auth.User) any { return &u.IPs }},
	{"permissions", func(u *auth.User) any { return &u.Permissions }},
}

func objectKeys[T any](fields []objectField[T]) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

const (
	permissionExpect = "a list of permissions like [{action: read, path: \"cams/*\"}, {action: api}]"
	usersExpect      = "a list of users, each a mapping with keys name, password, digestHA1, ips, permissions"
)

// auth decodes the auth section.
func (l *loader) auth(n ast.Node, kp pos) {
	l.prov["auth"] = kp
	a := &l.cfg.Auth
	l.mapping(n, "auth", kp, "a mapping with keys "+strings.Join(authKeys, ", "), func(key string, fp pos, v ast.Node) {
		full := join("auth", key)
		switch key {
		case "anonymous":
			var perms []auth.Permission
			if l.permissionList(v, full, fp, &perms) {
				a.Anonymous = perms
				l.prov[full] = fp
			}
		case "users":
			var users []auth.User
			ok := l.list(v, full, fp, usersExpect, func(ikey string, ip pos, item ast.Node) {
				var u auth.User
				decodeObject(l, item, ikey, ip, userFields, &u)
				users = append(users, u)
			})
			if ok {
				a.Users = users
				l.prov[full] = fp
			}
		case "jwt":
			l.section(v, full, authJWTFields, fp)
		case "failures":
			l.section(v, full, authFailuresFields, fp)
		default:
			l.errorf(full, fp, "%s", unknownKeyMsg(key, authKeys))
		}
	})
	a.normalize()
}

// permissionList decodes a list of permissions into dst.
func (l *loader) permissionList(n ast.Node, key string, kp pos, dst *[]auth.Permission) bool {
	var perms []auth.Permission
	ok := l.list(n, key, kp, permissionExpect, func(ikey string, ip pos, item ast.Node) {
		var p auth.Permission
		decodeObject(l, item, ikey, ip, permissionFields, &p)
		perms = append(perms, p)
	})
	if ok {
		*dst = perms
	}
	return ok
}

// list calls fn for each item of the sequence n, naming the items key[0],
// key[1]... A null value is an empty list. It reports false when n is not
// a list.
func (l *loader) list(n ast.Node, key string, kp pos, expect string, fn func(ikey string, ip pos, item ast.Node)) bool {
	before := len(l.errs)
	n = l.deref(n, key, kp)
	switch v := n.(type) {
	case nil:
		return len(l.errs) == before
	case *ast.NullNode:
		return true
	case *ast.SequenceNode:
		for i, item := range v.Values {
			ip := lineOf(item)
			if ip == (pos{}) {
				ip = kp
			}
			ikey := fmt.Sprintf("%s[%d]", key, i)
			l.prov[ikey] = ip
			fn(ikey, ip, item)
		}
		return true
	}
	l.errorf(key, kp, "got %s: expected %s", describe(n), expect)
	return false
}

// decodeObject decodes the mapping n into obj through its key table.
func decodeObject[T any](l *loader, n ast.Node, prefix string, kp pos, fields []objectField[T], obj *T) {
	keys := objectKeys(fields)
	l.mapping(n, prefix, kp, "a mapping with keys "+strings.Join(keys, ", "), func(key string, fp pos, v ast.Node) {
		full := join(prefix, key)
		var field *objectField[T]
		for i := range fields {
			if fields[i].key == key {
				field = &fields[i]
			}
		}
		if field == nil {
			l.errorf(full, fp, "%s", unknownKeyMsg(key, keys))
			return
		}
		var ok bool
		switch ptr := field.ptr(obj).(type) {
		case *[]auth.Permission:
			ok = l.permissionList(v, full, fp, ptr)
		default:
			ok = l.value(v, full, fp, ptr)
		}
		if ok {
			l.prov[full] = fp
		}
	})
}

// marshalAuth writes the auth section for MarshalYAML.
func (c *Config) marshalAuth(b *strings.Builder) {
	a := &c.Auth
	b.WriteString("auth:\n")
	writePerms := func(indent string, perms []auth.Permission) {
		for _, p := range perms {
			b.WriteString(indent + "- {action: " + yamlQuote(string(p.Action)) + ", path: " + yamlQuote(p.Path) +
				", ips: " + yamlValue(&p.IPs) + "}\n")
		}
	}
	if len(a.Anonymous) == 0 {
		b.WriteString("  anonymous: []\n")
	} else {
		b.WriteString("  anonymous:\n")
		writePerms("    ", a.Anonymous)
	}
	if len(a.Users) == 0 {
		b.WriteString("  users: []\n")
	} else {
		b.WriteString("  users:\n")
		for _, u := range a.Users {
			b.WriteString("    - name: " + yamlQuote(u.Name) + "\n")
			b.WriteString("      password: " + yamlQuote(u.Password) + "\n")
			b.WriteString("      digestHA1: " + yamlQuote(u.DigestHA1) + "\n")
			b.WriteString("      ips: " + yamlValue(&u.IPs) + "\n")
			if len(u.Permissions) == 0 {
				b.WriteString("      permissions: []\n")
				continue
			}
			b.WriteString("      permissions:\n")
			writePerms("        ", u.Permissions)
		}
	}
	for _, sec := range []struct {
		name   string
		fields []sectionField
	}{{"jwt", authJWTFields}, {"failures", authFailuresFields}} {
		b.WriteString("  " + sec.name + ":\n")
		for _, f := range sec.fields {
			b.WriteString("    " + f.key + ": " + yamlValue(f.ptr(c)) + "\n")
		}
	}
}

// authExpect says what each user and permission key takes, for messages
// from the auth package that do not say it themselves.
var authExpect = map[string]string{
	"name":      "a user name without ':', '\"', '\\' or control characters, each name once",
	"password":  "an argon2id or bcrypt hash made with `streamgate hash-password`",
	"digestHA1": "32 hex digits made with `streamgate hash-password -digest-user NAME`, or \"\"",
	"ips":       "addresses or CIDR ranges like 10.0.0.5 or 10.0.0.0/8",
	"action":    "read, publish, api or metrics",
	"path":      "a path pattern like cams/door, cams/* or cams/**, or \"\" for every path",
}

// auth validates the auth section. Users and permissions are checked by
// the auth package itself (without fetching any JWKS), so the gateway and
// the Authorizer can never disagree on what is valid.
func (v *validator) auth() {
	a := &v.c.Auth
	if u := a.JWT.JWKSURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			v.errorf("auth.jwt.jwksURL", "invalid URL %s: expected an https:// URL (or http:// on loopback) of the identity provider's JWKS", quoteShort(u))
		}
	}
	if a.JWT.Claim == "" {
		v.errorf("auth.jwt.claim", "empty: expected the name of the claim holding the permissions, such as streamgate_permissions")
	}
	v.positive("auth.jwt.refreshInterval", a.JWT.RefreshInterval)
	f := a.Failures
	if f.Threshold < 1 {
		v.errorf("auth.failures.threshold", "invalid value %d: expected 1 or more", f.Threshold)
	}
	v.positive("auth.failures.window", f.Window)
	v.positive("auth.failures.maxDelay", f.MaxDelay)
	if f.MaxDelay > 0 && f.Delay > f.MaxDelay {
		v.errorAt("auth.failures.delay", "auth.failures.maxDelay", "%v is longer than auth.failures.maxDelay %v: expected a delay up to maxDelay (or 0 to turn the slowdown off)", f.Delay, f.MaxDelay)
	}

	conf := a.AuthorizerConfig()
	conf.JWT = auth.JWTConfig{}
	authz, err := auth.New(conf, nil)
	if err == nil {
		authz.Close()
		return
	}
	var ce *auth.ConfigError
	if !errors.As(err, &ce) {
		v.errorf("auth", "%v: expected a valid auth section", err)
		return
	}
	key := "auth." + ce.Field
	msg := ce.Err.Error()
	if rest, ok := strings.CutPrefix(msg, "want "); ok {
		msg = "expected " + rest
	}
	msg = strings.Replace(msg, ": want ", ": expected ", 1)
	if !strings.Contains(msg, "expected") {
		last := ce.Field[strings.LastIndexByte(ce.Field, '.')+1:]
		want, ok := authExpect[last]
		if !ok {
			want = "a valid value"
		}
		msg += ": expected " + want
	}
	if ce.User != "" && !strings.HasSuffix(ce.Field, ".name") {
		msg = fmt.Sprintf("(user %q) %s", ce.User, msg)
	}
	v.errorf(key, "%s", msg)
}
