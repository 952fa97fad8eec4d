package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/web"
)

// The limits: each test runs a reader of the demo that must keep receiving
// while other clients hit a limit and get the protocol's status code, and
// the gateway logs the refusal.

// TestLimitReadersPerPath: with maxReaders 1, a second RTSP reader gets
// 453, a WHEP viewer and the HLS muxer get 503; the first reader plays on.
func TestLimitReadersPerPath(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGateway(t, "pathDefaults: {maxReaders: 1}\n")
	first := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	first.waitPackets(t, ctx, 1)
	base := "http://" + g.HTTPAddr().String()

	_, err := dialReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	require.Error(t, err)
	assert.Equal(t, base453, statusCode(err), "second RTSP reader: %v", err)
	first.waitPackets(t, ctx, countPackets(first)+1)

	v := newWHEPViewer(t)
	offer := rtcOffer(t, ctx, v.pc)
	resp := rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader(offer))
	assert.Equal(t, http.StatusServiceUnavailable, resp.code, "WHEP viewer over the limit: %s", resp.body)
	first.waitPackets(t, ctx, countPackets(first)+1)

	resp = rtcRequest(t, ctx, http.MethodGet, base+"/demo/index.m3u8", "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.code, "HLS over the limit: %s", resp.body)
	first.waitPackets(t, ctx, countPackets(first)+1)
	assert.True(t, g.log.has("too many readers"), "no log line for the refused readers")
}

// base453 is RTSP's 453 Not Enough Bandwidth, the answer to a reader over a
// path's limit.
const base453 = base.StatusNotEnoughBandwidth

func countPackets(r *e2eReader) int {
	v, a := r.packets()
	return min(len(v), len(a))
}

// TestLimitRTSPSessions: with rtsp.maxSessions 1 a second session gets 503
// with Retry-After and is closed; once the first leaves, a new one fits.
func TestLimitRTSPSessions(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGateway(t, "  maxSessions: 1\n")
	first := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	first.waitPackets(t, ctx, 1)

	c := dialRTSP(t, g.host)
	res := c.do(base.Setup, "demo/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
	assert.Equal(t, base.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, base.HeaderValue{"5"}, res.Header["Retry-After"])
	assert.Empty(t, res.Header["Session"], "a refused SETUP must not hand out a session")
	_, err := dialReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	assert.Equal(t, base.StatusServiceUnavailable, statusCode(err), "second reader: %v", err)
	first.waitPackets(t, ctx, countPackets(first)+1)
	assert.True(t, g.log.has("RTSP session limit reached", "limit=1"))
	// The refused sessions are closed, not left to time out.
	api := newAPIClient(t, g)
	for {
		n := 0
		for _, s := range getJSON[struct{ Items []web.SessionStatus }](api, "/api/v1/sessions").Items {
			if strings.HasPrefix(s.Kind, "rtsp") {
				n++
			}
		}
		if n == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d RTSP sessions open, want only the first reader's", n)
		case <-time.After(50 * time.Millisecond): // the list has no change notification
		}
	}

	first.c.Close()
	// The slot frees when gortsplib closes the first session.
	for {
		r, err := dialReader(t, g.url("demo"), gortsplib.ProtocolTCP)
		if err == nil {
			r.waitPackets(t, ctx, 1)
			break
		}
		require.Equal(t, base.StatusServiceUnavailable, statusCode(err), "%v", err)
		select {
		case <-ctx.Done():
			t.Fatal("the freed session slot was never given to a new reader")
		default:
		}
	}
}

// TestLimitWebRTCSessions: with webrtc.maxSessions 1 a second WHEP viewer
// gets 503 while the first keeps receiving video.
func TestLimitWebRTCSessions(t *testing.T) {
	ctx := rtcCtx(t)
	g := startGatewayExtra(t, "webrtc", "maxSessions: 1")
	base := "http://" + g.HTTPAddr().String()
	first := newWHEPViewer(t)
	offer := rtcOffer(t, ctx, first.pc)
	resp := rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader(offer))
	require.Equal(t, http.StatusCreated, resp.code, resp.body)
	require.NoError(t, first.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: resp.body}))
	n := first.video.waitAbove(t, ctx, 0, "the first viewer's video")

	second := newWHEPViewer(t)
	offer = rtcOffer(t, ctx, second.pc)
	resp = rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader(offer))
	assert.Equal(t, http.StatusServiceUnavailable, resp.code, resp.body)
	first.video.waitAbove(t, ctx, n, "the first viewer's video after the refusal")
	assert.True(t, g.log.has("WebRTC session limit reached", "limit=1"))
}

// startGatewayExtra is startGateway with line added to section (http or
// webrtc) of the test config, and rtsp keys or paths in extra.
func startGatewayExtra(t *testing.T, section, line string, extra ...string) *e2eGateway {
	t.Helper()
	logs := &e2eLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return startGatewayLog(t, logs, logs, section, line, extra...)
}

