package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/record"
)

func TestRecordConfigErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{
			name: "record not a boolean",
			yaml: "paths:\n  cam1:\n    source: demo\n    record: yes please\n",
			want: `streamgate.yml:4: paths.cam1.record: got string "yes please": expected true or false`,
		},
		{
			name: "zero segment duration",
			yaml: "paths:\n  cam1:\n    source: demo\n    recordSegmentDuration: 0\n",
			want: `streamgate.yml:4: paths.cam1.recordSegmentDuration: duration 0s is not positive: expected a duration like "10s", "500ms" or "2m"`,
		},
		{
			name: "part longer than segment",
			yaml: "pathDefaults:\n  recordSegmentDuration: 2s\n  recordPartDuration: 5s\n",
			want: `streamgate.yml:3: pathDefaults.recordPartDuration: 5s is longer than recordSegmentDuration 2s: expected a shorter part`,
		},
		{
			name: "negative retention",
			yaml: "paths:\n  cam1:\n    source: demo\n    recordDeleteAfter: -1h\n",
			want: `streamgate.yml:4: paths.cam1.recordDeleteAfter: negative duration "-1h": expected a duration of 0 or more`,
		},
		{
			name: "bad size",
			yaml: "paths:\n  cam1:\n    source: demo\n    recordMaxBytes: 5 gigs\n",
			want: `streamgate.yml:4: paths.cam1.recordMaxBytes: invalid size "5 gigs": expected a size like "0" (no bound), "500MB" or "20GiB"`,
		},
		{
			name: "size too large",
			yaml: "paths:\n  cam1:\n    source: demo\n    recordMaxBytes: 99999999999TiB\n",
			want: `streamgate.yml:4: paths.cam1.recordMaxBytes: size "99999999999TiB" is too large: expected a size like "0" (no bound), "500MB" or "20GiB"`,
		},
		{
			name: "empty directory",
			yaml: "recordings:\n  directory: \"\"\n",
			want: `streamgate.yml:2: recordings.directory: empty directory: expected a directory such as "./recordings"`,
		},
		{
			name: "unknown recordings key",
			yaml: "recordings:\n  path: /var/rec\n",
			want: `streamgate.yml:2: recordings.path: unknown key: expected one of directory`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("streamgate.yml", []byte(tc.yaml), nil)
			require.Error(t, err)
			assert.Nil(t, cfg)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestRecordConfig(t *testing.T) {
	yaml := `recordings:
  directory: /var/lib/streamgate
pathDefaults:
  recordDeleteAfter: 72h
paths:
  cam1:
    source: demo
    record: true
    recordSegmentDuration: 10m
    recordMaxBytes: 20GiB
  cam2:
    source: publisher
    record: true
    recordPartDuration: 500ms
    recordDeleteAfter: 0
  cam3:
    source: demo
  "cams/{name}":
    source: rtsp://origin/cams/{name}
    record: true
`
	cfg, err := ParseConfig("streamgate.yml", []byte(yaml), []string{"STREAMGATE_PATHS_CAM3_RECORDMAXBYTES=500MB", "STREAMGATE_RECORDINGS_DIRECTORY=/srv/rec"})
	require.NoError(t, err)
	assert.Equal(t, "/srv/rec", cfg.Recordings.Directory, "the environment overrides the file")
	assert.Equal(t, int64(500e6), cfg.Paths["cam3"].MaxBytes())
	assert.Equal(t, map[string]record.Settings{
		"cam1": {SegmentDuration: 10 * time.Minute, PartDuration: time.Second, DeleteAfter: 72 * time.Hour, MaxBytes: 20 << 30},
		"cam2": {SegmentDuration: time.Minute, PartDuration: 500 * time.Millisecond},
	}, recordSettings(cfg), "exact paths with record: true; patterns are not recorded")

	plain, err := ParseConfig("streamgate.yml", []byte("pathDefaults:\n  recordMaxBytes: 1000000\npaths:\n  a: {source: demo, recordMaxBytes: 0}\n  b: {source: demo}\n"), nil)
	require.NoError(t, err, "a bare integer is a byte count")
	assert.Equal(t, int64(0), plain.Paths["a"].MaxBytes())
	assert.Equal(t, int64(1e6), plain.Paths["b"].MaxBytes())

	def := DefaultConfig()
	assert.Equal(t, "./recordings", def.Recordings.Directory)
	assert.Empty(t, recordSettings(def), "recording is off by default")
}

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1234", 1234, true}, {"500MB", 500e6, true}, {"20GiB", 20 << 30, true},
		{"1 KiB", 1024, true}, {"7B", 7, true}, {"1TB", 1e12, true},
		{"", 0, false}, {"-5MB", 0, false}, {"1.5GB", 0, false}, {"5mb", 0, false}, {"GB", 0, false},
		{"9223372036854775807", 1<<63 - 1, true}, {"9223372036854775808", 0, false}, {"9999999TiB", 0, false},
	}
	for _, tc := range cases {
		n, msg := parseByteSize(tc.in)
		assert.Equal(t, tc.ok, msg == "", "%q: %s", tc.in, msg)
		assert.Equal(t, tc.want, n, "%q", tc.in)
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "500MB", "20GiB", " 7 B", "9223372036854775807", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, msg := parseByteSize(s)
		if msg == "" && n < 0 {
			t.Fatalf("%q parsed to a negative size %d", s, n)
		}
		if msg != "" && n != 0 {
			t.Fatalf("%q: error with a value %d", s, n)
		}
	})
}
