package gateway_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Security probes: requests that try to get past authentication or out of
// a path by spelling a URL differently. Each must get a clean refusal
// (status asserted), no media, playlist, answer or API data, and a reader
// of the same gateway keeps receiving throughout.

// leaked reports authorised content in a response body: a playlist, an
// SDP (RTSP DESCRIBE or WHEP answer) or the API's path list.
func leaked(body string) bool {
	return strings.Contains(body, "#EXTM3U") || strings.Contains(body, "v=0") ||
		strings.Contains(body, `"items"`) || strings.Contains(body, "root:")
}

// rawHTTP sends one request line exactly as written (no client-side
// cleaning of the path) and returns the status and body.
func rawHTTP(t *testing.T, addr, method, target string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(15*time.Second)))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	_, err = io.WriteString(nc, b.String())
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	require.NoError(t, err, "%s %s", method, target)
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// rawRTSP sends one request with the URL exactly as written; code is 0
// when the server closed the connection without answering.
func rawRTSP(t *testing.T, host, method, url string, hdr map[string]string) (code int, body string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", host, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(15*time.Second)))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: 1\r\n", method, url)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	_, err = io.WriteString(nc, b.String())
	require.NoError(t, err)
	var res base.Response
	if err := res.Unmarshal(bufio.NewReader(nc)); err != nil {
		ne, ok := err.(net.Error)
		require.False(t, ok && ne.Timeout(), "the server neither answered nor closed")
		return 0, ""
	}
	return int(res.StatusCode), string(res.Body)
}

