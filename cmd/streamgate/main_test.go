package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Neither run nor the process tests may leave a goroutine behind: every
// child process is killed and waited for by its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBinary()
		os.Exit(code)
	}))
}

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const goodConfig = `log: {level: warn}
http:
  address: "127.0.0.1:0"
rtsp:
  address: "127.0.0.1:18554"
  rtpAddress: ""
  rtcpAddress: ""
  multicastIPRange: ""
paths:
  demo:
    source: demo
`

// The unknown key is on line 3.
const unknownKeyConfig = `rtsp:
  address: "127.0.0.1:18554"
  adress: "127.0.0.1:18555"
`

// Flag and config problems end run with exit code 2 and a message that
// names the problem; -check-config says ok for a good file. None of these
// cases starts the gateway.
func TestRunFlagsAndConfig(t *testing.T) {
	good := writeFile(t, "good.yml", goodConfig)
	bad := writeFile(t, "bad.yml", unknownKeyConfig)
	badValue := writeFile(t, "value.yml", "rtsp:\n  address: nope\n")

	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stderr
	}{
		{"check good config", []string{"-check-config", good}, exitOK, []string{good + ": ok"}},
		{"check unknown key", []string{"-check-config", bad}, exitConfig, []string{bad + ":3: rtsp.adress: unknown key"}},
		{"check bad value", []string{"-check-config", badValue}, exitConfig, []string{badValue + ":2: rtsp.address: invalid address"}},
		{"check missing file", []string{"-check-config", filepath.Join(t.TempDir(), "none.yml")}, exitConfig, []string{"none.yml", "no such file"}},
		{"unknown flag", []string{"-nope"}, exitConfig, []string{"flag provided but not defined: -nope", "-check-config"}},
		{"unexpected argument", []string{"-config", good, "extra"}, exitConfig, []string{`unexpected argument "extra"`}},
		{"config with unknown key", []string{"-config", bad}, exitConfig, []string{bad + ":3: rtsp.adress: unknown key"}},
		{"config missing file", []string{"-config", filepath.Join(t.TempDir(), "none.yml")}, exitConfig, []string{"none.yml", "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, &stderr)
			require.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			for _, w := range tc.want {
				require.Contains(t, stderr.String(), w)
			}
		})
	}
}
