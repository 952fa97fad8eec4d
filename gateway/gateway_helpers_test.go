package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/internal/testcam"
	"github.com/streamgate/streamgate/internal/testlog"
)

// e2eTimeout bounds every wait of a test, so a hang fails with a message
// instead of running into the package's -timeout.
const e2eTimeout = 20 * time.Second

// e2eCtx is a context that ends with the test or after e2eTimeout.
func e2eCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	t.Cleanup(cancel)
	return ctx
}

// e2eLog collects the gateway's log; it is printed when the test fails and
// can be searched, since the log is how a test sees lifecycle events.
type e2eLog struct{ testlog.Buffer }

// has reports whether one log line contains every one of parts.
func (l *e2eLog) has(parts ...string) bool { return l.Count(parts...) > 0 }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// e2eFreeUDPPair finds an even port p in 20000–60000 where p and p+1 are
// both free on 127.0.0.1, and releases them for the caller.
func e2eFreeUDPPair(t *testing.T) int { return testcam.FreeUDPPair(t) }

// e2eConfigYAML is a config on loopback test ports: RTSP and HTTP on port
// 0, UDP on rtpPort/rtpPort+1, no multicast (it does not work on loopback
// here), followed by extra (more rtsp keys, a "paths:" section or nothing).
func e2eConfigYAML(rtpPort int, extra string) string {
	return fmt.Sprintf(`log: {level: debug}
http:
  address: "127.0.0.1:0"
webrtc:
  address: "127.0.0.1:0"
rtsp:
  address: "127.0.0.1:0"
  rtpAddress: "127.0.0.1:%d"
  rtcpAddress: "127.0.0.1:%d"
  multicastIPRange: ""
%s`, rtpPort, rtpPort+1, extra)
}

// e2eGateway is a started gateway and its log.
type e2eGateway struct {
	*gateway.Gateway
	log  *e2eLog
	host string // 127.0.0.1:port of the RTSP listener
}

// url is the gateway's RTSP URL of path.
func (g *e2eGateway) url(path string) string { return "rtsp://" + g.host + "/" + path }

// startGateway parses the config built from extra on fresh test ports and
// starts a gateway with it, closed when the test ends. A UDP pair found
// free can be taken again before the gateway binds it: retry a few times.
func startGateway(t *testing.T, extra string) *e2eGateway {
	t.Helper()
	logs := &e2eLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	for range 5 {
		var conf *gateway.Config
		conf, err = gateway.ParseConfig("test.yml", []byte(e2eConfigYAML(e2eFreeUDPPair(t), extra)), nil)
		require.NoError(t, err)
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

// Synthetic media comes from the scripted test camera (internal/testcam):
// every picture NAL and audio AU carries its stream's tag and frame index.

var (
	e2eSPS  = testcam.SPS
	e2eSPS2 = testcam.SPS2
)

// e2eDesc is a camera's description: H.264 (SPS/PPS in the SDP) and AAC.
func e2eDesc(sps []byte) *description.Session { return testcam.Desc(sps, true) }

func pictureTag(p []byte) (tag byte, frame int, ok bool) { return testcam.PictureTag(p) }

func isSTAPA(p []byte) bool { return testcam.IsSTAPA(p) }

// e2eCam is the scripted camera with the short names these tests use.
type e2eCam struct {
	*testcam.Camera
	played        chan string
	sessionClosed chan struct{}
}

// camOpts configures an e2eCam.
type camOpts = testcam.Options

// newCam starts a camera serving the given paths (each with its tag byte),
// with UDP transport on a free pair, feeding until the test ends.
func newCam(t *testing.T, opts camOpts, paths map[string]byte) *e2eCam {
	t.Helper()
	c := testcam.New(t, opts, paths)
	return &e2eCam{Camera: c, played: c.Played, sessionClosed: c.SessionClosed}
}

// restart reboots the camera; sps, when not nil, replaces its SPS.
func (c *e2eCam) restart(sps []byte) {
	if sps == nil {
		c.Restart(nil)
		return
	}
	c.Restart(&testcam.Change{SPS: sps})
}

func (c *e2eCam) url(userinfo, path string) string { return c.URL(userinfo, path) }
func (c *e2eCam) nextFrame(path string) int        { return c.NextFrame(path) }
func (c *e2eCam) sent(path string) (video, audio [][]byte) {
	return c.Sent(path)
}
func (c *e2eCam) counts() (int, map[string]int, int) { return c.Counts() }

// rtpCopy is what a reader keeps of a packet.
type rtpCopy struct {
	seq     uint16
	ts      uint32
	payload []byte
}

// e2eReader is a gortsplib client playing a path of the gateway.
type e2eReader struct {
	c      *gortsplib.Client
	desc   *description.Session
	notify chan struct{}

	mu      sync.Mutex
	video   []rtpCopy
	audio   []rtpCopy
	firstAt time.Time
}

// dialReader DESCRIBEs, SETUPs every media and PLAYs url over proto. The
// client is closed (TEARDOWN) when the test ends, if not before.
func dialReader(t *testing.T, url string, proto gortsplib.Protocol) (*e2eReader, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	require.NoError(t, err)
	r := &e2eReader{notify: make(chan struct{}, 1)}
	r.c = &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 5 * time.Second}
	if u.Scheme == "rtsps" {
		r.c.TLSConfig = &tls.Config{InsecureSkipVerify: true} // the test certificate is self-signed
	}
	require.NoError(t, r.c.Start())
	t.Cleanup(r.c.Close)
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	r.desc = desc
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		cp := rtpCopy{seq: pkt.SequenceNumber, ts: pkt.Timestamp, payload: append([]byte(nil), pkt.Payload...)}
		r.mu.Lock()
		if r.firstAt.IsZero() {
			r.firstAt = time.Now()
		}
		if m.Type == description.MediaTypeVideo {
			r.video = append(r.video, cp)
		} else {
			r.audio = append(r.audio, cp)
		}
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	return r, nil
}

// mustReader is dialReader that fails the test on error.
func mustReader(t *testing.T, url string, proto gortsplib.Protocol) *e2eReader {
	t.Helper()
	r, err := dialReader(t, url, proto)
	require.NoError(t, err, "read %s over %s", url, proto)
	return r
}

// packets returns copies of what the reader received so far.
func (r *e2eReader) packets() (video, audio []rtpCopy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtpCopy(nil), r.video...), append([]rtpCopy(nil), r.audio...)
}