func basicAuth(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func TestSecurityProbes(t *testing.T) {
	ctx := e2eCtx(t)
	jwks := newTestJWKS(t)
	g := startGateway(t, authConfigYAML(t, jwks.url, "{delay: 0}"))
	watcher := mustReader(t, "rtsp://viewer:viewer-pw@"+g.host+"/demo", gortsplib.ProtocolTCP)
	watcher.waitPackets(t, ctx, 1)
	addr := g.HTTPAddr().String()
	viewer := basicAuth("viewer", "viewer-pw") // may read demo only
	nobody := basicAuth("nobody", "nobody-pw") // may read "elsewhere" only
	refused := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed}

	t.Run("HTTP", func(t *testing.T) {
		for _, tc := range []struct {
			method, target string
			hdr            map[string]string
			want           []int // any of these; nil means refused
		}{
			// Authentication bypass: another spelling of a path nobody may read.
			{"GET", "/demo/index.m3u8", nil, []int{401}},
			{"GET", "/DEMO/index.m3u8", nil, nil},
			{"GET", "/Demo/index.m3u8", nobody, nil},
			{"GET", "/%64emo/index.m3u8", nil, []int{401}},
			{"GET", "/%64emo/index.m3u8", nobody, []int{403}},
			{"GET", "//demo/index.m3u8", nil, []int{400}},
			{"GET", "/demo//index.m3u8", nil, []int{400}},
			{"GET", "/./demo/index.m3u8", nil, []int{400}},
			{"GET", "/elsewhere/../demo/index.m3u8", nobody, []int{400}},
			{"GET", "/elsewhere/%2e%2e/demo/index.m3u8", nobody, []int{400}},
			{"GET", "/elsewhere%2F..%2Fdemo/index.m3u8", nobody, []int{400}},
			{"GET", "/demo./index.m3u8", nobody, nil},
			{"GET", "/demo%20/index.m3u8", nobody, nil},
			{"GET", "/demo%00/index.m3u8", nobody, []int{400}},
			{"GET", "/demo/index.m3u8.", nobody, nil},
			{"GET", "/demo/INDEX.M3U8", nobody, nil},
			{"GET", "/demo/", nil, []int{401}},
			{"GET", "/demo", nobody, []int{403}},
			// Reserved names in other spellings, and the API with no rights.
			{"GET", "/api/v1/paths", nil, []int{401}},
			{"GET", "/api/v1/paths", nobody, []int{403}},
			{"GET", "/API/v1/paths", nil, []int{404}},
			{"GET", "/Api/v1/paths", nobody, []int{404}},
			{"GET", "/api//v1/paths", nil, []int{401, 404}},
			{"GET", "/%61pi/v1/paths", nil, []int{401}},
			{"GET", "/demo/../api/v1/paths", nil, []int{400}},
			{"GET", "/api/v1/../v1/paths", nil, []int{400, 401, 404}},
			{"GET", "/metrics", nobody, []int{403}},
			{"GET", "/METRICS", nil, []int{404}},
			{"GET", "/metrics/", nil, []int{401, 404}},
			// WebRTC endpoints: in other cases, with extra slashes, as a file.
			{"POST", "/demo/whep", nil, []int{401}},
			{"POST", "/demo/whep", nobody, []int{403}},
			{"POST", "/demo/WHEP", nobody, nil},
			{"POST", "/demo/whep/", nobody, nil}, // the player page of "demo/whep": 405
			{"POST", "/demo//whep", nobody, []int{400}},
			{"POST", "/demo/whep.", nobody, nil},
			{"POST", "/demo/whip", viewer, []int{403}},
			{"DELETE", "/demo/whep/../whip", viewer, []int{400}},
			{"GET", "/demo/whep/index.m3u8", nobody, nil},
			// HLS file names that try to leave the path, by a reader of demo.
			{"GET", "/demo/../../../../etc/passwd", viewer, []int{400}},
			{"GET", "/demo/..%2f..%2fetc%2fpasswd", viewer, []int{400}},
			{"GET", "/demo/%2e%2e%2f%2e%2e%2fetc%2fpasswd", viewer, []int{400}},
			{"GET", "/demo/..%5c..%5cwin.ini", viewer, []int{400}},
			{"GET", "/demo/..\\..\\win.ini", viewer, []int{400}},
			{"GET", "/demo/.m3u8", viewer, []int{404}},
			{"GET", "/demo/passwd.m3u8", viewer, []int{404}},
			{"GET", "/demo/index.m3u8%00.mp4", viewer, []int{400}},
			{"GET", "/demo/seg%20..%20.mp4", viewer, []int{404}},
			{"GET", "/demo/" + strings.Repeat("a", 4000) + ".mp4", viewer, []int{404}},
		} {
			t.Run(tc.method+" "+tc.target, func(t *testing.T) {
				want := tc.want
				if want == nil {
					want = refused
				}
				body := ""
				if tc.method == "POST" {
					body = "v=0\r\n"
				}
				code, got := rawHTTP(t, addr, tc.method, tc.target, tc.hdr, body)
				assert.Contains(t, want, code, "%s %s: %s", tc.method, tc.target, strings.TrimSpace(got))
				assert.False(t, leaked(got), "%s %s leaked: %.200s", tc.method, tc.target, got)
			})
		}
		watcher.waitPackets(t, ctx, countPackets(watcher)+1)
	})

	t.Run("RTSP", func(t *testing.T) {
		u := "rtsp://" + g.host
		for _, tc := range []struct {
			url  string
			hdr  map[string]string
			want []int
		}{
			{u + "/demo", nil, []int{401}},
			{u + "/demo", nobody, []int{401, 403}},
			{u + "/DEMO", nobody, []int{401, 403, 404}},
			{u + "/Demo", nil, []int{401, 404}},
			{u + "/%64emo", nobody, []int{0, 400, 401, 403, 404}},
			{u + "//demo", nobody, []int{0, 400, 401, 403, 404}},
			{u + "/demo/", nobody, []int{401, 403}},
			{u + "/demo/trackID=0", nobody, []int{401, 403}},
			{u + "/elsewhere/../demo", nobody, []int{0, 400, 401, 403, 404}},
			{u + "/./demo", nobody, []int{0, 400, 401, 403, 404}},
			{u + "/demo.", nobody, []int{401, 403, 404}},
			{u + "/demo%00", nobody, []int{0, 400, 401, 403, 404}},
			{u + "/api", nil, []int{401, 404}},
		} {
			t.Run(tc.url, func(t *testing.T) {
				code, body := rawRTSP(t, g.host, "DESCRIBE", tc.url, tc.hdr)
				assert.Contains(t, tc.want, code, "DESCRIBE %s", tc.url)
				assert.False(t, leaked(body), "DESCRIBE %s leaked its SDP", tc.url)
			})
		}
		watcher.waitPackets(t, ctx, countPackets(watcher)+1)
	})
}

