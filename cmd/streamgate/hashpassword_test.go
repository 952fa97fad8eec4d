package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/auth"
)

var argonLine = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

// loginWorks checks hash through the auth package as the gateway would.
func loginWorks(t *testing.T, hash, pass string) bool {
	t.Helper()
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "u", Password: hash,
		Permissions: []auth.Permission{{Action: auth.ActionRead}}}}}, nil)
	require.NoError(t, err)
	defer a.Close()
	d, _, _ := a.Authorize(context.Background(), auth.Request{Action: auth.ActionRead, Path: "cam",
		User: "u", Pass: pass, IP: net.IPv4(127, 0, 0, 1)})
	return d == auth.Allow
}

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		pass      string   // the password the printed hash must accept
		stderr    []string // substrings
		digestFor string
	}{
		{name: "stdin line", stdin: "s3cret pass\n", code: exitOK, pass: "s3cret pass"},
		{name: "stdin without newline", stdin: "s3cret", code: exitOK, pass: "s3cret"},
		{name: "CRLF stripped, inner spaces kept", stdin: " a b \r\nsecond line\n", code: exitOK, pass: " a b "},
		{name: "flag, with a warning", args: []string{"-password", "flagpw"}, code: exitOK, pass: "flagpw", stderr: []string{"warning", "shell history"}},
		{name: "digest user", args: []string{"-digest-user", "dave"}, stdin: "pw\n", code: exitOK, pass: "pw", digestFor: "dave"},
		{name: "empty stdin", stdin: "", code: exitConfig, stderr: []string{"empty password"}},
		{name: "empty line", stdin: "\nsecond\n", code: exitConfig, stderr: []string{"empty password"}},
		{name: "too long", stdin: strings.Repeat("x", maxPasswordLine+1), code: exitConfig, stderr: []string{"longer than"}},
		{name: "unknown flag", args: []string{"-cost", "3"}, stdin: "pw\n", code: exitConfig, stderr: []string{"-cost"}},
		{name: "unexpected argument", args: []string{"pw"}, code: exitConfig, stderr: []string{`unexpected argument "pw"`}},
		{name: "digest user with colon", args: []string{"-digest-user", "a:b"}, stdin: "pw\n", code: exitConfig, stderr: []string{"must not contain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := hashPassword(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			require.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			for _, s := range tc.stderr {
				assert.Contains(t, stderr.String(), s)
			}
			if code != exitOK {
				assert.Empty(t, stdout.String())
				return
			}
			out := strings.TrimSuffix(stdout.String(), "\n")
			hash := out
			if tc.digestFor != "" {
				lines := strings.Split(out, "\n")
				require.Len(t, lines, 3)
				assert.Equal(t, `name: "`+tc.digestFor+`"`, lines[0])
				hash = strings.Trim(strings.TrimPrefix(lines[1], "password: "), `"`)
				assert.Equal(t, `digestHA1: "`+auth.DigestHA1(tc.digestFor, tc.pass)+`"`, lines[2])
			}
			require.Regexp(t, argonLine, hash)
			assert.True(t, loginWorks(t, hash, tc.pass), "the printed hash accepts the password")
			assert.False(t, loginWorks(t, hash, tc.pass+"x"))
		})
	}
}
