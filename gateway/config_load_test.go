package gateway

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, yml string, env ...string) *Config {
	t.Helper()
	cfg, err := ParseConfig("streamgate.yml", []byte(yml), env)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

func requireEqualConfig(t *testing.T, got, want *Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs differ\n got: %s\nwant: %s", got, want)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"empty file", ""},
		{"comments only", "# nothing here\n\n# still nothing\n"},
		{"empty document", "---\n"},
		{"empty sections", "log:\nrtsp:\npathDefaults:\npaths:\n"},
		{"empty paths mapping", "paths: {}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := DefaultConfig()
			want.File = "streamgate.yml"
			requireEqualConfig(t, mustParse(t, tc.yaml), want)
		})
	}
}

func TestDefaultConfigFile(t *testing.T) {
	cfg, err := LoadConfig("../configs/streamgate.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "../configs/streamgate.yml" {
		t.Fatalf("File = %q", cfg.File)
	}
	cfg.File = ""
	requireEqualConfig(t, cfg, DefaultConfig())
}

func TestDefaultConfigValidates(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("STREAMGATE_LOG_LEVEL", "debug")
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Log.Level = "debug"
	requireEqualConfig(t, cfg, want)

	_, err = LoadConfig("testdata/config/missing.yml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadConfig(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestParseConfigFull(t *testing.T) {
	cfg, err := LoadConfig("testdata/config/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log != (LogConfig{Level: "debug", Format: "json"}) {
		t.Errorf("Log = %+v", cfg.Log)
	}
	r := cfg.RTSP
	if r.Address != "127.0.0.1:9554" || r.UDPEnabled() || r.MulticastEnabled() || !r.TLSEnabled() ||
		!reflect.DeepEqual(r.AuthMethods, []string{"digest"}) || r.SessionTimeout != 2*time.Minute ||
		r.ReadTimeout != 10*time.Second || r.WriteQueueSize != 1024 {
		t.Errorf("RTSP = %+v", r)
	}
	wantOrder := []string{"cam1", "lobby", "door", "cams/{name}", "site/{site}/cam/{cam}"}
	if !reflect.DeepEqual(cfg.PathOrder, wantOrder) {
		t.Errorf("PathOrder = %q", cfg.PathOrder)
	}
	if _, ok := cfg.Paths[DemoPathName]; ok {
		t.Error("demo exists although the file lists paths without it")
	}

	inherited := defaultPathConfig()
	inherited.SourceProtocol = "tcp"
	inherited.OutageGrace = 0
	inherited.ReadUser, inherited.ReadPass = "viewer", "s3cret"

	cam1 := inherited
	cam1.Name, cam1.Source = "cam1", "rtsp://admin:hunter2@10.0.0.10:554/stream1"
	lobby := inherited
	lobby.Name, lobby.Source, lobby.OnDemand, lobby.OnDemandCloseAfter = "lobby", "rtsps://10.0.0.11/live", true, 30*time.Second
	lobby.SourceFingerprint = strings.Repeat("abcdef0123456789", 4)
	door := inherited
	door.Name, door.OverridePublisher, door.PublishUser, door.PublishPass, door.MaxReaders = "door", true, "door", "letmein", 5
	cams := inherited
	cams.Name, cams.Pattern, cams.Source, cams.OnDemand = "cams/{name}", true, "rtsp://origin:8554/cams/{name}", true
	for _, want := range []PathConfig{cam1, lobby, door, cams} {
		if got := cfg.Paths[want.Name]; got == nil || *got != want {
			t.Errorf("Paths[%q]\n got: %+v\nwant: %+v", want.Name, got, want)
		}
	}
}

func TestPathDefaultsMerge(t *testing.T) {
	cfg := mustParse(t, `
pathDefaults:
  onDemand: true
  gopCache: false
  maxReaders: 10
  sourceSkipVerify: true
paths:
  cam1:
    source: rtsps://cam1/live
  cam2:
    source: rtsp://cam2/live
    onDemand: false
    maxReaders: 0
    sourceSkipVerify: false
    sourceFingerprint: "`+strings.Repeat("AB:", 31)+`AB"
  door:
    source: publisher
  demo:
`)
	check := func(name string, onDemand, gop bool, maxReaders int, skip bool) {
		t.Helper()
		p := cfg.Paths[name]
		if p.OnDemand != onDemand || p.GOPCache != gop || p.MaxReaders != maxReaders || p.SourceSkipVerify != skip {
			t.Errorf("%s: %+v", name, p)
		}
	}
	check("cam1", true, false, 10, true)
	check("cam2", false, false, 0, false)
	// onDemand inherited by a non-URL source does not apply and is no error.
	check("door", false, false, 10, true)
	check("demo", false, false, 10, true)
	if cfg.Paths["demo"].Source != SourceDemo {
		t.Errorf("listed demo path without source has source %q", cfg.Paths["demo"].Source)
	}
	if cfg.Paths["cam2"].SourceFingerprint != strings.Repeat("ab", 32) {
		t.Errorf("fingerprint not normalised: %q", cfg.Paths["cam2"].SourceFingerprint)
	}
}

func TestDemoPathRules(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		demo       bool
	}{
		{"no file", "", nil, true},
		{"paths without demo", "paths:\n  cam1:\n    source: rtsp://h/s\n", nil, false},
		{"demo listed", "paths:\n  cam1:\n    source: rtsp://h/s\n  demo:\n    source: demo\n", nil, true},
		{"path created from env", "", []string{"STREAMGATE_PATHS_CAM1_SOURCE=rtsp://h/s"}, false},
		{"demo created from env", "", []string{"STREAMGATE_PATHS_DEMO_MAXREADERS=2"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.yaml, tc.env...)
			p, ok := cfg.Paths[DemoPathName]
			if ok != tc.demo {
				t.Fatalf("demo present = %t, want %t", ok, tc.demo)
			}
			if ok && (p.Source != SourceDemo || p.Name != DemoPathName) {
				t.Fatalf("demo path = %+v", p)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg := mustParse(t, "log:\n  level: warn\npaths:\n  Cam1:\n    source: rtsp://old/s\n",
		"STREAMGATE_LOG_LEVEL=debug",
		"STREAMGATE_RTSP_ADDRESS=:9554",
		"STREAMGATE_RTSP_RTPADDRESS=:9000",
		"STREAMGATE_RTSP_RTCPADDRESS=:9001",
		"STREAMGATE_RTSP_AUTHMETHODS= digest, basic ",
		"STREAMGATE_RTSP_SESSIONTIMEOUT=90s",
		"STREAMGATE_RTSP_WRITEQUEUESIZE=128",
		"STREAMGATE_PATHDEFAULTS_ONDEMAND=true",
		"STREAMGATE_PATHS_CAM1_SOURCE=rtsp://new/s",
		"STREAMGATE_PATHS_GARAGE_DOOR_SOURCE=rtsp://garage/s",
		"STREAMGATE_PATHS_GARAGE_DOOR_GOPCACHE=false",
		"OTHER_VAR=ignored",
	)
	if cfg.Log.Level != "debug" || cfg.RTSP.Address != ":9554" || cfg.RTSP.RTPAddress != ":9000" ||
		cfg.RTSP.SessionTimeout != 90*time.Second || cfg.RTSP.WriteQueueSize != 128 ||
		!reflect.DeepEqual(cfg.RTSP.AuthMethods, []string{"digest", "basic"}) {
		t.Errorf("overrides not applied: %+v %+v", cfg.Log, cfg.RTSP)
	}
	if !cfg.PathDefaults.OnDemand {
		t.Error("pathDefaults.onDemand not set")
	}
	if p := cfg.Paths["Cam1"]; p.Source != "rtsp://new/s" || !p.OnDemand {
		t.Errorf("Cam1 = %+v; want the env source, matched case-insensitively", p)
	}
	if p := cfg.Paths["garage_door"]; p == nil || p.Source != "rtsp://garage/s" || p.GOPCache || !p.OnDemand {
		t.Errorf("garage_door = %+v; want a new lowercased path", p)
	}
	if !reflect.DeepEqual(cfg.PathOrder, []string{"Cam1", "garage_door"}) {
		t.Errorf("PathOrder = %q", cfg.PathOrder)
	}
	// An empty value sets the key to "": here it turns UDP transport off.
	cfg = mustParse(t, "", "STREAMGATE_RTSP_RTPADDRESS=", "STREAMGATE_RTSP_RTCPADDRESS=")
	if cfg.RTSP.UDPEnabled() {
		t.Error("UDP transport still on")
	}
}

func TestMatchPath(t *testing.T) {
	cfg := mustParse(t, `
paths:
  cams/{name}:
    source: rtsp://user:pw@origin:8554/cams/{name}?q={name}
  cams/lobby:
    source: publisher
  site/{site}/cam/{cam}:
    source: rtsp://{site}.example.com/{cam}/{site}
  "{any}/live":
    source: rtsp://fallback/{any}
  x/{a}/live:
    source: rtsp://never/{a}
`)
	for _, tc := range []struct {
		name, source string
		ok           bool
	}{
		{"cams/lobby", "publisher", true}, // exact names win over patterns
		{"cams/door", "rtsp://user:pw@origin:8554/cams/door?q=door", true},
		{"site/north/cam/7", "rtsp://north.example.com/7/north", true},
		{"x/live", "rtsp://fallback/x", true},
		{"cams", "", false},
		{"cams/a/b", "", false},
		{"site/north/cam", "", false},
		{"site/north/door/7", "", false},
		{"cams/{name}", "", false}, // a pattern key is not a concrete name
		{"cams/../x", "", false},
		{"", "", false},
	} {
		p, ok := cfg.MatchPath(tc.name)
		if ok != tc.ok {
			t.Errorf("MatchPath(%q) ok = %t, want %t", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if p.Name != tc.name || p.Pattern || p.Source != tc.source {
			t.Errorf("MatchPath(%q) = name %q pattern %t source %q, want source %q", tc.name, p.Name, p.Pattern, p.Source, tc.source)
		}
		if strings.Contains(tc.name, "cams/door") && !p.OnDemand {
			t.Errorf("pattern match is not on-demand")
		}
	}
	// The result is a copy: changing it leaves the config alone.
	p, _ := cfg.MatchPath("cams/lobby")
	p.Source = "changed"
	if cfg.Paths["cams/lobby"].Source != "publisher" {
		t.Error("MatchPath returned the config's own PathConfig")
	}
}

func TestValidPathName(t *testing.T) {
	for _, name := range []string{"cam1", "site/door", "a.b_c~d-e", "API1", "x/api", strings.Repeat("a", 255), "cams/..a", "..x"} {
		if err := ValidPathName(name); err != nil {
			t.Errorf("ValidPathName(%q) = %v", name, err)
		}
	}
	for name, want := range map[string]string{
		"":                       "empty path name: expected a name like cam1 or site/door",
		"/cam":                   `path name "/cam" starts or ends with "/": expected no leading or trailing "/"`,
		"a//b":                   `path name "a//b" contains "//": expected segments separated by one "/"`,
		"a/./b":                  `path name "a/./b" has a "." segment: expected no "." or ".." segments`,
		"..":                     `path name ".." has a ".." segment: expected no "." or ".." segments`,
		"Metrics":                `path name "Metrics" starts with the reserved name "Metrics": expected a first segment other than api, metrics, healthz, readyz, assets`,
		"cams/{name}":            `invalid character "{" in path name "cams/{name}": expected letters, digits and . _ ~ - /`,
		"cam%201":                `invalid character "%" in path name "cam%201": expected letters, digits and . _ ~ - /`,
		strings.Repeat("a", 256): "path name is 256 bytes long: expected at most 255",
	} {
		if err := ValidPathName(name); err == nil || err.Error() != want {
			t.Errorf("ValidPathName(%q) = %v, want %s", name, err, want)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg := mustParse(t, `
pathDefaults:
  readUser: viewer
  readPass: s3cret
paths:
  cam1:
    source: rtsp://admin:hunter2@10.0.0.10:554/stream1
  door:
    publishUser: door
    publishPass: letmein
  pub:
    source: rtsps://onlyuser@h/s
`)
	r := cfg.Redacted()
	if got := r.Paths["cam1"].Source; got != "rtsp://admin:***@10.0.0.10:554/stream1" {
		t.Errorf("source = %q", got)
	}
	if r.Paths["door"].PublishPass != "***" || r.Paths["door"].ReadPass != "***" || r.PathDefaults.ReadPass != "***" ||
		r.Paths["door"].PublishUser != "door" || r.Paths["pub"].Source != "rtsps://onlyuser@h/s" {
		t.Errorf("passwords not masked or users lost: %+v", r.Paths["door"])
	}
	if cfg.Paths["cam1"].Source != "rtsp://admin:hunter2@10.0.0.10:554/stream1" || cfg.Paths["door"].PublishPass != "letmein" {
		t.Error("Redacted changed the original")
	}
	s := cfg.String()
	for _, secret := range []string{"hunter2", "letmein", "s3cret"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q:\n%s", secret, s)
		}
	}
	for in, want := range map[string]string{
		"rtsp://u:p@h/s":         "rtsp://u:***@h/s",
		"rtsp://u:p/w@h/s?x=y@z": "rtsp://u:***@h/s?x=y@z",
		"rtsp://h:554/s":         "rtsp://h:554/s",
		"publisher":              "publisher",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarshalYAMLRoundTrip(t *testing.T) {
	for _, file := range []string{"testdata/config/full.yml", "../configs/streamgate.yml"} {
		cfg, err := LoadConfig(file)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cfg.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(file, b, nil)
		if err != nil {
			t.Fatalf("%s: reparse: %v\n%s", file, err, b)
		}
		requireEqualConfig(t, back, cfg)
	}
}

func TestAnchorsAndTags(t *testing.T) {
	cfg := mustParse(t, `
pathDefaults:
  readUser: &user viewer
  readPass: !!str 1234
paths:
  cam1:
    source: &src rtsp://h/s
    publishUser: *user
    publishPass: 5678
  cam2:
    source: *src
`)
	p := cfg.Paths["cam1"]
	if p.ReadUser != "viewer" || p.PublishUser != "viewer" || p.ReadPass != "1234" || p.PublishPass != "5678" {
		t.Errorf("cam1 = %+v", p)
	}
	if cfg.Paths["cam2"].Source != "rtsp://h/s" {
		t.Errorf("cam2 = %+v", cfg.Paths["cam2"])
	}
}

func TestValidateAndClone(t *testing.T) {
	cfg := DefaultConfig()
	c2 := cfg.Clone()
	c2.RTSP.AuthMethods[0] = "ntlm"
	c2.Paths[DemoPathName].MaxReaders = -1
	if cfg.RTSP.AuthMethods[0] != "basic" || cfg.Paths[DemoPathName].MaxReaders != 0 {
		t.Fatal("Clone shares memory with the original")
	}
	want := `rtsp.authMethods: invalid auth method "ntlm": expected basic or digest` + "\n" +
		`paths.demo.maxReaders: negative value -1: expected 0 (unlimited) or more`
	if err := c2.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want %s", err, want)
	}
}

func TestServerCertFileExists(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/c.pem", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, "", "STREAMGATE_RTSP_SERVERCERT="+dir+"/c.pem", "STREAMGATE_RTSP_SERVERKEY="+dir+"/c.pem")
	if !cfg.RTSP.TLSEnabled() {
		t.Fatal("TLS not enabled")
	}
	_, err := ParseConfig("streamgate.yml", nil, []string{"STREAMGATE_RTSP_SERVERCERT=" + dir, "STREAMGATE_RTSP_SERVERKEY=" + dir + "/c.pem"})
	want := "env STREAMGATE_RTSP_SERVERCERT: rtsp.serverCert: \"" + dir + "\" is a directory: expected a PEM certificate file"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"} {
		if got := (LogConfig{Level: level}).SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%s) = %s", level, got)
		}
	}
}
