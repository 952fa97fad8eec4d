package gateway

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EnvPrefix starts every environment variable that overrides a config key:
// STREAMGATE_ + the key path, each key uppercased, joined by "_"
// (STREAMGATE_RTSP_RTPADDRESS, STREAMGATE_PATHS_CAM1_SOURCE).
const EnvPrefix = "STREAMGATE_"

// applyEnv applies the STREAMGATE_* entries of env, in sorted order so the
// result does not depend on the order of os.Environ.
func (l *loader) applyEnv(env []string) {
	type kv struct{ k, v string }
	var vars []kv
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, EnvPrefix) {
			vars = append(vars, kv{k, v})
		}
	}
	sort.SliceStable(vars, func(i, j int) bool { return vars[i].k < vars[j].k })
	for _, e := range vars {
		l.applyEnvVar(e.k, e.v)
	}
}

func (l *loader) applyEnvVar(name, val string) {
	p := pos{env: name}
	rest := strings.TrimPrefix(name, EnvPrefix)
	section, key, _ := strings.Cut(rest, "_")
	if sec, ok := findSection(strings.ToLower(section)); ok {
		for _, f := range sec.fields {
			if strings.ToUpper(f.key) == key {
				full := join(sec.name, f.key)
				if l.envValue(val, full, p, f.ptr(l.cfg)) {
					l.prov[full] = p
				}
				return
			}
		}
	}
	switch section {
	case "AUTH":
		l.errorf("", p, "the auth section cannot be set from the environment: expected users, permissions and JWT settings in the config file")
		return
	case "PATHDEFAULTS":
		if f, ok := findPathFieldUpper(key); ok {
			full := join("pathDefaults", f.key)
			if l.envValue(val, full, p, f.ptr(&l.cfg.PathDefaults)) {
				l.prov[full] = p
			}
			return
		}
	case "PATHS":
		i := strings.LastIndexByte(key, '_')
		if i > 0 {
			if f, ok := findPathFieldUpper(key[i+1:]); ok {
				l.applyEnvPath(name, key[:i], f, val)
				return
			}
		}
		l.errorf("", p, "unknown variable: expected %sPATHS_<NAME>_<KEY> with KEY one of %s", EnvPrefix, strings.ToUpper(strings.Join(pathKeys(), ", ")))
		return
	}
	l.errorf("", p, "unknown variable: expected %s<SECTION>_<KEY> naming a config key, such as %sRTSP_ADDRESS", EnvPrefix, EnvPrefix)
}

func findPathFieldUpper(key string) (pathField, bool) {
	for _, f := range pathFields {
		if strings.ToUpper(f.key) == key {
			return f, true
		}
	}
	return pathField{}, false
}

// applyEnvPath sets one key of the path envName (matched case-insensitively
// against the paths in the file, else created lowercased).
func (l *loader) applyEnvPath(varName, envName string, f pathField, val string) {
	p := pos{env: varName}
	for _, r := range envName {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			l.errorf("", p, "path name %s cannot be set from the environment: expected a name of letters, digits, _ and -", quoteShort(envName))
			return
		}
	}
	var found []string
	for _, name := range l.order {
		if strings.EqualFold(name, envName) {
			found = append(found, name)
		}
	}
	var name string
	switch len(found) {
	case 0:
		name = strings.ToLower(envName)
		l.raw[name] = &rawPath{set: map[string]bool{}}
		l.order = append(l.order, name)
		l.prov[join("paths", name)] = p
	case 1:
		name = found[0]
	default:
		l.errorf("", p, "matches paths %s: expected a name that matches one path (names differ only in case)", strings.Join(found, " and "))
		return
	}
	rp := l.raw[name]
	full := join(join("paths", name), f.key)
	if l.envValue(val, full, p, f.ptr(&rp.p)) {
		rp.set[f.key] = true
		l.prov[full] = p
	}
}

// envValue parses val into ptr, like value does for YAML nodes.
func (l *loader) envValue(val, key string, p pos, ptr any) bool {
	if !utf8.ValidString(val) {
		l.errorf(key, p, "invalid UTF-8 in %s: expected text", quoteShort(val))
		return false
	}
	switch dst := ptr.(type) {
	case *string:
		*dst = val
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			l.errorf(key, p, "invalid boolean %s: expected true or false", quoteShort(val))
			return false
		}
		*dst = b
	case *int:
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 32)
		if err != nil {
			l.errorf(key, p, "invalid integer %s: expected an integer", quoteShort(val))
			return false
		}
		*dst = int(n)
	case *int64:
		n, err := parseSize(val)
		if err != nil {
			l.errorf(key, p, "%v", err)
			return false
		}
		*dst = n
	case *time.Duration:
		d, msg := parseDuration(val)
		if msg != "" {
			l.errorf(key, p, "%s", msg)
			return false
		}
		*dst = d
	case *[]string:
		out := []string{}
		for _, item := range strings.Split(val, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*dst = out
	}
	return true
}
