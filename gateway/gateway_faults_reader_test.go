package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testcam"
	"github.com/streamgate/streamgate/web"
)

// readerFaultConfig gives RTSP sessions short timeouts and a short write
// queue, so that a bad reader is found out within a second or two.
const readerFaultConfig = `  writeTimeout: 5s
  sessionTimeout: %s
  writeQueueSize: %d
paths:
  cam:
    source: %s
    sourceProtocol: tcp
`

// TestReaderFaults attaches a healthy RTSP reader, then a reader that
// misbehaves: the healthy one receives every packet the camera sent, the
// bad one's session is released within the configured timeouts, what it
// lost shows in the path's reader drops (API and metrics), and the API and
// metrics count one RTSP reader again. A reader that stops reading a light
// stream is caught by the session timeout before anything is dropped (the
// kernel's buffers hold what it did not read); on a heavy stream the
// buffers fill, the write queue drops and the write timeout ends it.
func TestReaderFaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   func(t *testing.T, g *e2eGateway, playing func()) string // runs the bad reader, returns its address
		picture int                                                      // P picture size (0: the light default)
		timeout string                                                   // rtsp.sessionTimeout
		queue   int                                                      // rtsp.writeQueueSize: holds the cached GOP a reader starts with
		drops   bool                                                     // the bad reader must lose packets
	}{
		{"TCP reader stops reading", stalledTCPReader, 0, "2s", 64, false},
		{"TCP reader stops reading a heavy stream", stalledTCPReader, 40000, "30s", 2048, true},
		{"TCP reader vanishes without TEARDOWN", vanishingTCPReader, 0, "2s", 64, false},
		{"UDP reader vanishes without TEARDOWN", vanishingUDPReader, 0, "2s", 64, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := e2eCtx(t)
			cam := testcam.New(t, testcam.Options{PictureSize: tc.picture}, map[string]byte{"cam": 'g'})
			g := startGateway(t, fmt.Sprintf(readerFaultConfig, tc.timeout, tc.queue, cam.URL("", "cam")))
			api := newAPIClient(t, g)
			good := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
			good.waitPackets(t, ctx, 10)

			rtspReaders := func() int {
				p := getJSON[web.PathStatus](api, "/api/v1/paths/cam")
				return p.ReadersByProtocol.RTSP
			}
			remote := tc.fault(t, g, func() {
				require.Equal(t, 2, rtspReaders(), "the bad reader is attached")
				require.Len(t, sessionsOf(api, "rtsp-read", "cam"), 2)
			})
			for g.log.Count("session closed", "remote="+remote) == 0 {
				select {
				case <-ctx.Done():
					t.Fatalf("the bad reader's session was never closed")
				case <-time.After(50 * time.Millisecond):
				}
			}
			closed := g.log.Lines("session closed", "remote="+remote)
			t.Logf("%s", closed[0])
			require.Equal(t, 1, rtspReaders(), "the bad reader left the path")
			require.Len(t, sessionsOf(api, "rtsp-read", "cam"), 1, "the bad reader's session is gone")

			// The healthy reader got every packet, through the bad one's stay.
			n := cam.NextFrame("cam")
			good.waitUntil(t, ctx, "pictures sent after the bad reader left", func(vid, _ []rtpCopy) bool {
				for _, p := range vid {
					if _, f, ok := pictureTag(p.payload); ok && f >= n+10 {
						return true
					}
				}
				return false
			})
			requireIdentical(t, &e2eCam{Camera: cam}, "cam", good)

			// The counters agree: the API's reader drops are the metric's.
			p := getJSON[web.PathStatus](api, "/api/v1/paths/cam")
			var drops uint64
			if p.ReaderDrops != nil {
				drops = *p.ReaderDrops
			}
			if tc.drops {
				require.Positive(t, drops, "the path's reader drops count what the bad reader lost")
				require.Contains(t, closed[0], "dropped=")
			}
			api.waitMetric("the drops in the metrics", "streamgate_path_reader_drops_total",
				func(v float64, ok bool) bool { return ok && v == float64(drops) }, "path", "cam")
			api.waitMetric("one RTSP reader in the metrics", "streamgate_path_readers_by_protocol",
				func(v float64, ok bool) bool { return ok && v == 1 }, "path", "cam", "protocol", "rtsp")
			t.Logf("path reader drops: %d", drops)
		})
	}
}

