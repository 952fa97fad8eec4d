package gateway

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// redactedMark replaces passwords in Redacted and String.
const redactedMark = "***"

// Redacted returns a copy of c with passwords, password hashes, digestHA1
// values and the passwords in source URLs replaced by "***"
// (rtsp://user:***@host/…), for logs.
func (c *Config) Redacted() *Config {
	n := c.Clone()
	if n.WebRTC.ICECredential != "" {
		n.WebRTC.ICECredential = "***"
	}
	if n.WebRTC.ICESecret != "" {
		n.WebRTC.ICESecret = "***"
	}
	n.Auth.redact()
	redactPath(&n.PathDefaults)
	for _, p := range n.Paths {
		if p != nil {
			redactPath(p)
		}
	}
	return n
}

func redactPath(p *PathConfig) {
	if p.ReadPass != "" {
		p.ReadPass = redactedMark
	}
	if p.PublishPass != "" {
		p.PublishPass = redactedMark
	}
	p.Source = redactURL(p.Source)
}

// redactURL masks the password of a URL's user info. It errs on the side
// of masking: anything between "user:" and the last "@" before the query
// goes.
func redactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := len(rest)
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		end = j
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	return s[:i+3] + user + ":" + redactedMark + rest[at:]
}

// String returns the config as YAML with secrets masked (see Redacted).
func (c *Config) String() string {
	b, err := c.Redacted().MarshalYAML()
	if err != nil {
		return "<config: " + err.Error() + ">"
	}
	return string(b)
}

// MarshalYAML returns c as a config file that ParseConfig reads back to
// the same Config: every key of the sections, auth and pathDefaults, and
// for each path its source plus the keys that differ from pathDefaults.
// Secrets are included; use String for logs.
func (c *Config) MarshalYAML() ([]byte, error) {
	// Written by hand rather than with yaml.Marshal: every string is double
	// quoted, so no value can change type or lose whitespace on the way back.
	var b strings.Builder
	section := func(name string, fields []sectionField) {
		b.WriteString(name + ":\n")
		for _, f := range fields {
			b.WriteString("  " + f.key + ": " + yamlValue(f.ptr(c)) + "\n")
		}
	}
	for _, sec := range sections {
		section(sec.name, sec.fields)
	}
	c.marshalAuth(&b)
	defaults := c.PathDefaults
	b.WriteString("pathDefaults:\n")
	for _, f := range pathFields {
		b.WriteString("  " + f.key + ": " + yamlValue(f.ptr(&defaults)) + "\n")
	}
	b.WriteString("paths:\n")
	for _, name := range c.PathOrder {
		p := c.Paths[name]
		if p == nil {
			continue
		}
		cp := *p
		b.WriteString("  " + yamlQuote(name) + ":\n")
		for _, f := range pathFields {
			v := f.ptr(&cp)
			if f.key == "source" || !reflect.DeepEqual(v, f.ptr(&defaults)) {
				b.WriteString("    " + f.key + ": " + yamlValue(v) + "\n")
			}
		}
	}
	return []byte(b.String()), nil
}

func yamlValue(ptr any) string {
	switch v := ptr.(type) {
	case *string:
		return yamlQuote(*v)
	case *bool:
		return strconv.FormatBool(*v)
	case *int:
		return strconv.Itoa(*v)
	case *int64:
		return strconv.FormatInt(*v, 10)
	case *time.Duration:
		return yamlQuote(v.String())
	case *[]string:
		items := make([]string, len(*v))
		for i, s := range *v {
			items[i] = yamlQuote(s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return `""`
}

// yamlQuote returns s as a YAML double-quoted scalar.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError:
			b.WriteString(`\uFFFD`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
