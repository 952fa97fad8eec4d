package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// whepViewer is a pion client playing a path over WHEP, as a browser
// would: recvonly video and audio; it counts the video packets.
type whepViewer struct {
	pc    *pwebrtc.PeerConnection
	video *rtcCounter
	wg    sync.WaitGroup
}

func newWHEPViewer(t *testing.T) *whepViewer {
	t.Helper()
	pc, err := rtcPionAPI(t).NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	v := &whepViewer{pc: pc, video: newRTCCounter()}
	t.Cleanup(v.close)
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly})
		require.NoError(t, err)
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == pwebrtc.RTPCodecTypeVideo {
				v.video.add()
			}
		}
	})
	return v
}

func (v *whepViewer) close() {
	_ = v.pc.Close()
	v.wg.Wait()
}

// rtcPostEarlyReply POSTs body to path on addr over a fresh connection and
// reads the response while the body is still being written, as a server
// may answer 413 before reading the whole body and then close. (net/http's
// client races there: it may return the write error, ECONNRESET, rather
// than the response that had already arrived.)
func rtcPostEarlyReply(t *testing.T, ctx context.Context, addr, path, contentType, body string) rtcResponse {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		require.NoError(t, conn.SetDeadline(deadline))
	}
	written := make(chan error, 1)
	go func() {
		_, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			path, addr, contentType, len(body), body)
		written <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "read the response to POST %s", path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	conn.Close() // ends a write still blocked on a full socket buffer
	<-written    // an error here is the server closing, as it may
	return rtcResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestWebRTCBadRequestsWhilePlaying sends malformed and misdirected WHEP
// requests to the gateway while a viewer plays the demo over WebRTC: each
// gets its own status code, and the viewer's video keeps flowing.
func TestWebRTCBadRequestsWhilePlaying(t *testing.T) {
	ctx := rtcCtx(t)
	g := startGateway(t, "") // the built-in demo: H.264 (carried) and AAC (not)
	base := "http://" + g.HTTPAddr().String()

	v := newWHEPViewer(t)
	offer := rtcOffer(t, ctx, v.pc)
	resp := rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader(offer))
	require.Equal(t, http.StatusCreated, resp.code, "WHEP offer: %s", resp.body)
	location := resp.header.Get("Location")
	require.NoError(t, v.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: resp.body}))
	n := v.video.waitAbove(t, ctx, 0, "the viewer's first video packet")

	pad := "a=x-padding:" + strings.Repeat("0123456789abcdef", 4) + "\r\n"
	huge := "v=0\r\n" + strings.Repeat(pad, 2<<20/len(pad)+1) // 2 MB of valid-looking SDP
	const unknownSession = "/demo/whep/00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		name        string
		method      string
		url         string
		contentType string
		body        string
		want        int
	}{
		{"garbage SDP", http.MethodPost, "/demo/whep", "application/sdp", "this is not SDP\r\n\x00\xff", http.StatusBadRequest},
		{"text/plain offer", http.MethodPost, "/demo/whep", "text/plain", offer, http.StatusUnsupportedMediaType},
		{"2 MB offer", http.MethodPost, "/demo/whep", "application/sdp", huge, http.StatusRequestEntityTooLarge},
		{"unknown path", http.MethodPost, "/nosuchpath/whep", "application/sdp", offer, http.StatusNotFound},
		{"DELETE unknown session", http.MethodDelete, unknownSession, "", "", http.StatusNotFound},
		{"DELETE unknown session again", http.MethodDelete, unknownSession, "", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp rtcResponse
			if len(tc.body) > 1<<20 {
				resp = rtcPostEarlyReply(t, ctx, g.HTTPAddr().String(), tc.url, tc.contentType, tc.body)
			} else {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				resp = rtcRequest(t, ctx, tc.method, base+tc.url, tc.contentType, body)
			}
			assert.Equal(t, tc.want, resp.code, "%s %s: %s", tc.method, tc.url, strings.TrimSpace(resp.body))
			n = v.video.waitAbove(t, ctx, n, "video packets after "+tc.name)
		})
	}

	// The viewer's own session is untouched: DELETE ends it, once.
	resp = rtcRequest(t, ctx, http.MethodDelete, base+location, "", nil)
	assert.Equal(t, http.StatusOK, resp.code, "DELETE the viewer's session: %s", resp.body)
	resp = rtcRequest(t, ctx, http.MethodDelete, base+location, "", nil)
	assert.Equal(t, http.StatusNotFound, resp.code, "DELETE the viewer's session again")
	t.Logf("the viewer received %d video packets", v.video.load())
}
