package gateway

import (
	"errors"
	"strings"
	"testing"
)

// badConfigs are configs ParseConfig must refuse, each with its exact message.
var badConfigs = []struct {
	name string
	yaml string
	env  []string
	want string
}{
	{
		name: "unknown top-level key",
		yaml: "log:\n  level: info\napi:\n  address: \":9997\"\n",
		want: `streamgate.yml:3: api: unknown key: expected one of log, rtsp, http, hls, webrtc, recordings, auth, pathDefaults, paths`,
	},
	{
		name: "unknown key in a section",
		yaml: "log:\n  colour: true\n",
		want: `streamgate.yml:2: log.colour: unknown key: expected one of level, format`,
	},
	{
		name: "unknown key in a path",
		yaml: "paths:\n  cam1:\n    source: rtsp://h/s\n    colour: red\n",
		want: `streamgate.yml:4: paths.cam1.colour: unknown key: expected one of ` + pathKeyList(),
	},
	{
		name: "key in the wrong case",
		yaml: "paths:\n  cam1:\n    source: rtsp://h/s\n    ondemand: true\n",
		want: `streamgate.yml:4: paths.cam1.ondemand: unknown key: expected onDemand (keys are case-sensitive)`,
	},
	{
		name: "string where a number is expected",
		yaml: "rtsp:\n  writeQueueSize: lots\n",
		want: `streamgate.yml:2: rtsp.writeQueueSize: got string "lots": expected an integer`,
	},
	{
		name: "string where a boolean is expected",
		yaml: "pathDefaults:\n  gopCache: sometimes\n",
		want: `streamgate.yml:2: pathDefaults.gopCache: got string "sometimes": expected true or false`,
	},
	{
		name: "list where a mapping is expected",
		yaml: "paths:\n  - cam1\n  - cam2\n",
		want: `streamgate.yml:1: paths: got a list: expected a mapping of path names to path settings`,
	},
	{
		name: "mapping where a string is expected",
		yaml: "paths:\n  cam1:\n    source:\n      url: rtsp://h/s\n",
		want: `streamgate.yml:3: paths.cam1.source: got a mapping: expected a string`,
	},
	{
		name: "string where a list is expected",
		yaml: "rtsp:\n  authMethods: basic\n",
		want: `streamgate.yml:2: rtsp.authMethods: got string "basic": expected a list like [basic, digest]`,
	},
	{
		name: "top level not a mapping",
		yaml: "- log\n",
		want: `streamgate.yml:1: got a list: expected a mapping with keys log, rtsp, http, hls, webrtc, recordings, auth, pathDefaults, paths`,
	},
	{
		name: "syntax error",
		yaml: "log: [info\n",
		want: `streamgate.yml:1: invalid YAML: sequence end token ']' not found: expected valid YAML syntax`,
	},
	{
		name: "bad URL",
		yaml: "paths:\n  cam1:\n    source: rtsp//x\n",
		want: `streamgate.yml:3: paths.cam1.source: invalid URL "rtsp//x": expected rtsp://…, rtsps://…, "publisher" or "demo"`,
	},
	{
		name: "URL without host",
		yaml: "paths:\n  cam1:\n    source: rtsp:///stream\n",
		want: `streamgate.yml:3: paths.cam1.source: URL "rtsp:///stream" has no host: expected rtsp://host[:port]/…`,
	},
	{
		name: "bad scheme, password masked",
		yaml: "paths:\n  cam1:\n    source: http://u:secret@cam/video\n",
		want: `streamgate.yml:3: paths.cam1.source: unsupported scheme "http" in "http://u:***@cam/video": expected rtsp://…, rtsps://…, "publisher" or "demo"`,
	},
	{
		name: "bad URL port",
		yaml: "paths:\n  cam1:\n    source: rtsp://cam:99999/s\n",
		want: `streamgate.yml:3: paths.cam1.source: URL "rtsp://cam:99999/s" has an invalid port: expected a port from 1 to 65535`,
	},
	{
		name: "empty source",
		yaml: "paths:\n  cam1:\n    source: \"\"\n",
		want: `streamgate.yml:3: paths.cam1.source: empty source: expected rtsp://…, rtsps://…, "publisher" or "demo"`,
	},
	{
		name: "duplicate path",
		yaml: "paths:\n  cam1:\n    source: demo\n  cam2:\n    source: demo\n  cam1:\n    source: publisher\n",
		want: `streamgate.yml:6: paths.cam1: duplicate path (first at line 2): expected each path name once`,
	},
	{
		name: "duplicate key",
		yaml: "log:\n  level: info\n  level: debug\n",
		want: `streamgate.yml:3: log.level: duplicate key (first at line 2): expected each key once`,
	},
	{
		name: "reserved path name",
		yaml: "paths:\n  api/cam:\n    source: demo\n",
		want: `streamgate.yml:2: paths.api/cam: path name "api/cam" starts with the reserved name "api": expected a first segment other than api, metrics, healthz, readyz, assets`,
	},
	{
		name: "dot-dot segment",
		yaml: "paths:\n  cams/../etc:\n    source: demo\n",
		want: `streamgate.yml:2: paths.cams/../etc: path name "cams/../etc" has a ".." segment: expected no "." or ".." segments`,
	},
	{
		name: "double slash",
		yaml: "paths:\n  a//b:\n    source: demo\n",
		want: `streamgate.yml:2: paths.a//b: path name "a//b" contains "//": expected segments separated by one "/"`,
	},
	{
		name: "trailing slash",
		yaml: "paths:\n  cam1/:\n    source: demo\n",
		want: `streamgate.yml:2: paths.cam1/: path name "cam1/" starts or ends with "/": expected no leading or trailing "/"`,
	},
	{
		name: "bad character in path name",
		yaml: "paths:\n  \"cam 1\":\n    source: demo\n",
		want: `streamgate.yml:2: paths.cam 1: invalid character " " in path name "cam 1": expected letters, digits and . _ ~ - /`,
	},
	{
		name: "two listeners on one port",
		yaml: "rtsp:\n  serverCert: testdata/config/server.crt\n  serverKey: testdata/config/server.key\n\n  rtspsAddress: \":8554\"\n",
		want: `streamgate.yml:5: rtsp.rtspsAddress: port 8554 is already used by rtsp.address: expected a free port`,
	},
	{
		name: "UDP listeners on one port",
		yaml: "rtsp:\n  rtpAddress: \":8002\"\n  rtcpAddress: \":8003\"\n",
		want: `streamgate.yml:2: rtsp.rtpAddress: port 8002 is already used by rtsp.multicastRTPPort: expected a free port` + "\n" +
			`streamgate.yml:3: rtsp.rtcpAddress: port 8003 is already used by rtsp.multicastRTCPPort: expected a free port`,
	},
	{
		name: "odd rtp port",
		yaml: "rtsp:\n  rtpAddress: \":7001\"\n  rtcpAddress: \":7002\"\n",
		want: `streamgate.yml:2: rtsp.rtpAddress: odd port 7001: expected an even port (RTCP uses the next one)`,
	},
	{
		name: "rtcp is not rtp+1",
		yaml: "rtsp:\n  rtpAddress: \":9000\"\n",
		want: `streamgate.yml:2: rtsp.rtcpAddress: port 8001 does not follow rtsp.rtpAddress port 9000: expected port 9001`,
	},
	{
		name: "rtcp without rtp",
		yaml: "rtsp:\n  rtpAddress: \"\"\n",
		want: `streamgate.yml:2: rtsp.rtcpAddress: set while rtsp.rtpAddress is empty: expected "" as well (UDP transport is off)`,
	},
	{
		name: "bad address",
		yaml: "rtsp:\n  address: \"8554\"\n",
		want: `streamgate.yml:2: rtsp.address: invalid address "8554": expected host:port such as ":8554"`,
	},
	{
		name: "bad duration",
		yaml: "rtsp:\n  readTimeout: 10 seconds\n",
		want: `streamgate.yml:2: rtsp.readTimeout: invalid duration "10 seconds": expected a duration like "10s", "500ms" or "2m"`,
	},
	{
		name: "negative duration",
		yaml: "paths:\n  cam1:\n    source: rtsp://h/s\n    outageGrace: -5s\n",
		want: `streamgate.yml:4: paths.cam1.outageGrace: negative duration "-5s": expected a duration of 0 or more`,
	},
	{
		name: "zero timeout",
		yaml: "rtsp:\n  sessionTimeout: 0s\n",
		want: `streamgate.yml:2: rtsp.sessionTimeout: duration 0s is not positive: expected a duration like "10s", "500ms" or "2m"`,
	},
	{
		name: "bad log level",
		yaml: "log:\n  level: verbose\n",
		want: `streamgate.yml:2: log.level: invalid log level "verbose": expected debug, info, warn or error`,
	},
	{
		name: "bad source protocol",
		yaml: "pathDefaults:\n  sourceProtocol: quic\n",
		want: `streamgate.yml:2: pathDefaults.sourceProtocol: invalid source protocol "quic": expected auto, tcp, udp or multicast`,
	},
	{
		name: "bad fingerprint",
		yaml: "paths:\n  cam1:\n    source: rtsps://h/s\n    sourceFingerprint: ab:cd\n",
		want: `streamgate.yml:4: paths.cam1.sourceFingerprint: invalid fingerprint "ab:cd": expected 64 hex digits (SHA-256 of the certificate), colons allowed`,
	},
	{
		name: "fingerprint and skipVerify",
		yaml: "paths:\n  cam1:\n    source: rtsps://h/s\n    sourceFingerprint: " + strings.Repeat("ab", 32) + "\n    sourceSkipVerify: true\n",
		want: `streamgate.yml:4: paths.cam1.sourceFingerprint: set together with sourceSkipVerify: expected either a fingerprint or sourceSkipVerify: true, not both`,
	},
	{
		name: "onDemand with a publisher",
		yaml: "paths:\n  door:\n    source: publisher\n    onDemand: true\n",
		want: `streamgate.yml:4: paths.door.onDemand: on-demand needs a pulled source, not "publisher": expected an rtsp:// or rtsps:// source, or onDemand: false`,
	},
	{
		name: "pattern with onDemand false",
		yaml: "paths:\n  cams/{name}:\n    source: rtsp://origin/cams/{name}\n    onDemand: false\n",
		want: `streamgate.yml:4: paths.cams/{name}.onDemand: pattern paths are always on-demand: expected onDemand: true or no onDemand key`,
	},
	{
		name: "unknown placeholder in source",
		yaml: "paths:\n  cams/{name}:\n    source: rtsp://origin/{site}/{name}\n",
		want: `streamgate.yml:3: paths.cams/{name}.source: placeholder {site} is not in the path name: expected only placeholders of "cams/{name}"`,
	},
	{
		name: "placeholder in a plain path's source",
		yaml: "paths:\n  cam1:\n    source: rtsp://origin/{name}\n",
		want: `streamgate.yml:3: paths.cam1.source: placeholder {name} in the source of a path without placeholders: expected a source without {…}`,
	},
	{
		name: "placeholder not a whole segment",
		yaml: "paths:\n  cam-{id}:\n    source: rtsp://origin/{id}\n",
		want: `streamgate.yml:2: paths.cam-{id}: invalid placeholder in segment "cam-{id}" of path name "cam-{id}": expected a whole segment like {name}`,
	},
	{
		name: "two patterns of one shape",
		yaml: "paths:\n  cams/{a}:\n    source: rtsp://o/{a}\n  cams/{b}:\n    source: rtsp://o/{b}\n",
		want: `streamgate.yml:4: paths.cams/{b}: pattern matches the same names as paths.cams/{a}, which comes first: expected patterns of different shapes`,
	},
	{
		name: "cert without key",
		yaml: "rtsp:\n  serverCert: testdata/config/server.crt\n",
		want: `streamgate.yml:2: rtsp.serverCert: set without rtsp.serverKey: expected both serverCert and serverKey, or neither`,
	},
	{
		name: "missing cert file",
		yaml: "rtsp:\n  serverCert: testdata/config/nope.crt\n  serverKey: testdata/config/server.key\n",
		want: `streamgate.yml:2: rtsp.serverCert: cannot use "testdata/config/nope.crt": no such file or directory: expected a PEM certificate file`,
	},
	{
		name: "bad auth method",
		yaml: "rtsp:\n  authMethods: [basic, ntlm]\n",
		want: `streamgate.yml:2: rtsp.authMethods: invalid auth method "ntlm": expected basic or digest`,
	},
	{
		name: "write queue not a power of two",
		yaml: "rtsp:\n  writeQueueSize: 100\n",
		want: `streamgate.yml:2: rtsp.writeQueueSize: invalid size 100: expected a power of two from 64 to 1048576`,
	},
	{
		name: "multicast range not multicast",
		yaml: "rtsp:\n  multicastIPRange: 10.0.0.0/8\n",
		want: `streamgate.yml:2: rtsp.multicastIPRange: invalid range "10.0.0.0/8": expected an IPv4 multicast CIDR such as "224.1.0.0/16", or "" to disable multicast`,
	},
	{
		name: "password without user",
		yaml: "paths:\n  cam1:\n    source: demo\n    readPass: x\n",
		want: `streamgate.yml:4: paths.cam1.readPass: set without readUser: expected both readUser and readPass, or neither`,
	},
	{
		name: "merge key",
		yaml: "paths:\n  cam1:\n    <<: {source: demo}\n",
		want: `streamgate.yml:3: paths.cam1.<<: merge keys are not supported: expected plain keys (put shared path settings in pathDefaults)`,
	},
	{
		name: "two documents",
		yaml: "log:\n  level: info\n---\nlog:\n  level: debug\n",
		want: `streamgate.yml:4: a second YAML document: expected a single document`,
	},
	{
		name: "integer out of range",
		yaml: "paths:\n  cam1:\n    maxReaders: 99999999999\n",
		want: `streamgate.yml:3: paths.cam1.maxReaders: integer 99999999999 is out of range: expected a value below 2147483648`,
	},
	{
		name: "http listener on the rtsp port",
		yaml: "http:\n  address: \":8554\"\n",
		want: `streamgate.yml:2: http.address: port 8554 is already used by rtsp.address: expected a free port`,
	},
	{
		name: "bad hls variant",
		yaml: "paths:\n  cam1:\n    source: publisher\n    hlsVariant: dash\n",
		want: `streamgate.yml:4: paths.cam1.hlsVariant: invalid HLS variant "dash": expected lowLatency, fmp4 or mpegts`,
	},
	{
		name: "hls part longer than segment",
		yaml: "hls:\n  segmentDuration: 1s\n  partDuration: 2s\n",
		want: `streamgate.yml:3: hls.partDuration: 2s is longer than hls.segmentDuration 1s: expected a shorter part`,
	},
	{
		name: "bad trusted proxy",
		yaml: "http:\n  trustedProxies: [\"not-an-ip\"]\n",
		want: `streamgate.yml:2: http.trustedProxies: invalid proxy "not-an-ip": expected an IP address or a CIDR such as "10.0.0.0/8"`,
	},
	{
		name: "webrtc on the rtsp port",
		yaml: "webrtc:\n  address: \":8554\"\n",
		want: `streamgate.yml:2: webrtc.address: port 8554 is already used by rtsp.address: expected a free port`,
	},
	{
		name: "bad ice server",
		yaml: "webrtc:\n  iceServers: [\"http://stun.example.com\"]\n",
		want: `streamgate.yml:2: webrtc.iceServers: invalid ICE server "http://stun.example.com": expected a stun:, turn: or turns: URL such as "stun:stun.example.com:3478"`,
	},
	{
		name: "ice secret with static credentials",
		yaml: "webrtc:\n  iceSecret: s\n  iceUsername: u\n  iceCredential: p\n",
		want: `streamgate.yml:2: webrtc.iceSecret: set together with webrtc.iceUsername/iceCredential: expected either a TURN REST secret or static credentials`,
	},
	{
		name: "unknown env var",
		env:  []string{"STREAMGATE_API_ADDRESS=:9997"},
		want: `env STREAMGATE_API_ADDRESS: unknown variable: expected STREAMGATE_<SECTION>_<KEY> naming a config key, such as STREAMGATE_RTSP_ADDRESS`,
	},
	{
		name: "unknown env path key",
		env:  []string{"STREAMGATE_PATHS_CAM1_URL=rtsp://h/s"},
		want: `env STREAMGATE_PATHS_CAM1_URL: unknown variable: expected STREAMGATE_PATHS_<NAME>_<KEY> with KEY one of ` + strings.ToUpper(pathKeyList()),
	},
	{
		name: "bad env duration",
		env:  []string{"STREAMGATE_RTSP_READTIMEOUT=soon"},
		want: `env STREAMGATE_RTSP_READTIMEOUT: rtsp.readTimeout: invalid duration "soon": expected a duration like "10s", "500ms" or "2m"`,
	},
	{
		name: "bad env boolean",
		env:  []string{"STREAMGATE_PATHDEFAULTS_ONDEMAND=maybe"},
		want: `env STREAMGATE_PATHDEFAULTS_ONDEMAND: pathDefaults.onDemand: invalid boolean "maybe": expected true or false`,
	},
	{
		name: "bad env value caught by validation",
		env:  []string{"STREAMGATE_RTSP_ADDRESS=localhost"},
		want: `env STREAMGATE_RTSP_ADDRESS: rtsp.address: invalid address "localhost": expected host:port such as ":8554"`,
	},
	{
		name: "env path with a bad source",
		env:  []string{"STREAMGATE_PATHS_CAM1_SOURCE=rtsp//x"},
		want: `env STREAMGATE_PATHS_CAM1_SOURCE: paths.cam1.source: invalid URL "rtsp//x": expected rtsp://…, rtsps://…, "publisher" or "demo"`,
	},
	{
		name: "env conflicts with file",
		yaml: "rtsp:\n  address: \":9000\"\n",
		env:  []string{"STREAMGATE_RTSP_RTPADDRESS=:9000", "STREAMGATE_RTSP_RTCPADDRESS=:9001", "STREAMGATE_RTSP_SERVERCERT=testdata/config/server.crt", "STREAMGATE_RTSP_SERVERKEY=testdata/config/server.key", "STREAMGATE_RTSP_RTSPSADDRESS=:9000"},
		want: `env STREAMGATE_RTSP_RTSPSADDRESS: rtsp.rtspsAddress: port 9000 is already used by rtsp.address: expected a free port`,
	},
	{
		name: "env name matches two paths",
		yaml: "paths:\n  Cam1:\n    source: demo\n  cam1:\n    source: demo\n",
		env:  []string{"STREAMGATE_PATHS_CAM1_MAXREADERS=3"},
		want: `env STREAMGATE_PATHS_CAM1_MAXREADERS: matches paths Cam1 and cam1: expected a name that matches one path (names differ only in case)`,
	},
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("streamgate.yml", []byte(tc.yaml), tc.env)
			if err == nil || cfg != nil {
				t.Fatalf("ParseConfig = %v, %v; want an error", cfg, err)
			}
			if err.Error() != tc.want {
				t.Fatalf("wrong message\n got: %s\nwant: %s", err, tc.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "streamgate.yml" {
				t.Fatalf("error %T is not a *ConfigError naming the file", err)
			}
		})
	}
}

