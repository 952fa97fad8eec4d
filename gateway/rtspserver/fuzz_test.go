package rtspserver

import (
	"strings"
	"testing"
)

func TestPathName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/cam1", "cam1"},
		{"/cam1/", "cam1"},
		{"/cam1/trackID=0", "cam1"},
		{"/a/b/c/trackID=12", "a/b/c"},
		{"cam1", "cam1"},
		{"/", ""},
		{"//cam1", "cam1"},
		{"/cam1/trackID=0/trackID=1", "cam1"},
		{"/cam1/trackID=0/", "cam1"},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := pathName(tc.in); got != tc.want {
				t.Fatalf("pathName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzPathName checks that any request path gives a name without a leading
// slash and without a track suffix, and never panics.
func FuzzPathName(f *testing.F) {
	for _, s := range []string{
		"", "/", "//", "/cam1", "/cam1/", "/cam1/trackID=0", "/a/b/trackID=1/",
		"/trackID=0", "//trackID=0/trackID=1", "/cam/trackID=", "/trackID=/trackID=",
		"/x//", "/%2Ftrack", "/cam1/trackID=0?x=/trackID=1", "/\x00/trackID=9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := pathName(in)
		if strings.HasPrefix(got, "/") {
			t.Fatalf("pathName(%q) = %q has a leading slash", in, got)
		}
		if i := strings.LastIndex(got, "/trackID="); i >= 0 && !strings.Contains(got[i+1:], "/") {
			t.Fatalf("pathName(%q) = %q keeps a track suffix", in, got)
		}
	})
}