// waitUntil waits until cond holds on the received packets.
func (r *e2eReader) waitUntil(t *testing.T, ctx context.Context, what string, cond func(video, audio []rtpCopy) bool) {
	t.Helper()
	for {
		if cond(r.packets()) {
			return
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			v, a := r.packets()
			t.Fatalf("timed out waiting for %s (%d video, %d audio packets received)", what, len(v), len(a))
		}
	}
}

// waitPackets waits for at least n video and n audio packets.
func (r *e2eReader) waitPackets(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	r.waitUntil(t, ctx, fmt.Sprintf("%d video and audio packets", n), func(v, a []rtpCopy) bool {
		return len(v) >= n && len(a) >= n
	})
}

// requireIdentical checks that the reader's video, from the first STAP-A
// (the start of an IDR access unit) on, and its audio, from the first
// packet on, are exactly the camera's payloads in order with none missing.
func requireIdentical(t *testing.T, cam *e2eCam, path string, r *e2eReader) {
	t.Helper()
	gotV, gotA := r.packets()
	sentV, sentA := cam.sent(path)

	start := -1
	for i := 0; i+1 < len(gotV); i++ {
		if isSTAPA(gotV[i].payload) {
			start = i
			break
		}
	}
	require.GreaterOrEqual(t, start, 0, "no keyframe among %d video packets", len(gotV))
	if start > 0 {
		t.Logf("%d video packets before the first keyframe", start)
	}
	// The STAP-A repeats with every IDR: locate the IDR picture after it.
	j := indexOf(sentV, gotV[start+1].payload)
	require.Positive(t, j, "the reader's first IDR is not among the camera's packets")
	require.Equal(t, sentV[j-1], gotV[start].payload)
	comparePayloads(t, "video", sentV[j-1:], gotV[start:])

	require.NotEmpty(t, gotA, "no audio")
	k := indexOf(sentA, gotA[0].payload)
	require.GreaterOrEqual(t, k, 0, "the reader's first audio packet is not among the camera's packets")
	comparePayloads(t, "audio", sentA[k:], gotA)
}

func comparePayloads(t *testing.T, kind string, sent [][]byte, got []rtpCopy) {
	t.Helper()
	require.GreaterOrEqual(t, len(sent), len(got), "%s: the reader got more packets than the camera sent", kind)
	for i, g := range got {
		if !bytes.Equal(sent[i], g.payload) {
			t.Fatalf("%s packet %d of %d differs from what the camera sent (lost, reordered or changed)", kind, i, len(got))
		}
	}
}

func indexOf(list [][]byte, p []byte) int {
	for i, q := range list {
		if bytes.Equal(q, p) {
			return i
		}
	}
	return -1
}

// waitChan receives from ch before ctx ends.
func waitChan[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// statusCode is the RTSP status of a failed client request, or 0.
func statusCode(err error) base.StatusCode {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	return 0
}
