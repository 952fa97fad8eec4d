package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// hlsGet fetches url from the gateway's HTTP listener.
func hlsGet(t *testing.T, ctx context.Context, g *e2eGateway, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.HTTPAddr().String()+url, nil)
	require.NoError(t, err)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// hlsMediaPlaylist fetches the first media playlist of path's HLS stream;
// query (a Low-Latency blocking reload such as "_HLS_msn=9") is added to
// its URL when given.
func hlsMediaPlaylist(t *testing.T, ctx context.Context, g *e2eGateway, path string, query ...string) *playlist.Media {
	t.Helper()
	code, body := hlsGet(t, ctx, g, "/"+path+"/index.m3u8")
	require.Equal(t, http.StatusOK, code, "%s", body)
	pl, err := playlist.Unmarshal(body)
	require.NoError(t, err)
	mv, ok := pl.(*playlist.Multivariant)
	require.True(t, ok)
	url := "/" + path + "/" + mv.Variants[0].URI
	if len(query) > 0 {
		url += "?" + strings.Join(query, "&")
	}
	code, body = hlsGet(t, ctx, g, url)
	require.Equal(t, http.StatusOK, code, "%s", body)
	pl, err = playlist.Unmarshal(body)
	require.NoError(t, err)
	mp, ok := pl.(*playlist.Media)
	require.True(t, ok)
	return mp
}

// whepPlay makes a pion viewer of path over WHEP and waits for its first
// video packet. states receives every connection state change.
func whepPlay(t *testing.T, ctx context.Context, g *e2eGateway, path string) (*whepViewer, <-chan pwebrtc.PeerConnectionState) {
	t.Helper()
	v := newWHEPViewer(t)
	states := make(chan pwebrtc.PeerConnectionState, 16)
	var mu sync.Mutex
	closed := false
	t.Cleanup(func() { mu.Lock(); closed = true; mu.Unlock() })
	v.pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			select {
			case states <- s:
			default:
			}
		}
	})
	offer := rtcOffer(t, ctx, v.pc)
	resp := rtcRequest(t, ctx, http.MethodPost, "http://"+g.HTTPAddr().String()+"/"+path+"/whep", "application/sdp", strings.NewReader(offer))
	require.Equal(t, http.StatusCreated, resp.code, "WHEP offer: %s", resp.body)
	require.NoError(t, v.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: resp.body}))
	v.video.waitAbove(t, ctx, 0, "the WebRTC viewer's first video packet")
	return v, states
}
