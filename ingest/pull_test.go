package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"go.uber.org/goleak"
)

// checkLeaks verifies, after every other cleanup of t, that no goroutine is left.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// pullHarness runs a Pull against a fakeTarget and stops it at cleanup.
type pullHarness struct {
	p      *Pull
	target *fakeTarget
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startPull(t *testing.T, p *Pull) *pullHarness {
	t.Helper()
	h := &pullHarness{p: p, target: newFakeTarget(), logs: &syncBuffer{}, done: make(chan error, 1)}
	p.Target = h.target
	p.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if p.Backoff.Min == 0 {
		p.Backoff = Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	go func() { h.done <- p.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop cancels Run and waits for it; it must return promptly.
func (h *pullHarness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of cancel")
	}
	if s := h.p.Status(); s.State != StateStopped {
		t.Errorf("state after Run = %q, want stopped", s.State)
	}
}

// checkPayloads asserts that every packet carries exactly what the camera wrote
// for its media and sequence number.
func checkPayloads(t *testing.T, desc *description.Session, pkts []recvPacket) {
	t.Helper()
	for _, p := range pkts {
		i := indexOfMedia(desc, p.media)
		f := p.media.Formats[0]
		if p.pkt.PayloadType != f.PayloadType() {
			t.Fatalf("media %d: payload type %d, want %d", i, p.pkt.PayloadType, f.PayloadType())
		}
		camIndex := int(p.pkt.Payload[len(p.pkt.Payload)-203]) // the media index the camera wrote
		want := testPayload(f, camIndex, p.pkt.SequenceNumber)
		if !bytes.Equal(p.pkt.Payload, want) {
			t.Fatalf("media %d seq %d: payload differs from what the camera wrote", i, p.pkt.SequenceNumber)
		}
	}
}

func indexOfMedia(desc *description.Session, m *description.Media) int {
	for i, x := range desc.Medias {
		if x == m {
			return i
		}
	}
	return -1
}

func TestPullTransports(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name      string
		protocol  string
		transport string
	}{
		{name: "tcp", protocol: "tcp", transport: "TCP"},
		{name: "auto uses udp", protocol: "", transport: "UDP"},
		{name: "udp", protocol: "udp", transport: "UDP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 15*time.Second)
			sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
			cam := newTestCam(t, camOptions{sdp: sdp, desc: desc, udp: true})
			cam.startFeeding()

			h := startPull(t, &Pull{URL: cam.url(""), Protocol: tc.protocol, ReadTimeout: 3 * time.Second})
			w := h.target.nextPublish(ctx, t)
			if got := describeMedias(w.desc); got != "[video[H264] audio[PCMA]]" {
				t.Fatalf("published %s", got)
			}
			pkts := w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 20))
			checkPayloads(t, w.desc, pkts)

			s := waitStatus(ctx, t, h.p, stateIs(StateReady))
			if strings.Join(s.Tracks, ",") != "H264,PCMA" || s.Reconnects != 0 || s.LastError != "" {
				t.Fatalf("status %+v", s)
			}
			if !strings.Contains(h.logs.String(), "transport="+tc.transport) {
				t.Fatalf("want transport %s in logs:\n%s", tc.transport, h.logs)
			}
			h.stop(t)
			w.waitClosed(ctx, t)
		})
	}
}

func TestPullPTS(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
	cam.startFeeding()
	h := startPull(t, &Pull{URL: cam.url(""), Protocol: "tcp"})
	w := h.target.nextPublish(ctx, t)
	pkts := w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 10))

	// The camera advances RTP time by clockRate/100 per sequence number;
	// PTS must follow it exactly, per media, in its own clock rate.
	first := map[*description.Media]recvPacket{}
	for _, p := range pkts {
		f, ok := first[p.media]
		if !ok {
			first[p.media] = p
			continue
		}
		step := int64(p.media.Formats[0].ClockRate() / 100)
		want := f.pts + int64(p.pkt.SequenceNumber-f.pkt.SequenceNumber)*step
		if p.pts != want {
			t.Fatalf("media %d seq %d: pts %d, want %d", indexOfMedia(w.desc, p.media), p.pkt.SequenceNumber, p.pts, want)
		}
	}
}

