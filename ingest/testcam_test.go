package ingest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// camOptions configures a testCam.
type camOptions struct {
	sdp         []byte // SDP served on DESCRIBE; nil means the stream's own description
	desc        *description.Session
	user, pass  string // when set, DESCRIBE and SETUP require these credentials
	authMethods []auth.VerifyMethod
	udp         bool        // also offer the UDP transport
	multicast   bool        // also offer UDP multicast (needs udp)
	tls         *tls.Config // serve rtsps
	refuse      []int       // SETUP of these track indexes gets 461 Unsupported Transport
}

// testCam is a camera on loopback built on gortsplib.Server. It serves one
// description, writes packets while feeding, can fall silent (RTCP only, so the
// connection stays busy), and can be stopped and restarted on the same ports.
type testCam struct {
	t    *testing.T
	opts camOptions

	mu       sync.Mutex
	srv      *gortsplib.Server
	stream   *gortsplib.ServerStream
	addr     string // host:port, kept across restarts
	rtpAddr  string
	rtcpAddr string
	silent   bool
	seq      uint16

	played chan struct{}

	feedCancel context.CancelFunc
	feedDone   chan struct{}
}

// loadSDP reads a testdata SDP. Control attributes are rewritten to what
// gortsplib.Server routes (trackID=<index>); a media without one keeps none;
// everything else is served as the camera wrote it.
func loadSDP(t *testing.T, name string) ([]byte, *description.Session) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	media := -1
	for line := range strings.SplitSeq(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n") {
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "m="):
			media++
		case strings.HasPrefix(line, "a=control:"):
			if media < 0 {
				continue
			}
			line = "a=control:trackID=" + strconv.Itoa(media)
		}
		out = append(out, line)
	}
	body := []byte(strings.Join(out, "\r\n") + "\r\n")

	ssd, err := sdpunmarshaler.Unmarshal(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var desc description.Session
	if err := desc.Unmarshal2(ssd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return body, &desc
}

func newTestCam(t *testing.T, opts camOptions) *testCam {
	t.Helper()
	c := &testCam{t: t, opts: opts, played: make(chan struct{}, 64), addr: "127.0.0.1:0"}
	if opts.udp {
		c.rtpAddr, c.rtcpAddr = freeUDPPair(t)
	}
	c.start()
	t.Cleanup(c.close)
	return c
}

// freeUDPPair finds an even RTP port with the next odd port free for RTCP.
func freeUDPPair(t *testing.T) (string, string) {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

// start starts the server, on the same ports as before after a stop.
func (c *testCam) start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	srv := &gortsplib.Server{
		Handler:        c,
		RTSPAddress:    c.addr,
		UDPRTPAddress:  c.rtpAddr,
		UDPRTCPAddress: c.rtcpAddr,
		TLSConfig:      c.opts.tls,
		AuthMethods:    c.opts.authMethods,
	}
	if c.opts.multicast {
		// multicast ports are shared by every stream; the unicast pair's ports +2/+3
		// are free often enough for a test.
		_, port, _ := net.SplitHostPort(c.rtpAddr)
		srv.MulticastIPRange = "239.1.0.0/16"
		srv.MulticastRTPPort = atoi(port) + 2
		srv.MulticastRTCPPort = atoi(port) + 3
	}
	if err := srv.Start(); err != nil {
		c.t.Fatalf("test camera: %v", err)
	}
	c.addr = srv.NetListener().Addr().String()
	st := &gortsplib.ServerStream{Server: srv, Desc: c.opts.desc}
	if err := st.Initialize(); err != nil {
		srv.Close()
		c.t.Fatalf("test camera stream: %v", err)
	}
	c.srv, c.stream = srv, st
}

// stop closes the server and every connection, as a camera that reboots.
func (c *testCam) stop() {
	c.mu.Lock()
	srv, st := c.srv, c.stream
	c.srv, c.stream = nil, nil
	c.mu.Unlock()
	if st != nil {
		st.Close()
	}
	if srv != nil {
		srv.Close()
	}
}

func (c *testCam) close() {
	c.stopFeeding()
	c.stop()
}

// url returns the camera's URL with the given userinfo ("" for none).
func (c *testCam) url(userinfo string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	scheme := "rtsp"
	if c.opts.tls != nil {
		scheme = "rtsps"
	}
	if userinfo != "" {
		userinfo += "@"
	}
	return scheme + "://" + userinfo + c.addr + "/stream1"
}

// setSilent makes the camera stop sending RTP but keep sending RTCP.
func (c *testCam) setSilent(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.silent = v
}

// startFeeding writes one packet per media every 5ms until stopFeeding.
func (c *testCam) startFeeding() {
	ctx, cancel := context.WithCancel(context.Background())
	c.feedCancel = cancel
	c.feedDone = make(chan struct{})
	go func() {
		defer close(c.feedDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				c.writeOnce()
			}
		}
	}()
}

func (c *testCam) stopFeeding() {
	if c.feedCancel != nil {
		c.feedCancel()
		<-c.feedDone
		c.feedCancel = nil
	}
}

func (c *testCam) writeOnce() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return
	}
	c.seq++
	for i, m := range c.stream.Desc.Medias {
		if m.IsBackChannel {
			continue
		}
		if c.silent {
			sr := &rtcp.SenderReport{SSRC: 1, NTPTime: uint64(time.Now().Unix()) << 32}
			_ = c.stream.WritePacketRTCP(m, sr)
			continue
		}
		f := m.Formats[0]
		pkt := &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         true,
				PayloadType:    f.PayloadType(),
				SequenceNumber: c.seq,
				Timestamp:      uint32(c.seq) * uint32(f.ClockRate()/100),
			},
			Payload: testPayload(f, i, c.seq),
		}
		_ = c.stream.WritePacketRTP(m, pkt)
	}
}

// testPayload is the payload the camera sends for media i and sequence number seq.
// Video payloads are whole IDR NAL units, so that the client can compute PTS at once.
func testPayload(f format.Format, i int, seq uint16) []byte {
	var head []byte
	switch f.(type) {
	case *format.H264:
		head = []byte{0x65} // IDR slice, no SPS/PPS in band
	case *format.H265:
		head = []byte{19 << 1, 0x01} // IDR_W_RADL
	default:
		head = []byte{0x10}
	}
	b := append(head, byte(i), byte(seq>>8), byte(seq))
	for j := range 200 {
		b = append(b, byte(j)^byte(seq))
	}
	return b
}

func (c *testCam) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := c.checkAuth(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.sdp != nil {
		return &base.Response{StatusCode: base.StatusOK, Body: c.opts.sdp}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

var trackIDRe = regexp.MustCompile(`trackID=(\d+)`)

func (c *testCam) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := c.checkAuth(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	if m := trackIDRe.FindStringSubmatch(ctx.Request.URL.String()); m != nil && slices.Contains(c.opts.refuse, atoi(m[1])) {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *testCam) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	select {
	case c.played <- struct{}{}:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *testCam) checkAuth(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if c.opts.user == "" {
		return nil, nil
	}
	if !conn.VerifyCredentials(req, c.opts.user, c.opts.pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	return nil, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// skipSeq makes the camera skip n sequence numbers, as if n packets per
// media were lost on the way.
func (c *testCam) skipSeq(n uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq += n
}