// TestSecurityProbesSDP posts offers and announces descriptions built to
// cost the gateway: thousands of candidates or media sections. Each gets a
// clean client error, and a reader keeps receiving.
func TestSecurityProbesSDP(t *testing.T) {
	ctx := rtcCtx(t)
	g := startGateway(t, "paths:\n  demo:\n    source: demo\n  pub:\n    source: publisher\n")
	watcher := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	watcher.waitPackets(t, ctx, 1)
	addr := g.HTTPAddr().String()

	v := newWHEPViewer(t)
	offer := rtcOffer(t, ctx, v.pc)
	candidates := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a=candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host\r\n", i, 10000+i)
		}
		return b.String()
	}
	withCands := func(n int) string {
		return strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+candidates(n), 1)
	}
	mediaLines := func(n int) string {
		var b strings.Builder
		b.WriteString("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
		for i := range n {
			fmt.Fprintf(&b, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:%d\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n", i)
		}
		return b.String()
	}
	attrLines := func(n int) string {
		return strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+strings.Repeat("a=x-filler:1\r\n", n), 1)
	}
	for _, tc := range []struct {
		name, target, body string
		want               int
	}{
		{"WHEP offer with 4000 extra attribute lines", "/demo/whep", attrLines(4000), http.StatusCreated},
		{"WHEP offer with 3000 candidates", "/demo/whep", withCands(3000), http.StatusRequestEntityTooLarge},
		{"WHEP offer with 500 candidates", "/demo/whep", withCands(500), http.StatusBadRequest},
		{"WHEP offer with 500 media sections", "/demo/whep", mediaLines(500), http.StatusBadRequest},
		{"WHIP offer with 500 candidates", "/pub/whip", strings.ReplaceAll(withCands(500), "recvonly", "sendonly"), http.StatusBadRequest},
		{"WHIP offer with 500 media sections", "/pub/whip", strings.ReplaceAll(mediaLines(500), "recvonly", "sendonly"), http.StatusBadRequest},
		{"WHIP offer with 3000 media sections", "/pub/whip", strings.ReplaceAll(mediaLines(3000), "recvonly", "sendonly"), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp rtcResponse
			if len(tc.body) > 1<<16 {
				resp = rtcPostEarlyReply(t, ctx, addr, tc.target, "application/sdp", tc.body)
			} else {
				resp = rtcRequest(t, ctx, http.MethodPost, "http://"+addr+tc.target, "application/sdp", strings.NewReader(tc.body))
			}
			assert.Equal(t, tc.want, resp.code, "%d bytes: %s", len(tc.body), strings.TrimSpace(resp.body))
			watcher.waitPackets(t, ctx, countPackets(watcher)+1)
		})
	}

	t.Run("ANNOUNCE with 1000 media sections", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "m=audio 0 RTP/AVP 0\r\na=control:trackID=%d\r\n", i)
		}
		c := dialRTSP(t, g.host)
		res := c.doBody(base.Announce, "pub", base.Header{"Content-Type": base.HeaderValue{"application/sdp"}}, []byte(b.String()))
		assert.Equal(t, base.StatusBadRequest, res.StatusCode, "%d bytes of SDP", b.Len())
		watcher.waitPackets(t, ctx, countPackets(watcher)+1)
	})
}

// TestSecurityProbesInterleaved sends RTP and RTCP in interleaved frames on
// channels no SETUP gave, from a publisher and from a reader: nothing
// reaches the path's readers, and they keep receiving.
func TestSecurityProbesInterleaved(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGateway(t, "paths:\n  demo:\n    source: demo\n  pub:\n    source: publisher\n")
	watcher := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	watcher.waitPackets(t, ctx, 1)
	rtpPkt := []byte{0x80, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x65, 0x88}
	frames := func(channels ...int) []byte {
		var out []byte
		for _, ch := range channels {
			out = append(out, '$', byte(ch), 0, byte(len(rtpPkt)))
			out = append(out, rtpPkt...)
		}
		return out
	}
	sessionOf := func(res *base.Response) base.Header {
		ses := strings.SplitN(res.Header["Session"][0], ";", 2)[0]
		return base.Header{"Session": base.HeaderValue{ses}}
	}

	t.Run("publisher", func(t *testing.T) {
		sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
			"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n" +
			"m=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\n"
		c := dialRTSP(t, g.host)
		res := c.doBody(base.Announce, "pub", base.Header{"Content-Type": base.HeaderValue{"application/sdp"}}, []byte(sdp))
		require.Equal(t, base.StatusOK, res.StatusCode)
		res = c.do(base.Setup, "pub/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;mode=record;interleaved=0-1"}})
		require.Equal(t, base.StatusOK, res.StatusCode)
		ses := sessionOf(res)
		res = c.do(base.Setup, "pub/trackID=1", base.Header{
			"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;mode=record;interleaved=2-3"}, "Session": ses["Session"],
		})
		require.Equal(t, base.StatusOK, res.StatusCode)
		res = c.do(base.Record, "pub", ses)
		require.Equal(t, base.StatusOK, res.StatusCode)
		reader := mustReader(t, g.url("pub"), gortsplib.ProtocolTCP)
		_, err := c.nc.Write(frames(4, 5, 9, 200, 255))
		require.NoError(t, err)
		// The session is still usable: a request after the frames is answered.
		res = c.do(base.GetParameter, "pub", ses)
		assert.Equal(t, base.StatusOK, res.StatusCode)
		v, a := reader.packets()
		assert.Empty(t, v, "video from a channel that was never set up")
		assert.Empty(t, a, "audio from a channel that was never set up")
		watcher.waitPackets(t, ctx, countPackets(watcher)+1)
	})

	t.Run("reader", func(t *testing.T) {
		c := dialRTSP(t, g.host)
		res := c.do(base.Setup, "demo/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
		require.Equal(t, base.StatusOK, res.StatusCode)
		_, err := c.nc.Write(frames(7, 100, 255))
		require.NoError(t, err)
		watcher.waitPackets(t, ctx, countPackets(watcher)+1)
	})
}