func TestPullAuth(t *testing.T) {
	checkLeaks(t)
	const user, pass = "admin", "s3cr3t-Pa55"
	tests := []struct {
		name     string
		methods  []auth.VerifyMethod
		userinfo string
		ok       bool
	}{
		{name: "digest", methods: []auth.VerifyMethod{auth.VerifyMethodDigestMD5}, userinfo: user + ":" + pass, ok: true},
		{name: "basic", methods: []auth.VerifyMethod{auth.VerifyMethodBasic}, userinfo: user + ":" + pass, ok: true},
		{name: "digest wrong password", methods: []auth.VerifyMethod{auth.VerifyMethodDigestMD5}, userinfo: user + ":wrong-pass"},
		{name: "basic wrong password", methods: []auth.VerifyMethod{auth.VerifyMethodBasic}, userinfo: user + ":wrong-pass"},
		{name: "no credentials", methods: []auth.VerifyMethod{auth.VerifyMethodDigestMD5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 10*time.Second)
			sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
			cam := newTestCam(t, camOptions{sdp: sdp, desc: desc, user: user, pass: pass, authMethods: tc.methods})
			cam.startFeeding()
			h := startPull(t, &Pull{URL: cam.url(tc.userinfo), Protocol: "tcp"})

			if tc.ok {
				w := h.target.nextPublish(ctx, t)
				w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 5))
			} else {
				s := waitStatus(ctx, t, h.p, func(s Status) bool { return s.State == StateWaiting })
				if !strings.Contains(s.LastError, "401") {
					t.Fatalf("LastError %q, want a 401", s.LastError)
				}
				if logs := h.logs.String(); !strings.Contains(logs, "401") {
					t.Fatalf("401 not logged:\n%s", logs)
				}
				select {
				case <-h.target.published:
					t.Fatal("published despite wrong credentials")
				default:
				}
			}
			h.stop(t)
			logs := h.logs.String()
			if strings.Contains(logs, pass) || strings.Contains(logs, "wrong-pass") || strings.Contains(logs, user+":") {
				t.Fatalf("credentials logged:\n%s", logs)
			}
			if !strings.Contains(logs, "url=rtsp://") {
				t.Fatalf("connecting not logged:\n%s", logs)
			}
		})
	}
}

func TestPullReconnectAfterCameraRestart(t *testing.T) {
	checkLeaks(t)
	ctx := testCtx(t, 20*time.Second)
	sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
	cam.startFeeding()
	h := startPull(t, &Pull{URL: cam.url(""), Protocol: "tcp"})

	w1 := h.target.nextPublish(ctx, t)
	w1.waitPackets(ctx, t, atLeastPerMedia(w1.desc, 5))

	cam.stop()
	w1.waitClosed(ctx, t)
	s := waitStatus(ctx, t, h.p, func(s Status) bool { return s.LastError != "" })
	if s.State == StateReady {
		t.Fatalf("still ready after camera stop: %+v", s)
	}

	cam.start()
	w2 := h.target.nextPublish(ctx, t)
	w2.waitPackets(ctx, t, atLeastPerMedia(w2.desc, 5))
	s = waitStatus(ctx, t, h.p, stateIs(StateReady))
	if s.Reconnects < 1 {
		t.Fatalf("Reconnects = %d, want >= 1", s.Reconnects)
	}
	for _, want := range []string{"source ready", "source down", "next retry in"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Fatalf("%q not logged:\n%s", want, h.logs)
		}
	}
}

func TestPullFirstConnectFails(t *testing.T) {
	checkLeaks(t)
	ctx := testCtx(t, 20*time.Second)
	sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
	cam.stop() // the port is known, nothing listens on it
	h := startPull(t, &Pull{URL: cam.url(""), Protocol: "tcp"})

	s := waitStatus(ctx, t, h.p, func(s Status) bool { return s.State == StateWaiting })
	if s.LastError == "" || s.NextRetry.IsZero() {
		t.Fatalf("status %+v", s)
	}

	cam.start()
	cam.startFeeding()
	w := h.target.nextPublish(ctx, t)
	w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 5))
	if s := h.p.Status(); s.Reconnects < 1 {
		t.Fatalf("Reconnects = %d", s.Reconnects)
	}
}

func TestPullTargetRefuses(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
	cam.startFeeding()
	target := newFakeTarget()
	target.setRefuse(errors.New("path has another source"))
	p := &Pull{URL: cam.url(""), Protocol: "tcp", Target: target,
		Logger: slog.New(slog.DiscardHandler), Backoff: Backoff{Min: 10 * time.Millisecond}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	s := waitStatus(ctx, t, p, func(s Status) bool { return s.State == StateWaiting })
	if !strings.Contains(s.LastError, "another source") {
		t.Fatalf("LastError %q", s.LastError)
	}
	target.setRefuse(nil)
	w := target.nextPublish(ctx, t)
	w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 3))
}

