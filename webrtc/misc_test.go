package webrtc

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1.
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTURNRESTCredentials(t *testing.T) {
	now := time.Unix(1700000000, 0)
	is := ICEServer{URLs: []string{"turn:turn.example.net:3478"}, Secret: "s3cret", TTL: time.Hour}
	user, cred := is.credentials(now)
	assert.Equal(t, "1700003600:streamgate", user)
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(user))
	assert.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), cred)

	links := linkHeaders([]ICEServer{{URLs: []string{"stun:stun.example.net"}}, is}, now)
	require.Len(t, links, 2)
	assert.Equal(t, `<stun:stun.example.net>; rel="ice-server"`, links[0])
	assert.Equal(t, `<turn:turn.example.net:3478>; rel="ice-server"; username="`+user+`"; credential="`+cred+`"; credential-type="password"`, links[1])

	tests := []struct {
		name string
		is   ICEServer
	}{
		{"no URL", ICEServer{}},
		{"bad scheme", ICEServer{URLs: []string{"http://x"}}},
		{"secret and password", ICEServer{URLs: []string{"turn:x"}, Secret: "a", Username: "u"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Error(t, tc.is.validate())
		})
	}
}

func TestLinkHeadersInAnswer(t *testing.T) {
	h := newTestHub(t)
	s := &Server{Paths: h, Address: "127.0.0.1:0", DisableMDNS: true, Logger: discardLogger(),
		ICEServers: []ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}}
	require.NoError(t, s.Start())
	defer s.Close()
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "cam", clip, false).advance(time.Second)
	c := newWHEPClient(t, "", video)
	req := httptestRequest(t, http.MethodPost, "/cam/whep", contentSDP, c.offer())
	rec := newRecorder()
	s.ServeWHEP(rec, req, "cam", "")
	require.Equal(t, http.StatusCreated, rec.code, rec.body.String())
	assert.Equal(t, []string{`<stun:127.0.0.1:3478>; rel="ice-server"`}, rec.header.Values("Link"))
}

func TestSharedPortNumber(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		t.Run(addr, func(t *testing.T) {
			s := &Server{Paths: newTestHub(t), Address: addr, DisableMDNS: true, Logger: discardLogger()}
			require.NoError(t, s.Start())
			defer s.Close()
			udp, tcp := s.Addr()
			require.NotNil(t, udp)
			assert.NotZero(t, udp.(*net.UDPAddr).Port)
			assert.Equal(t, udp.(*net.UDPAddr).Port, tcp.(*net.TCPAddr).Port)
		})
	}
}

// A viewer's PLI makes the server replay the current group of pictures.
func TestPLIReplaysGOP(t *testing.T) {
	h := newTestHub(t)
	_, base := newTestServer(t, h)
	clip := clips.Get(t, 4*clipFPS) // 4 s GOP: no camera keyframe during the test
	publishClip(t, h, "cam", clip, false).live(time.Second)

	var mu sync.Mutex
	maxSeen := -1
	var replayed atomic.Int64
	c := newWHEPClient(t, base, video)
	c.onVideo = func(pkt *rtp.Packet, _ time.Time) {
		i, ok := frameIndex(pkt.Payload)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if i <= maxSeen {
			replayed.Add(1)
		}
		maxSeen = max(maxSeen, i)
	}
	require.Equal(t, http.StatusCreated, c.post("/cam/whep").StatusCode)
	_, _ = c.waitFirstAU()
	eventually(t, "a few live frames", func() bool { return c.videoPkts.Load() > 60 })
	require.Zero(t, replayed.Load())
	require.NoError(t, c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: c.videoSSRC.Load()}}))
	eventually(t, "the replayed frames", func() bool { return replayed.Load() >= 25 })
}

// B-frames (presentation times going backwards) are reported once in Status.
func TestBFramesWarning(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	src := publishClip(t, h, "cam", clip, false)
	src.advance(time.Second)
	c := newWHEPClient(t, base, video)
	require.Equal(t, http.StatusCreated, c.post("/cam/whep").StatusCode)
	_, _ = c.waitFirstAU()
	// Two frames in decode order I P B: the second one is shown earlier.
	src.vi += 2
	src.writeVideo()
	src.vi -= 2
	src.writeVideo()
	eventually(t, "the B-frame warning", func() bool {
		st, _ := s.Status("cam")
		return len(st.Warnings) == 1 && strings.Contains(st.Warnings[0], "B-frames")
	})
}