// playRaw DESCRIBEs, SETUPs both tracks with transport and PLAYs cam on c.
func playRaw(t *testing.T, c *rtspConn, transport func(track int) string) {
	t.Helper()
	res := c.do(base.Describe, "cam", nil)
	require.Equal(t, base.StatusOK, res.StatusCode)
	var session string
	for i := range 2 {
		hdr := base.Header{"Transport": base.HeaderValue{transport(i)}}
		if session != "" {
			hdr["Session"] = base.HeaderValue{session}
		}
		res = c.do(base.Setup, fmt.Sprintf("cam/trackID=%d", i), hdr)
		require.Equal(t, base.StatusOK, res.StatusCode, "SETUP track %d", i)
		session, _, _ = strings.Cut(res.Header["Session"][0], ";")
	}
	res = c.do(base.Play, "cam", base.Header{"Session": base.HeaderValue{session}})
	require.Equal(t, base.StatusOK, res.StatusCode)
}

func interleaved(track int) string {
	return fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*track, 2*track+1)
}

// stalledTCPReader plays over TCP with a tiny receive window and never
// reads again: the gateway's writes pile up until its write timeout.
func stalledTCPReader(t *testing.T, g *e2eGateway, playing func()) string {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
	}}
	nc, err := d.Dial("tcp", g.host)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	c := &rtspConn{t: t, nc: nc, br: bufio.NewReader(nc), host: g.host}
	playRaw(t, c, interleaved)
	playing()
	return nc.LocalAddr().String()
}

// vanishingTCPReader plays over TCP, then its connection is reset: no
// TEARDOWN, no FIN.
func vanishingTCPReader(t *testing.T, g *e2eGateway, playing func()) string {
	c := dialRTSP(t, g.host)
	playRaw(t, c, interleaved)
	playing()
	_, err := c.br.Peek(4) // media flows
	require.NoError(t, err)
	require.NoError(t, c.nc.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.nc.Close())
	return c.nc.LocalAddr().String()
}

// vanishingUDPReader plays over UDP, then goes away: its RTSP connection
// and UDP ports close without a TEARDOWN, so only the session timeout can
// tell.
func vanishingUDPReader(t *testing.T, g *e2eGateway, playing func()) string {
	c := dialRTSP(t, g.host)
	var socks []net.PacketConn
	playRaw(t, c, func(track int) string {
		rtp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		rtcp, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port+1))
		if err != nil {
			rtp.Close()
			t.Skip("no consecutive UDP ports free")
		}
		socks = append(socks, rtp, rtcp)
		return fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", port, port+1)
	})
	buf := make([]byte, 2048)
	_, _, err := socks[0].ReadFrom(buf) // media flows
	require.NoError(t, err)
	playing()
	for _, s := range socks {
		s.Close()
	}
	c.nc.Close()
	return c.nc.LocalAddr().String()
}

// An HLS client that holds a blocking playlist reload and vanishes (its
// connection reset): the request ends at once without an answer, the muxer
// nobody uses any more closes after hls.idleClose, and an RTSP reader of
// the same path receives every packet throughout.
func TestHLSClientVanishes(t *testing.T) {
	ctx := e2eCtx(t)
	cam := testcam.New(t, testcam.Options{}, map[string]byte{"cam": 'h'})
	g := startGateway(t, fmt.Sprintf(`hls:
  idleClose: 1s
paths:
  cam:
    source: %s
    sourceProtocol: tcp
`, cam.URL("", "cam")))
	good := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	good.waitPackets(t, ctx, 10)

	// The first request starts the muxer (a fresh Low-Latency muxer begins
	// at segment 7): ask for segment 9, a second away, then vanish.
	nc, err := net.Dial("tcp", g.HTTPAddr().String())
	require.NoError(t, err)
	const query = "_HLS_msn=9&_HLS_part=0"
	_, err = fmt.Fprintf(nc, "GET /cam/video1_stream.m3u8?%s HTTP/1.1\r\nHost: gateway\r\n\r\n", query)
	require.NoError(t, err)
	g.log.Wait(t, ctx, "HLS muxer started", "path=cam")
	require.NoError(t, nc.(*net.TCPConn).SetLinger(0))
	require.NoError(t, nc.Close())

	line := g.log.Wait(t, ctx, "http request", query)
	require.Contains(t, line, " bytes=0", "the request ended before any answer: %s", line)
	closed := g.log.Wait(t, ctx, "HLS muxer closed", "path=cam")
	require.Contains(t, closed, "reason=idle")
	require.Equal(t, 1, g.log.Count("HLS muxer started", "path=cam"), "one muxer only")

	n := cam.NextFrame("cam")
	good.waitUntil(t, ctx, "pictures sent after the muxer closed", func(vid, _ []rtpCopy) bool {
		for _, p := range vid {
			if _, f, ok := pictureTag(p.payload); ok && f >= n+10 {
				return true
			}
		}
		return false
	})
	requireIdentical(t, &e2eCam{Camera: cam}, "cam", good)
}
