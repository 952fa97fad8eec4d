package main

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckLoopbackURL(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		url    string
		remote bool
		ok     bool
	}{
		{"ipv4 loopback", "rtsp://127.0.0.1:8554/bench", false, true},
		{"other 127/8", "http://127.3.4.5:8888/bench/", false, true},
		{"ipv6 loopback", "http://[::1]:8888/bench/", false, true},
		{"localhost", "rtsp://localhost:8554/bench", false, true},
		{"private address refused", "rtsp://10.1.2.3:8554/bench", false, false},
		{"public address refused", "http://93.184.216.34/bench/", false, false},
		{"ipv6 remote refused", "http://[2001:db8::1]:8888/bench/", false, false},
		{"unspecified refused", "http://0.0.0.0:8888/bench/", false, false},
		{"remote allowed with -allow-remote", "rtsp://10.1.2.3:8554/bench", true, true},
		{"no host", "rtsp:///bench", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLoopbackURL(ctx, tc.url, tc.remote)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestDialerRefusesRemote(t *testing.T) {
	// The check runs before connect(2): nothing leaves the host.
	_, err := newDialer(false).DialContext(context.Background(), "tcp", "192.0.2.1:80")
	require.True(t, errors.Is(err, errRemote), "got %v", err)
}

func TestOptionsBounds(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "rtsp", "-duration", "11m"},
		{"-scenario", "rtsp", "-readers", "0"},
		{"-scenario", "rtsp", "-readers", "100000"},
		{"-scenario", "nope"},
		{"-scenario", "rtsp", "-transport", "sctp"},
		{"-scenario", "rtsp", "-rtsp-url", "rtsp://127.0.0.1/fixed"},
		{"-scenario", "rtsp", "-pid", "1", "-cmd", "x"},
	} {
		_, err := parseFlags(args, discard{})
		require.Error(t, err, "%v", args)
	}
	o, err := parseFlags([]string{"-scenario", "hls"}, discard{})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8888/{path}/", o.httpURL)
}

func TestRunRefusesRemoteTarget(t *testing.T) {
	code := run([]string{"-scenario", "rtsp", "-rtsp-url", "rtsp://10.1.2.3:8554/{path}", "-duration", "1s"}, discard{}, discard{})
	require.Equal(t, 1, code)
}

func TestSplitCommand(t *testing.T) {
	got, err := splitCommand(`/tmp/sg -config "my file.yml" -x 'a b' c\ d`)
	require.NoError(t, err)
	require.Equal(t, []string{"/tmp/sg", "-config", "my file.yml", "-x", "a b", "c d"}, got)
	_, err = splitCommand(`sg "open`)
	require.Error(t, err)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
