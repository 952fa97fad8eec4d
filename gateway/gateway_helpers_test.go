package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
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
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
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
type e2eLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *e2eLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *e2eLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// has reports whether one log line contains every one of parts.
func (l *e2eLog) has(parts ...string) bool {
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// e2eFreeUDPPair finds an even port p in 20000–60000 where p and p+1 are
// both free on 127.0.0.1, and releases them for the caller.
func e2eFreeUDPPair(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := 20000 + 2*rand.IntN(20000)
		a, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	t.Fatal("no free UDP port pair found")
	return 0
}

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

// Synthetic media. Every picture NAL and audio AU carries its stream's tag
// and its frame index, so payloads are unique within and across streams.

var (
	e2eSPS  = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92}
	e2eSPS2 = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	e2ePPS  = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

const (
	e2eFPS     = 25
	e2eGOP     = 25 // an IDR every 25 frames
	e2eMTU     = 1200
	e2eVideoPT = 96
	e2eAudioPT = 97
)

// e2eDesc is a camera's description: H.264 (SPS/PPS in the SDP) and AAC.
func e2eDesc(sps []byte) *description.Session {
	return &description.Session{Medias: []*description.Media{
		{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{&format.H264{PayloadTyp: e2eVideoPT, PacketizationMode: 1, SPS: sps, PPS: e2ePPS}},
		},
		{
			Type: description.MediaTypeAudio,
			Formats: []format.Format{&format.MPEG4Audio{
				PayloadTyp: e2eAudioPT,
				Config: &mpeg4audio.AudioSpecificConfig{
					Type:          mpeg4audio.ObjectTypeAACLC,
					SampleRate:    48000,
					ChannelConfig: 2,
				},
				SizeLength:       13,
				IndexLength:      3,
				IndexDeltaLength: 3,
			}},
		},
	}}
}

// e2eSynth produces the packets of one camera stream: H.264 in packetization
// mode 1 (an IDR access unit is a STAP-A with SPS and PPS then FU-A
// fragments; P frames are single NALs, every third one fragmented) and
// AAC-hbr with one AU per packet.
type e2eSynth struct {
	tag  byte
	sps  []byte
	n    int // next frame index, across restarts
	gop0 int // frame index of the session's first IDR
	vSeq uint16
	vTS  uint32
	aSeq uint16
	aTS  uint32
	aN   int
}

// restart makes the next frame an IDR and jumps sequence numbers and
// timestamps, as a rebooted camera does.
func (s *e2eSynth) restart() {
	s.gop0 = s.n
	s.vSeq += 10000
	s.vTS += 1 << 30
	s.aSeq += 20000
	s.aTS += 1 << 29
}

// frame returns the video packets of the next frame and the audio packets
// that fall within it.
func (s *e2eSynth) frame() (video, audio []*rtp.Packet) {
	key := (s.n-s.gop0)%e2eGOP == 0
	var payloads [][]byte
	if key {
		stap := []byte{0x78}
		for _, ps := range [][]byte{s.sps, e2ePPS} {
			stap = append(stap, byte(len(ps)>>8), byte(len(ps)))
			stap = append(stap, ps...)
		}
		payloads = append(payloads, stap)
		payloads = append(payloads, s.nal(0x65, 4000)...)
	} else {
		size := 600
		if s.n%3 == 0 {
			size = 2 * e2eMTU
		}
		payloads = s.nal(0x41, size)
	}
	for i, p := range payloads {
		video = append(video, &rtp.Packet{
			Header: rtp.Header{
				Version: 2, Marker: i == len(payloads)-1, PayloadType: e2eVideoPT,
				SequenceNumber: s.vSeq, Timestamp: s.vTS, SSRC: 0x11223344,
			},
			Payload: p,
		})
		s.vSeq++
	}
	s.n++
	s.vTS += 90000 / e2eFPS

	// 48 kHz AAC: one 1024-sample AU per packet, keeping pace with video.
	for int64(s.aN)*1024*e2eFPS < int64(s.n)*48000 {
		au := make([]byte, 24)
		au[0] = s.tag
		binary.BigEndian.PutUint32(au[1:], uint32(s.aN))
		for i := 5; i < len(au); i++ {
			au[i] = byte(s.aN*3+i) ^ s.tag
		}
		payload := append([]byte{0x00, 0x10, byte(len(au) >> 5), byte(len(au) << 3)}, au...)
		audio = append(audio, &rtp.Packet{
			Header: rtp.Header{
				Version: 2, Marker: true, PayloadType: e2eAudioPT,
				SequenceNumber: s.aSeq, Timestamp: s.aTS, SSRC: 0x55667788,
			},
			Payload: payload,
		})
		s.aSeq++
		s.aTS += 1024
		s.aN++
	}
	return video, audio
}

// nal returns the payloads of one NAL with header hdr and size bytes: the
// body starts with the stream tag and the frame index.
func (s *e2eSynth) nal(hdr byte, size int) [][]byte {
	body := make([]byte, size-1)
	body[0] = s.tag
	binary.BigEndian.PutUint32(body[1:], uint32(s.n))
	for i := 5; i < len(body); i++ {
		body[i] = byte(s.n*7+i) ^ s.tag
	}
	if size <= e2eMTU {
		return [][]byte{append([]byte{hdr}, body...)}
	}
	var out [][]byte
	for first := true; len(body) > 0; first = false {
		n := min(len(body), e2eMTU-2)
		fu := []byte{hdr&0xE0 | 28, hdr & 0x1F}
		if first {
			fu[1] |= 0x80
		}
		if n == len(body) {
			fu[1] |= 0x40
		}
		out = append(out, append(fu, body[:n]...))
		body = body[n:]
	}
	return out
}

// pictureTag returns the stream tag and frame index of a payload that
// starts a picture NAL (single NAL or FU-A start fragment).
func pictureTag(p []byte) (tag byte, frame int, ok bool) {
	switch typ := p[0] & 0x1F; {
	case (typ == 1 || typ == 5) && len(p) >= 6:
		return p[1], int(binary.BigEndian.Uint32(p[2:6])), true
	case typ == 28 && len(p) >= 7 && p[1]&0x80 != 0:
		return p[2], int(binary.BigEndian.Uint32(p[3:7])), true
	}
	return 0, 0, false
}

// isSTAPA reports whether p is the STAP-A that starts each IDR access unit.
func isSTAPA(p []byte) bool { return len(p) > 0 && p[0]&0x1F == 24 }

// camStream is one path the camera serves.
type camStream struct {
	desc  *description.Session
	synth *e2eSynth
	st    *gortsplib.ServerStream
	video [][]byte // payloads sent, in order
	audio [][]byte
}

// e2eCam is a camera (or origin server) on loopback built on gortsplib.Server:
// it serves one or more paths, writes ~25 fps H.264 + AAC to each, counts
// what its clients do and can be stopped and restarted on the same ports.
type e2eCam struct {
	t    *testing.T
	opts camOpts

	mu        sync.Mutex
	srv       *gortsplib.Server
	addr      string
	rtpAddr   string
	rtcpAddr  string
	streams   map[string]*camStream
	conns     int
	plays     map[string]int
	authFails int

	sessionClosed chan struct{}
	played        chan string

	feedCancel context.CancelFunc
	feedDone   chan struct{}
}

// camOpts configures an e2eCam.
type camOpts struct {
	// user and pass are required on DESCRIBE and SETUP when set.
	user, pass string
	// digestOnly refuses Basic authentication.
	digestOnly bool
}

// newCam starts a camera serving the given paths (each with its tag byte),
// with UDP transport on a free pair, feeding until the test ends.
func newCam(t *testing.T, opts camOpts, paths map[string]byte) *e2eCam {
	t.Helper()
	c := &e2eCam{
		t: t, opts: opts,
		addr:          "127.0.0.1:0",
		streams:       map[string]*camStream{},
		plays:         map[string]int{},
		sessionClosed: make(chan struct{}, 64),
		played:        make(chan string, 64),
	}
	for path, tag := range paths {
		c.streams[path] = &camStream{desc: e2eDesc(e2eSPS), synth: &e2eSynth{tag: tag, sps: e2eSPS}}
	}
	rtp := e2eFreeUDPPair(t)
	c.rtpAddr, c.rtcpAddr = "127.0.0.1:"+strconv.Itoa(rtp), "127.0.0.1:"+strconv.Itoa(rtp+1)
	c.start()
	ctx, cancel := context.WithCancel(context.Background())
	c.feedCancel, c.feedDone = cancel, make(chan struct{})
	go c.feed(ctx)
	t.Cleanup(func() {
		c.feedCancel()
		<-c.feedDone
		c.stop()
	})
	return c
}

// start starts the server, on the same ports as before after a stop.
func (c *e2eCam) start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	srv := &gortsplib.Server{
		Handler:        c,
		RTSPAddress:    c.addr,
		UDPRTPAddress:  c.rtpAddr,
		UDPRTCPAddress: c.rtcpAddr,
	}
	if c.opts.digestOnly {
		srv.AuthMethods = []auth.VerifyMethod{auth.VerifyMethodDigestMD5}
	}
	require.NoError(c.t, srv.Start(), "test camera")
	c.addr = srv.NetListener().Addr().String()
	for _, cs := range c.streams {
		cs.st = &gortsplib.ServerStream{Server: srv, Desc: cs.desc}
		require.NoError(c.t, cs.st.Initialize())
	}
	c.srv = srv
}