func TestPullSilentCamera(t *testing.T) {
	checkLeaks(t)
	ctx := testCtx(t, 15*time.Second)
	sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
	cam.startFeeding()
	const timeout = 2 * time.Second
	h := startPull(t, &Pull{URL: cam.url(""), Protocol: "tcp", ReadTimeout: timeout,
		Backoff: Backoff{Min: time.Hour}})

	w := h.target.nextPublish(ctx, t)
	w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 5))

	// The camera keeps the TCP connection busy with RTCP but sends no more RTP.
	silentAt := time.Now()
	cam.setSilent(true)
	w.waitClosed(ctx, t)
	took := time.Since(silentAt)
	if took < timeout-100*time.Millisecond || took > timeout+time.Second {
		t.Fatalf("silence detected after %v, want about %v", took, timeout)
	}
	s := waitStatus(ctx, t, h.p, stateIs(StateWaiting))
	if !strings.Contains(s.LastError, ErrSilent.Error()) {
		t.Fatalf("LastError %q, want %q", s.LastError, ErrSilent)
	}
}

func TestPullCancel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (url string, until func(Status) bool)
	}{
		{
			name: "while playing",
			setup: func(t *testing.T) (string, func(Status) bool) {
				sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
				cam := newTestCam(t, camOptions{sdp: sdp, desc: desc})
				cam.startFeeding()
				return cam.url(""), stateIs(StateReady)
			},
		},
		{
			name: "while backing off",
			setup: func(t *testing.T) (string, func(Status) bool) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				l.Close()
				return "rtsp://" + addr + "/x", stateIs(StateWaiting)
			},
		},
		{
			name: "while a camera never answers DESCRIBE",
			setup: func(t *testing.T) (string, func(Status) bool) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				accepted := make(chan net.Conn, 1)
				go func() {
					c, err := l.Accept()
					if err == nil {
						accepted <- c
					}
					close(accepted)
				}()
				t.Cleanup(func() {
					l.Close()
					for c := range accepted {
						c.Close()
					}
				})
				return "rtsp://" + l.Addr().String() + "/x", stateIs(StateConnecting)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			ctx := testCtx(t, 10*time.Second)
			url, until := tc.setup(t)
			h := startPull(t, &Pull{URL: url, Protocol: "tcp", ReadTimeout: 30 * time.Second,
				Backoff: Backoff{Min: time.Hour}})
			waitStatus(ctx, t, h.p, until)
			start := time.Now()
			h.stop(t)
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Fatalf("Run took %v to return after cancel", took)
			}
		})
	}
}

func TestPullInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		p    func() *Pull
		want string
	}{
		{name: "scheme", p: func() *Pull { return &Pull{URL: "http://u:topsecret@cam/x"} }, want: "unsupported URL scheme"},
		{name: "unparsable URL", p: func() *Pull { return &Pull{URL: "rtsp://u:topsecret@cam:notaport/x"} }, want: "invalid URL"},
		{name: "protocol", p: func() *Pull { return &Pull{URL: "rtsp://cam/x", Protocol: "sctp"} }, want: "unknown protocol"},
		{name: "fingerprint", p: func() *Pull { return &Pull{URL: "rtsps://cam/x", Fingerprint: "abcd"} }, want: "invalid fingerprint"},
		{name: "no target", p: func() *Pull { return &Pull{URL: "rtsp://cam/x"} }, want: "no target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 5*time.Second)
			p := tc.p()
			if tc.name != "no target" {
				p.Target = newFakeTarget()
			}
			err := p.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("error leaks the password: %v", err)
			}
			if s := p.Status(); s.State != StateStopped || s.LastError == "" {
				t.Fatalf("status %+v", s)
			}
		})
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rtsp://admin:pa55@10.0.0.1:554/stream1", "rtsp://***@10.0.0.1:554/stream1"},
		{"rtsp://10.0.0.1/live", "rtsp://10.0.0.1/live"},
		{"rtsps://user@cam/x?a=1", "rtsps://***@cam/x?a=1"},
		{"rtsp://u:p@ss%zz@cam/x", "rtsp://***@cam/x"},
		{"nonsense", "nonsense"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := maskURL(tc.in); got != tc.want {
				t.Fatalf("maskURL = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPullMulticast runs only with STREAMGATE_TEST_MULTICAST=1 on a host whose
// loopback carries multicast. In the development container lo has no MULTICAST
// flag, and even in a network namespace with it set no packet reached the client.
func TestPullMulticast(t *testing.T) {
	if os.Getenv("STREAMGATE_TEST_MULTICAST") != "1" || !loopbackMulticast() {
		t.Skip("multicast over loopback not available; set STREAMGATE_TEST_MULTICAST=1 where it is")
	}
	checkLeaks(t)
	ctx := testCtx(t, 15*time.Second)
	_, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
	cam := newTestCam(t, camOptions{desc: desc, udp: true, multicast: true})
	cam.startFeeding()
	h := startPull(t, &Pull{URL: cam.url(""), Protocol: "multicast", ReadTimeout: 3 * time.Second})
	w := h.target.nextPublish(ctx, t)
	checkPayloads(t, w.desc, w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 10)))
}

func loopbackMulticast() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 {
			return true
		}
	}
	return false
}