func TestConfigErrorFields(t *testing.T) {
	_, err := ParseConfig("x.yml", []byte("paths:\n  cam1:\n    source: rtsp//x\n"), nil)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *ConfigError", err)
	}
	want := ConfigError{File: "x.yml", Line: 3, Key: "paths.cam1.source",
		Msg: `invalid URL "rtsp//x": expected rtsp://…, rtsps://…, "publisher" or "demo"`}
	if *ce != want {
		t.Fatalf("got %+v, want %+v", *ce, want)
	}
	for _, tc := range []struct {
		err  ConfigError
		want string
	}{
		{ConfigError{Key: "rtsp.address", Msg: "bad: expected good"}, "rtsp.address: bad: expected good"},
		{ConfigError{Line: 2, Msg: "bad: expected good"}, "line 2: bad: expected good"},
		{ConfigError{File: "a.yml", Key: "k", Msg: "m"}, "a.yml: k: m"},
		{ConfigError{File: "a.yml", Line: 4, Env: "STREAMGATE_X", Key: "k", Msg: "m"}, "env STREAMGATE_X: k: m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseConfigReportsSeveralProblems(t *testing.T) {
	_, err := ParseConfig("streamgate.yml", []byte("log:\n  level: loud\n  format: xml\n"), nil)
	want := `streamgate.yml:2: log.level: invalid log level "loud": expected debug, info, warn or error` + "\n" +
		`streamgate.yml:3: log.format: invalid log format "xml": expected text or json`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// pathKeyList is the list of path keys an unknown-key error offers.
func pathKeyList() string {
	keys := make([]string, len(pathFields))
	for i, f := range pathFields {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}
