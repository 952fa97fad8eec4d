package webrtc

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	video = pwebrtc.RTPCodecTypeVideo
	audio = pwebrtc.RTPCodecTypeAudio
)

func TestWHEPPlayback(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, 2*clipFPS) // 2 s GOP
	src := publishClip(t, h, "cam", clip, true)
	src.live(2 * time.Second)
	baseline := runtime.NumGoroutine()

	c := newWHEPClient(t, base, video, audio)
	start := time.Now()
	resp := c.post("/cam/whep")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, contentSDP, resp.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(c.location, "/cam/whep/"), c.location)
	assert.NotEmpty(t, c.etag)

	au, at := c.waitFirstAU()
	assert.True(t, h264.IsRandomAccess(au), "the first frame is not a keyframe")
	t.Logf("POST to first keyframe packet (2 s GOP, cached burst): %v", at.Sub(start))

	eventually(t, "video and audio packets", func() bool {
		return c.videoPkts.Load() >= 200 && c.audioPkts.Load() >= 25
	})
	st, ok := s.Status("cam")
	require.True(t, ok)
	assert.Equal(t, 1, st.Viewers)
	require.Len(t, st.Tracks, 2)
	assert.Equal(t, "H264", st.Tracks[0].Codec)
	assert.Equal(t, "Opus", st.Tracks[1].Codec)
	// Every packet the client got was counted, with its 12-byte header at least.
	assert.GreaterOrEqual(t, st.BytesSent, 12*uint64(c.videoPkts.Load()+c.audioPkts.Load()))
	first := st.BytesSent
	eventually(t, "bytes sent to grow", func() bool {
		st, _ := s.Status("cam")
		return st.BytesSent > first
	})

	resp, _ = request(t, http.MethodDelete, base+c.location, "", "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = request(t, http.MethodDelete, base+c.location, "", "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	st, _ = s.Status("cam")
	assert.Equal(t, 0, st.Viewers)
	// The closed session's bytes stay in the path's total.
	assert.Greater(t, st.BytesSent, first)

	c.close()
	waitGoroutines(t, baseline)
}

func TestWHEPVideoOnlyAACLeftOut(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	src := publishAAC(t, h, "aaccam", clip)
	src.live(time.Second)

	c := newWHEPClient(t, base, video, audio)
	require.Equal(t, http.StatusCreated, c.post("/aaccam/whep").StatusCode)
	au, _ := c.waitFirstAU()
	assert.True(t, h264.IsRandomAccess(au))
	st, ok := s.Status("aaccam")
	require.True(t, ok)
	require.Len(t, st.Tracks, 1)
	require.Len(t, st.LeftOut, 1)
	assert.Equal(t, "AAC", st.LeftOut[0].Codec)
	assert.Equal(t, reasonAAC, st.LeftOut[0].Reason)
	assert.Zero(t, c.audioPkts.Load())
}