// startGatewayLog starts a gateway whose debug log goes to w; logs is what
// the returned gateway's log field holds. section and line are as for
// startGatewayExtra ("" adds nothing).
func startGatewayLog(t *testing.T, w io.Writer, logs *e2eLog, section, line string, extra ...string) *e2eGateway {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	for range 5 {
		yml := e2eConfigYAML(e2eFreeUDPPair(t), strings.Join(extra, ""))
		if section != "" {
			head := section + ":\n  address: \"127.0.0.1:0\"\n"
			require.Contains(t, yml, head)
			yml = strings.Replace(yml, head, head+"  "+line+"\n", 1)
		}
		conf, perr := gateway.ParseConfig("test.yml", []byte(yml), nil)
		require.NoError(t, perr)
		g := &gateway.Gateway{Config: conf, Logger: logger}
		if err = g.Start(); err != nil {
			continue
		}
		t.Cleanup(g.Close)
		return &e2eGateway{Gateway: g, log: logs, host: g.RTSPAddr().String()}
	}
	t.Fatalf("start gateway: %v", err)
	return nil
}

// TestLimitOffersPerSecond: over webrtc.offersPerSecond, an address gets
// 429 with Retry-After, and an RTSP reader plays on.
func TestLimitOffersPerSecond(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGatewayExtra(t, "webrtc", "offersPerSecond: 1")
	first := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	first.waitPackets(t, ctx, 1)
	base := "http://" + g.HTTPAddr().String()
	// Garbage offers cost a token each before being refused with 400; a
	// bucket of 1 per second must run dry within a few.
	var got rtcResponse
	for i := 0; i < 20; i++ {
		got = rtcRequest(t, ctx, http.MethodPost, base+"/demo/whep", "application/sdp", strings.NewReader("not sdp"))
		if got.code != http.StatusBadRequest {
			break
		}
	}
	require.Equal(t, http.StatusTooManyRequests, got.code, got.body)
	secs, err := strconv.Atoi(got.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", got.header.Get("Retry-After"))
	assert.GreaterOrEqual(t, secs, 1)
	// PATCH and DELETE of a session are not offers.
	resp := rtcRequest(t, ctx, http.MethodDelete, base+"/demo/whep/00112233445566778899aabbccddeeff", "", nil)
	assert.Equal(t, http.StatusNotFound, resp.code)
	first.waitPackets(t, ctx, countPackets(first)+1)
	assert.True(t, g.log.has("too many WebRTC offers from one address"))
}

// TestLimitHTTPHeaderBytes: a header block over http.maxHeaderBytes gets
// 431; a reader plays on.
func TestLimitHTTPHeaderBytes(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGatewayExtra(t, "http", "maxHeaderBytes: 4096")
	first := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	first.waitPackets(t, ctx, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.HTTPAddr().String()+"/demo/index.m3u8", nil)
	require.NoError(t, err)
	req.Header.Set("X-Padding", strings.Repeat("a", 8192))
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
	first.waitPackets(t, ctx, countPackets(first)+1)
}

// TestLimitSlowAndIdleClients: a client that sends half a request and
// then nothing is disconnected by the read-header timeout (HTTP) and by
// the session timeout that bounds the read of each request (RTSP); an
// idle keep-alive connection by http.idleTimeout, and an RTSP session that
// stays silent after SETUP by rtsp.sessionTimeout. A reader plays on.
func TestLimitSlowAndIdleClients(t *testing.T) {
	ctx := e2eCtx(t)
	g := startGatewayExtra(t, "http", "readHeaderTimeout: 300ms\n  idleTimeout: 1s", "  sessionTimeout: 3s\n")
	first := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	first.waitPackets(t, ctx, 1)
	for _, tc := range []struct {
		name, addr, partial string
	}{
		{"HTTP", g.HTTPAddr().String(), "GET /demo/index.m3u8 HTTP/1.1\r\nHost: x\r\nX-Slow: "},
		{"RTSP", g.host, "OPTIONS rtsp://" + g.host + "/demo RTSP/1.0\r\nCSeq: 1\r\nX-Slow: "},
		{"HTTP idle keep-alive", g.HTTPAddr().String(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"RTSP idle session", g.host, "SETUP rtsp://" + g.host + "/demo/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n" +
			"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireClosedAfterPartial(t, ctx, tc.addr, tc.partial)
			first.waitPackets(t, ctx, countPackets(first)+1)
		})
	}
}

// requireClosedAfterPartial sends partial and waits (bounded by ctx) for
// the server to close the connection; what it answers first (HTTP 408 or
// nothing) does not matter.
func requireClosedAfterPartial(t *testing.T, ctx context.Context, addr, partial string) {
	t.Helper()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	dl, _ := ctx.Deadline()
	require.NoError(t, nc.SetDeadline(dl))
	_, err = io.WriteString(nc, partial)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, bufio.NewReader(nc))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a half-sent request open until the test's deadline")
	}
}
