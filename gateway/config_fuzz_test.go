package gateway

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseConfig(f *testing.F) {
	f.Add("", "")
	f.Add("# comment\n", "STREAMGATE_LOG_LEVEL=debug")
	f.Add("log: {level: warn, format: json}\nrtsp:\n  address: \"127.0.0.1:0\"\n  rtpAddress: \"\"\n  rtcpAddress: \"\"\n", "")
	f.Add("pathDefaults:\n  onDemand: true\npaths:\n  cam1:\n    source: rtsp://u:p@h:554/s\n  door:\n    source: publisher\n", "STREAMGATE_PATHS_CAM1_MAXREADERS=3")
	f.Add("paths:\n  cams/{name}:\n    source: rtsp://origin/{name}\n  \"{a}/{b}\":\n    source: rtsps://{a}/{b}\n    sourceSkipVerify: true\n", "")
	f.Add("paths:\n  cam1:\n    source: rtsp//x\n", "STREAMGATE_RTSP_ADDRESS=:9554\nSTREAMGATE_NOPE=1")
	f.Add("a: &x {b: *x}\n", "")
	f.Add("auth:\n  anonymous: [{action: read, path: \"cams/*\", ips: [10.0.0.0/8]}]\n  users:\n    - name: a\n      password: \"$2a$04$abcdefghijklmnopqrstuuCZdDZyNzDqzVYbDYY8eDDqzoZ/gnE8i\"\n      permissions: [{action: api}]\n  failures: {delay: 0}\n", "")
	f.Add("auth:\n  users: [{name: a, password: x}]\n", "STREAMGATE_AUTH_X=1")
	f.Add("paths:\n  null:\n  ~:\n  true:\n  1:\n", "")
	f.Fuzz(func(t *testing.T, data, env string) {
		envs := strings.Split(env, "\n")
		cfg, err := ParseConfig("f.yml", []byte(data), envs)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			checkConfigErrors(t, err)
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		b, err := cfg.MarshalYAML()
		if err != nil {
			t.Fatalf("MarshalYAML: %v", err)
		}
		back, err := ParseConfig("f.yml", b, nil)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip changed the config\n got: %s\nwant: %s", back, cfg)
		}
		for _, name := range cfg.PathOrder {
			if p, ok := cfg.MatchPath(strings.NewReplacer("{", "", "}", "").Replace(name)); ok && p.Pattern {
				t.Fatalf("MatchPath returned a pattern")
			}
		}
		_ = cfg.String()
	})
}

// checkConfigErrors asserts that err is one or more *ConfigError whose
// messages say what was expected.
func checkConfigErrors(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("error %T is not a *ConfigError: %v", e, e)
		}
		if !strings.Contains(ce.Msg, "expected") {
			t.Fatalf("message does not say what was expected: %v", e)
		}
		if ce.Env == "" && ce.Line == 0 && ce.Key == "" {
			t.Fatalf("message names neither a line nor a key: %v", e)
		}
	}
}

func FuzzValidPathName(f *testing.F) {
	for _, s := range []string{"cam1", "site/door", "a//b", "/a", "a/", "..", "a/./b", "api", "API/x", "cams/{name}", "é", "a b", strings.Repeat("x", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidPathName(name)
		if err != nil {
			if !strings.Contains(err.Error(), "expected") {
				t.Fatalf("message does not say what was expected: %v", err)
			}
			return
		}
		if name == "" || len(name) > MaxPathNameLen || strings.Contains(name, "//") ||
			strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.ContainsAny(name, "{}% ?#") {
			t.Fatalf("accepted bad name %q", name)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment", name)
			}
		}
		// A valid request name can be configured and is found again.
		yml := "paths:\n  " + strconv.Quote(name) + ":\n    source: demo\n"
		cfg, perr := ParseConfig("f.yml", []byte(yml), nil)
		if perr != nil {
			t.Fatalf("valid name %q cannot be configured: %v", name, perr)
		}
		p, ok := cfg.MatchPath(name)
		if !ok || p.Name != name {
			t.Fatalf("MatchPath(%q) = %v, %t", name, p, ok)
		}
		// And a pattern of the same shape matches it.
		segs := strings.Split(name, "/")
		phs := make([]string, len(segs))
		for i := range segs {
			phs[i] = "{p" + strconv.Itoa(i) + "}"
		}
		pattern := strings.Join(phs, "/")
		if len(pattern) <= MaxPathNameLen && !isReservedFirst(pattern) {
			yml = "paths:\n  " + strconv.Quote(pattern) + ":\n    source: rtsp://h/" + strings.Join(phs, "/") + "\n"
			cfg, perr = ParseConfig("f.yml", []byte(yml), nil)
			if perr != nil {
				t.Fatalf("pattern %q: %v", pattern, perr)
			}
			if p, ok := cfg.MatchPath(name); !ok || p.Source != "rtsp://h/"+name {
				t.Fatalf("pattern %q does not match %q: %v", pattern, name, p)
			}
		}
	})
}

func isReservedFirst(name string) bool {
	first, _, _ := strings.Cut(name, "/")
	for _, r := range reservedNames {
		if strings.EqualFold(first, r) {
			return true
		}
	}
	return false
}