func TestWHEPTrickleAndOptions(t *testing.T) {
	h := newTestHub(t)
	_, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "site/door", clip, false).live(time.Second)

	resp, _ := request(t, http.MethodOptions, base+"/site/door/whep", "", "", nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, contentSDP, resp.Header.Get("Accept-Post"))

	c := newWHEPClient(t, base, video)
	require.Equal(t, http.StatusCreated, c.post("/site/door/whep").StatusCode)
	require.True(t, strings.HasPrefix(c.location, "/site/door/whep/"))
	frag := "a=ice-ufrag:" + sdpValue(c.pc.LocalDescription().SDP, "a=ice-ufrag:") + "\r\n" +
		"a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"

	tests := []struct {
		name   string
		header http.Header
		ctype  string
		body   string
		want   int
	}{
		{"wrong ETag", http.Header{"If-Match": {`"nope"`}}, contentTrickle, frag, http.StatusPreconditionFailed},
		{"wrong content type", nil, "text/plain", frag, http.StatusUnsupportedMediaType},
		{"ICE restart", nil, contentTrickle, "a=ice-ufrag:other\r\na=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx\r\n", http.StatusUnprocessableEntity},
		{"candidate", http.Header{"If-Match": {c.etag}}, contentTrickle, frag, http.StatusNoContent},
		{"end of candidates", nil, contentTrickle, "a=end-of-candidates\r\n", http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := request(t, http.MethodPatch, base+c.location, tc.ctype, tc.body, tc.header)
			assert.Equal(t, tc.want, resp.StatusCode, body)
		})
	}
	_, _ = c.waitFirstAU()
	resp, _ = request(t, http.MethodPatch, base+"/site/door/whep/unknown", contentTrickle, frag, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestWHEPBadInput(t *testing.T) {
	h := newTestHub(t)
	_, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "cam", clip, true).live(time.Second)

	// A viewer that must keep playing while bad requests come in.
	good := newWHEPClient(t, base, video, audio)
	require.Equal(t, http.StatusCreated, good.post("/cam/whep").StatusCode)
	_, _ = good.waitFirstAU()
	before := good.videoPkts.Load()

	offer := newWHEPClient(t, base, video).offer()
	vp8 := vp8OnlyOffer(t)
	tests := []struct {
		name     string
		method   string
		url      string
		ctype    string
		body     string
		want     int
		contains []string
	}{
		{"malformed SDP", http.MethodPost, "/cam/whep", contentSDP, "v=0\r\nthis is not sdp\r\n", http.StatusBadRequest, nil},
		{"no media", http.MethodPost, "/cam/whep", contentSDP, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", http.StatusBadRequest, nil},
		{"no usable codec", http.MethodPost, "/cam/whep", contentSDP, vp8, http.StatusNotAcceptable, []string{"H264", "Opus", "VP8"}},
		{"too large", http.MethodPost, "/cam/whep", contentSDP, strings.Repeat("a", 1<<20), http.StatusRequestEntityTooLarge, nil},
		{"unknown path", http.MethodPost, "/missing/whep", contentSDP, offer, http.StatusNotFound, nil},
		{"no stream", http.MethodPost, "/idle/whep", contentSDP, offer, http.StatusNotFound, nil},
		{"wrong content type", http.MethodPost, "/cam/whep", "text/plain", offer, http.StatusUnsupportedMediaType, nil},
		{"GET", http.MethodGet, "/cam/whep", "", "", http.StatusMethodNotAllowed, nil},
		{"DELETE unknown", http.MethodDelete, "/cam/whep/0123", "", "", http.StatusNotFound, nil},
		{"DELETE other path", http.MethodDelete, "/other" + strings.TrimPrefix(good.location, "/cam"), "", "", http.StatusNotFound, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := request(t, tc.method, base+tc.url, tc.ctype, tc.body, nil)
			assert.Equal(t, tc.want, resp.StatusCode, body)
			for _, c := range tc.contains {
				assert.Contains(t, body, c)
			}
		})
	}
	eventually(t, "the good viewer's packet count to rise", func() bool {
		return good.videoPkts.Load() > before+50
	})
}

// vp8OnlyOffer is a browser-like offer that receives VP8 video only.
func vp8OnlyOffer(t *testing.T) string {
	me := &pwebrtc.MediaEngine{}
	require.NoError(t, me.RegisterCodec(pwebrtc.RTPCodecParameters{
		RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96,
	}, pwebrtc.RTPCodecTypeVideo))
	pc, err := pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me)).NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.AddTransceiverFromKind(video, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	return offer.SDP
}

func TestServerCloseEndsSessions(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "cam", clip, false).live(time.Second)
	c := newWHEPClient(t, base, video)
	require.Equal(t, http.StatusCreated, c.post("/cam/whep").StatusCode)
	_, _ = c.waitFirstAU()

	s.Close()
	s.Close() // idempotent
	st, _ := s.Status("cam")
	assert.Equal(t, 0, st.Viewers)
	resp, _ := request(t, http.MethodPost, base+"/cam/whep", contentSDP, newWHEPClient(t, base, video).offer(), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestWHEPStreamEndEndsSession(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	src := publishClip(t, h, "cam", clip, false)
	stop := src.live(time.Second)
	c := newWHEPClient(t, base, video)
	require.Equal(t, http.StatusCreated, c.post("/cam/whep").StatusCode)
	_, _ = c.waitFirstAU()

	stop()
	src.close()
	eventually(t, "the session to end with the stream", func() bool {
		st, _ := s.Status("cam")
		return st.Viewers == 0
	})
	st, _ := s.Status("cam")
	assert.NotZero(t, st.BytesSent, "the ended session's bytes are kept")
	resp, _ := request(t, http.MethodDelete, base+c.location, "", "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
