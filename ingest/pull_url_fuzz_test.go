package ingest

import (
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// FuzzMaskURL checks that masking a source URL never panics and never lets
// the password of a parsable URL through to the logs.
func FuzzMaskURL(f *testing.F) {
	for _, s := range []string{
		"rtsp://user:secretpass@10.0.0.1:554/stream1",
		"rtsps://admin:p%40ss@cam.local/live?channel=1",
		"rtsp://cam/path",
		"rtsp://user@host",
		"rtsp://a:b@c@d/e",
		"rtsp//broken",
		"http://x:y@z",
		"rtsp://[::1]:8554/x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		masked := maskURL(raw)
		u, err := base.ParseURL(raw)
		if err != nil || u.User == nil {
			return
		}
		pass, ok := u.User.Password()
		if !ok || len(pass) < 8 {
			return // short passwords can occur in the rest of the URL by chance
		}
		if strings.Contains(masked, pass) {
			t.Fatalf("maskURL(%q) = %q still holds the password", raw, masked)
		}
		if got := redact("dial "+raw+": refused", urlSecrets(u)); strings.Contains(got, pass) {
			t.Fatalf("redact left the password in %q", got)
		}
	})
}
