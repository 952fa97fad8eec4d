package gateway

import "strings"

// resolve merges pathDefaults into every raw path and returns the final
// config. Inherited values that cannot apply are neutralised here, so that
// validation only fails on what a path sets itself: an onDemand inherited
// by a non-URL source becomes false, and a pattern path with a URL source
// is on-demand unless it says otherwise.
func (l *loader) resolve() *Config {
	c := l.cfg
	if fp, ok := normalizeFingerprint(c.PathDefaults.SourceFingerprint); ok {
		c.PathDefaults.SourceFingerprint = fp
	}
	for _, name := range l.order {
		rp := l.raw[name]
		eff := c.PathDefaults
		eff.Name = name
		eff.Pattern = strings.ContainsAny(name, "{}")
		for _, f := range pathFields {
			if rp.set[f.key] {
				copyField(f.ptr(&eff), f.ptr(&rp.p))
			}
		}
		// The path called demo plays the demo clip unless it names a source.
		if name == DemoPathName && !rp.set["source"] {
			eff.Source = SourceDemo
		}
		if !rp.set["onDemand"] {
			switch {
			case !eff.Pulled():
				eff.OnDemand = false
			case eff.Pattern:
				eff.OnDemand = true
			}
		}
		if fp, ok := normalizeFingerprint(eff.SourceFingerprint); ok {
			eff.SourceFingerprint = fp
		}
		c.Paths[name] = &eff
		c.PathOrder = append(c.PathOrder, name)
	}
	if len(c.Paths) == 0 {
		c.addDemoPath()
	}
	return c
}

// normalizeFingerprint returns the fingerprint as 64 lowercase hex digits
// without colons; ok is false when it is not a SHA-256 fingerprint. ""
// stays "" and is ok.
func normalizeFingerprint(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	s = strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(s) != 64 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return "", false
		}
	}
	return s, true
}
