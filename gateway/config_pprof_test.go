package gateway

import "testing"

// TestHTTPPprofKey checks http.pprof: off by default, on from the file or
// the environment, refused when it is not a boolean.
func TestHTTPPprofKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		yml  string
		env  []string
		want bool
	}{
		{"default", "", nil, false},
		{"file", "http:\n  pprof: true\n", nil, true},
		{"env", "", []string{"STREAMGATE_HTTP_PPROF=true"}, true},
		{"env over file", "http:\n  pprof: true\n", []string{"STREAMGATE_HTTP_PPROF=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.yml, tc.env...).HTTP.Pprof; got != tc.want {
				t.Fatalf("http.pprof = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := ParseConfig("streamgate.yml", []byte("http:\n  pprof: often\n"), nil); err == nil {
		t.Fatal("http.pprof: often was accepted")
	}
}
