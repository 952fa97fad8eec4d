package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseTarget checks that no request path yields a name or file a
// traversal or an ambiguity could hide in.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"/", "/cam1/", "/cam1", "/site/door/index.m3u8", "/a/../b/", "/%2e%2e/",
		"//x/", "/site%2Fdoor/", "/api/v1/x", "/API/", `/a\b/`, "/a%00/", "/x.m3u8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		tg := parseTarget(u.EscapedPath(), u.Path)
		switch tg.kind {
		case targetPlayer, targetBare, targetMedia:
		default:
			if tg.path != "" || tg.file != "" {
				t.Fatalf("%q: kind %d with path %q file %q", raw, tg.kind, tg.path, tg.file)
			}
			return
		}
		if !validPathName(tg.path) {
			t.Fatalf("%q: invalid path name %q", raw, tg.path)
		}
		for _, seg := range strings.Split(tg.path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: dot segment in %q", raw, tg.path)
			}
		}
		first, _, _ := strings.Cut(tg.path, "/")
		for _, r := range reservedNames {
			if strings.EqualFold(first, r) {
				t.Fatalf("%q: reserved first segment in %q", raw, tg.path)
			}
		}
		if tg.kind == targetMedia && (!validSegment(tg.file) || !strings.Contains(tg.file, ".")) {
			t.Fatalf("%q: bad file %q", raw, tg.file)
		}
		if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
			t.Fatalf("%q: encoded slash accepted", raw)
		}
	})
}