// stop closes the server and every connection, as a camera that reboots.
func (c *e2eCam) stop() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	var sts []*gortsplib.ServerStream
	for _, cs := range c.streams {
		if cs.st != nil {
			sts = append(sts, cs.st)
			cs.st = nil
		}
	}
	c.mu.Unlock()
	for _, st := range sts {
		st.Close()
	}
	if srv != nil {
		srv.Close()
	}
}

// restart stops the camera and starts it again on the same ports; sps,
// when not nil, replaces the SPS of every stream (a changed encoder).
func (c *e2eCam) restart(sps []byte) {
	c.stop()
	c.mu.Lock()
	for _, cs := range c.streams {
		if sps != nil {
			cs.desc = e2eDesc(sps)
			cs.synth.sps = sps
		}
		cs.synth.restart()
	}
	c.mu.Unlock()
	c.start()
}

func (c *e2eCam) feed(ctx context.Context) {
	defer close(c.feedDone)
	tick := time.NewTicker(time.Second / e2eFPS)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		for _, cs := range c.streams {
			if cs.st == nil {
				continue
			}
			video, audio := cs.synth.frame()
			for _, pkt := range video {
				cs.video = append(cs.video, pkt.Payload)
				_ = cs.st.WritePacketRTP(cs.desc.Medias[0], pkt)
			}
			for _, pkt := range audio {
				cs.audio = append(cs.audio, pkt.Payload)
				_ = cs.st.WritePacketRTP(cs.desc.Medias[1], pkt)
			}
		}
		c.mu.Unlock()
	}
}

