package gateway

import (
	"testing"
	"time"
)

// TestLimitKeys checks the defaults of the limit keys and that each refuses
// a value out of its range with file, line and key.
func TestLimitKeys(t *testing.T) {
	c, err := ParseConfig("streamgate.yml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RTSP.MaxSessions != 1000 || c.WebRTC.MaxSessions != 500 || c.WebRTC.MaxOfferBytes != 65536 ||
		c.WebRTC.OffersPerSecond != 10 || c.HTTP.MaxHeaderBytes != 65536 || c.HTTP.IdleTimeout != 2*time.Minute {
		t.Errorf("limit defaults: rtsp %+v http %+v webrtc %+v", c.RTSP, c.HTTP, c.WebRTC)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"negative rtsp sessions", "rtsp:\n  maxSessions: -1\n",
			`streamgate.yml:2: rtsp.maxSessions: negative value -1: expected 0 (unlimited) or more`},
		{"negative webrtc sessions", "webrtc:\n  maxSessions: -1\n",
			`streamgate.yml:2: webrtc.maxSessions: negative value -1: expected 0 (unlimited) or more`},
		{"negative offer rate", "webrtc:\n  offersPerSecond: -3\n",
			`streamgate.yml:2: webrtc.offersPerSecond: negative value -3: expected 0 (unlimited) or more`},
		{"tiny offer", "webrtc:\n  maxOfferBytes: 10\n",
			`streamgate.yml:2: webrtc.maxOfferBytes: invalid size 10: expected bytes from 1024 to 16777216`},
		{"huge headers", "http:\n  maxHeaderBytes: 100000000\n",
			`streamgate.yml:2: http.maxHeaderBytes: invalid size 100000000: expected bytes from 1024 to 16777216`},
		{"zero idle timeout", "http:\n  idleTimeout: 0s\n",
			`streamgate.yml:2: http.idleTimeout: duration 0s is not positive: expected a duration like "10s", "500ms" or "2m"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("streamgate.yml", []byte(tc.yaml), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestReservedSegments: a path named "cam/whep" could never be reached over
// HTTP ("/cam/whep" is cam's WHEP endpoint), so the config refuses it.
func TestReservedSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"whep", true}, {"cam/whep", false}, {"cam/whip", false}, {"a/whip/b", false},
		{"cam/WHEP", true}, {"cam/whepx", true}, {"cam/index.m3u8", true},
	} {
		if err := ValidPathName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidPathName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	_, err := ParseConfig("streamgate.yml", []byte("paths:\n  cam/whep:\n    source: publisher\n"), nil)
	want := `streamgate.yml:2: paths.cam/whep: path name "cam/whep" has the segment "whep", reserved after the first for WebRTC: expected another name`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
