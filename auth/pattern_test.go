package auth

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"", "cams/a", true},
		{"", "", true},
		{"*", "a/b/c", true},
		{"**", "a", true},
		{"cams/*", "cams/a", true},
		{"cams/*", "cams/a/b", false},
		{"cams/*", "cams", false},
		{"cams/*", "CAMS/a", false},
		{"cams/*", "camsx/a", false},
		{"cams/*", "", false},
		{"cams/**", "cams/a", true},
		{"cams/**", "cams/a/b/c", true},
		{"cams/**", "cams", false},
		{"cams/**", "other/a", false},
		{"cams/*/hd", "cams/a/hd", true},
		{"cams/*/hd", "cams/a/sd", false},
		{"cams/*/hd", "cams/a/b/hd", false},
		{"cam*", "cam", true},
		{"cam*", "cam12", true},
		{"cam*", "cam1/x", false},
		{"*-hd/live", "door-hd/live", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"door", "door", true},
		{"door", "Door", false},
		{"door", "door/x", false},
		{"site/door", "site/door", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" ~ "+tc.name, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.match(tc.name))
		})
	}
}

func TestPatternInvalid(t *testing.T) {
	for _, s := range []string{"/cams", "cams/", "cams//a", "cams/../a", "..", "cams\\a", "a/**/b", "a**", "**/a",
		"cam?", "cam[12]", "{a,b}", "cams/%2e", "./a", "a/./b", "a\x00"} {
		t.Run(s, func(t *testing.T) {
			_, err := compilePattern(s)
			assert.Error(t, err)
		})
	}
}

// referenceRegexp builds the regular expression a compiled pattern should
// agree with, from the documented rules.
func referenceRegexp(s string) *regexp.Regexp {
	if s == "" || s == "*" || s == "**" {
		return regexp.MustCompile(`^(?s:.*)$`)
	}
	segs := strings.Split(s, "/")
	deep := false
	if segs[len(segs)-1] == "**" {
		deep = true
		segs = segs[:len(segs)-1]
	}
	parts := make([]string, len(segs))
	for i, seg := range segs {
		parts[i] = strings.ReplaceAll(regexp.QuoteMeta(seg), `\*`, `[^/]*`)
	}
	re := strings.Join(parts, "/")
	if deep {
		re += `(?:/[^/]+)+`
	}
	return regexp.MustCompile(`^(?s:` + re + `)$`)
}

// The matcher agrees with a regular expression built from the rules, and
// never matches a name that checkName refuses (Authorize never asks it to,
// but the two must not drift apart).
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"cams/*", "cams/a"}, {"cams/**", "cams/a/b"}, {"cam*", "cam1"}, {"a*b*c", "aXbYc"},
		{"", "x"}, {"*", "a/b"}, {"cams/*", "cams/../a"}, {"x/*/y", "x//y"}, {"cams/*", "CAMS/a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		p, err := compilePattern(pat)
		if err != nil {
			return
		}
		if checkName(name) != nil {
			return
		}
		got := p.match(name)
		want := referenceRegexp(pat).MatchString(name)
		if got != want {
			t.Fatalf("pattern %q name %q: match %v, reference %v", pat, name, got, want)
		}
		if got && !p.all && name == "" {
			t.Fatalf("pattern %q matched the empty name", pat)
		}
	})
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"cams/a", "a/../b", "a//b", "/a", "a/", "a\\b", "a%2fb", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		for _, bad := range []string{"..", "//", "\\", "%"} {
			if strings.Contains(name, bad) {
				t.Fatalf("accepted %q containing %q", name, bad)
			}
		}
		if name != "" && (name[0] == '/' || name[len(name)-1] == '/') {
			t.Fatalf("accepted %q with a leading or trailing slash", name)
		}
	})
}