// nextFrame is the index of the next frame the camera sends on path.
func (c *e2eCam) nextFrame(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[path].synth.n
}

// url is the camera's URL of path with userinfo ("" for none).
func (c *e2eCam) url(userinfo, path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if userinfo != "" {
		userinfo += "@"
	}
	return "rtsp://" + userinfo + c.addr + "/" + path
}

// sent returns copies of the payload lists sent so far on path.
func (c *e2eCam) sent(path string) (video, audio [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.streams[path]
	return append([][]byte(nil), cs.video...), append([][]byte(nil), cs.audio...)
}

func (c *e2eCam) counts() (conns int, plays map[string]int, authFails int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	plays = map[string]int{}
	for k, v := range c.plays {
		plays[k] = v
	}
	return c.conns, plays, c.authFails
}

func camPath(p string) string { return strings.TrimPrefix(p, "/") }

func (c *e2eCam) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns++
}

func (c *e2eCam) OnSessionClose(*gortsplib.ServerHandlerOnSessionCloseCtx) {
	select {
	case c.sessionClosed <- struct{}{}:
	default:
	}
}

func (c *e2eCam) lookup(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.user != "" && !conn.VerifyCredentials(req, c.opts.user, c.opts.pass) {
		c.authFails++
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	cs := c.streams[camPath(path)]
	if cs == nil || cs.st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, cs.st, nil
}

func (c *e2eCam) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (c *e2eCam) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (c *e2eCam) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	path := camPath(ctx.Path)
	c.mu.Lock()
	c.plays[path]++
	c.mu.Unlock()
	select {
	case c.played <- path:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

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
