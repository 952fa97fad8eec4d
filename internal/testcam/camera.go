// Package testcam is a scripted RTSP camera for the project's tests: a
// gortsplib server on loopback that serves synthetic H.264 and AAC on one
// or more paths and can be told, mid-stream, to misbehave the way real
// cameras do (drop or reset its connections, stall with the connection
// open, reboot with the same or other codecs, send broken RTP, serve odd
// SDP). It is imported by tests only.
package testcam

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// Options configures a Camera.
type Options struct {
	// User and Pass are required on DESCRIBE and SETUP when set.
	User, Pass string
	// DigestOnly refuses Basic authentication.
	DigestOnly bool
	// PictureSize, when not 0, makes every P picture this many bytes: a
	// camera with a high bitrate.
	PictureSize int
	// EditSDP, when set, rewrites the SDP the camera answers DESCRIBE with
	// (to add unknown or broken attributes). Controls are trackID=<index>.
	EditSDP func(sdp string) string
}

// Change is how a camera comes back from Restart.
type Change struct {
	// SPS, when not nil, replaces the SPS (a re-configured encoder: other
	// resolution or profile).
	SPS []byte
	// NoAudio drops the audio track (a different set of codecs).
	NoAudio bool
}

// Fault is a misbehaviour the camera applies to the next frames of a path.
type Fault int

// Faults Inject can apply.
const (
	// SeqGap skips 50 video and 50 audio sequence numbers, as if the
	// packets had been lost on the way.
	SeqGap Fault = iota + 1
	// Reorder sends the first two fragments of the next fragmented
	// picture in the wrong order.
	Reorder
	// TSForward moves video and audio timestamps 10 s forward.
	TSForward
	// TSBackward moves video and audio timestamps 10 s back.
	TSBackward
	// Oversize sends the next P picture as one 4,000-byte RTP packet,
	// larger than any UDP datagram. It is written as a raw interleaved
	// frame to every TCP connection that plays (video on channel 0, where
	// gortsplib clients put the first media); UDP readers do not get it.
	Oversize
	// TruncatedNAL cuts the next fragmented picture after its first FU-A
	// fragment: the others are never sent, and sequence numbers go on
	// without a gap, as an encoder that gave up mid-NAL does.
	TruncatedNAL
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case SeqGap:
		return "sequence gap"
	case Reorder:
		return "reordering"
	case TSForward:
		return "timestamp jump forward"
	case TSBackward:
		return "timestamp jump back"
	case Oversize:
		return "oversize packet"
	case TruncatedNAL:
		return "truncated NAL unit"
	}
	return "fault " + strconv.Itoa(int(f))
}

// pendingFault is a fault waiting for a frame it applies to.
type pendingFault struct {
	fault Fault
	done  chan struct{}
}

// stream is one path the camera serves.
type stream struct {
	desc   *description.Session
	synth  *Synth
	st     *gortsplib.ServerStream
	faults []pendingFault
	video  [][]byte // payloads sent, in order
	audio  [][]byte
}

// Camera is an RTSP camera (or origin server) on loopback. It writes ~25 fps
// H.264 (+ AAC) to each path from New until the test ends, counts what its
// clients do, and can be stopped and restarted on the same ports.
type Camera struct {
	t    testing.TB
	opts Options

	mu        sync.Mutex
	srv       *gortsplib.Server
	addr      string
	rtpAddr   string
	rtcpAddr  string
	streams   map[string]*stream
	conns     map[*faultConn]struct{}
	opened    int
	plays     map[string]int
	authFails int

	// SessionClosed receives (without blocking) when an RTSP session ends.
	SessionClosed chan struct{}
	// Played receives (without blocking) the path of every PLAY.
	Played chan string

	feedCancel context.CancelFunc
	feedDone   chan struct{}
}

// New starts a camera serving the given paths (each with its tag byte),
// with the UDP transport on a free port pair, feeding until the test ends.
func New(t testing.TB, opts Options, paths map[string]byte) *Camera {
	t.Helper()
	c := &Camera{
		t: t, opts: opts,
		addr:          "127.0.0.1:0",
		streams:       map[string]*stream{},
		conns:         map[*faultConn]struct{}{},
		plays:         map[string]int{},
		SessionClosed: make(chan struct{}, 64),
		Played:        make(chan string, 64),
	}
	for path, tag := range paths {
		synth := NewSynth(tag, SPS)
		synth.PictureSize = opts.PictureSize
		c.streams[path] = &stream{desc: Desc(SPS, true), synth: synth}
	}
	rtpPort := FreeUDPPair(t)
	c.rtpAddr, c.rtcpAddr = "127.0.0.1:"+strconv.Itoa(rtpPort), "127.0.0.1:"+strconv.Itoa(rtpPort+1)
	c.Start()
	ctx, cancel := context.WithCancel(context.Background())
	c.feedCancel, c.feedDone = cancel, make(chan struct{})
	go c.feed(ctx)
	t.Cleanup(func() {
		c.feedCancel()
		<-c.feedDone
		c.Stop()
	})
	return c
}

// FreeUDPPair finds an even port p in 20000–60000 where p and p+1 are
// both free on 127.0.0.1, and releases them for the caller.
func FreeUDPPair(t testing.TB) int {
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

// Start starts the server, on the same ports as before after a Stop.
func (c *Camera) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	srv := &gortsplib.Server{
		Handler:        c,
		RTSPAddress:    c.addr,
		UDPRTPAddress:  c.rtpAddr,
		UDPRTCPAddress: c.rtcpAddr,
		Listen:         c.listen,
	}
	if c.opts.DigestOnly {
		srv.AuthMethods = []auth.VerifyMethod{auth.VerifyMethodDigestMD5}
	}
	if err := srv.Start(); err != nil {
		c.t.Fatalf("test camera: %v", err)
	}
	c.addr = srv.NetListener().Addr().String()
	for _, cs := range c.streams {
		cs.st = &gortsplib.ServerStream{Server: srv, Desc: cs.desc}
		if err := cs.st.Initialize(); err != nil {
			c.t.Fatalf("test camera stream: %v", err)
		}
	}
	c.srv = srv
}

// Stop closes the server and every connection, as a camera that reboots.
func (c *Camera) Stop() {
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

// Restart stops the camera and starts it again on the same ports. With a
// nil change it comes back with the same codecs; sequence numbers and
// timestamps jump either way, as a rebooted camera's do.
func (c *Camera) Restart(change *Change) {
	c.Stop()
	c.mu.Lock()
	for _, cs := range c.streams {
		if change != nil {
			sps := cs.synth.SPS
			if change.SPS != nil {
				sps = change.SPS
			}
			cs.desc = Desc(sps, !change.NoAudio)
			cs.synth.SPS = sps
		}
		cs.synth.Restart()
	}
	c.mu.Unlock()
	c.Start()
}

// DropConnections closes every RTSP connection of the camera (a FIN, as a
// camera that ends its sessions); the server keeps accepting new ones. It
// returns how many it closed.
func (c *Camera) DropConnections() int {
	return c.eachConn(func(fc *faultConn) { _ = fc.Conn.Close() })
}

// ResetConnections aborts every RTSP connection with a TCP RST (a camera
// that crashed or a middlebox that dropped the flow); the server keeps
// accepting new ones. It returns how many it reset.
func (c *Camera) ResetConnections() int {
	return c.eachConn(func(fc *faultConn) {
		if tc, ok := fc.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = fc.Conn.Close()
	})
}

// Stall makes every current RTSP connection go silent with the connection
// open: nothing more is written to it (responses, RTP and RTCP are thrown
// away) until the peer gives up and closes it. New connections work.
func (c *Camera) Stall() int {
	return c.eachConn(func(fc *faultConn) { fc.stalled.Store(true) })
}

func (c *Camera) eachConn(f func(*faultConn)) int {
	c.mu.Lock()
	conns := make([]*faultConn, 0, len(c.conns))
	for fc := range c.conns {
		conns = append(conns, fc)
	}
	c.mu.Unlock()
	for _, fc := range conns {
		f(fc)
	}
	return len(conns)
}

// Inject applies f to the next frames of path; the channel it returns is
// closed once the fault went out.
func (c *Camera) Inject(path string, f Fault) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.streams[path]
	done := make(chan struct{})
	cs.faults = append(cs.faults, pendingFault{fault: f, done: done})
	return done
}

// NextFrame is the index of the next frame the camera sends on path.
func (c *Camera) NextFrame(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[path].synth.Next()
}

// URL is the camera's URL of path with userinfo ("" for none).
func (c *Camera) URL(userinfo, path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if userinfo != "" {
		userinfo += "@"
	}
	return "rtsp://" + userinfo + c.addr + "/" + path
}

// Sent returns copies of the payload lists sent so far on path.
func (c *Camera) Sent(path string) (video, audio [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.streams[path]
	return append([][]byte(nil), cs.video...), append([][]byte(nil), cs.audio...)
}

// Counts returns the connections accepted, the PLAYs per path and the
// failed authentications so far.
func (c *Camera) Counts() (conns int, plays map[string]int, authFails int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	plays = make(map[string]int, len(c.plays))
	for k, v := range c.plays {
		plays[k] = v
	}
	return c.opened, plays, c.authFails
}

func (c *Camera) feed(ctx context.Context) {
	defer close(c.feedDone)
	tick := time.NewTicker(time.Second / FPS)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		for _, cs := range c.streams {
			if cs.st != nil {
				c.writeFrame(cs)
			}
		}
		c.mu.Unlock()
	}
}

// writeFrame sends the next frame of cs, with the first pending fault
// applied. c.mu is held.
func (c *Camera) writeFrame(cs *stream) {
	s := cs.synth
	var raw *rtp.Packet
	var video, audio []*rtp.Packet
	fault := Fault(0)
	if len(cs.faults) > 0 {
		fault = cs.faults[0].fault
	}
	applied := true
	switch fault {
	case SeqGap:
		s.VSeq += 50
		s.ASeq += 50
	case TSForward:
		s.VTS += 10 * 90000
		s.ATS += 10 * 48000
	case TSBackward:
		s.VTS -= 10 * 90000
		s.ATS -= 10 * 48000
	}
	video, audio = s.Frame()
	switch fault {
	case Reorder, TruncatedNAL:
		if len(video) < 2 || IsSTAPA(video[0].Payload) {
			applied = false // not a fragmented P picture: wait for one
			break
		}
		if fault == Reorder {
			video[0], video[1] = video[1], video[0]
		} else {
			s.VSeq -= uint16(len(video) - 1)
			video = video[:1]
		}
	case Oversize:
		if len(video) != 1 {
			applied = false
			break
		}
		// Replace the picture with one of 4,000 bytes in a single packet.
		big := make([]byte, 4000)
		copy(big, video[0].Payload)
		for i := len(video[0].Payload); i < len(big); i++ {
			big[i] = byte(i)
		}
		raw = video[0]
		raw.Payload = big
		video = nil
	}
	if applied && fault != 0 {
		close(cs.faults[0].done)
		cs.faults = cs.faults[1:]
	}
	if raw != nil {
		cs.video = append(cs.video, raw.Payload)
		c.writeRaw(raw)
	}
	for _, pkt := range video {
		cs.video = append(cs.video, pkt.Payload)
		_ = cs.st.WritePacketRTP(cs.desc.Medias[0], pkt)
	}
	if len(cs.desc.Medias) < 2 {
		return
	}
	for _, pkt := range audio {
		cs.audio = append(cs.audio, pkt.Payload)
		_ = cs.st.WritePacketRTP(cs.desc.Medias[1], pkt)
	}
}

// writeRaw writes pkt as an interleaved frame on channel 0 of every TCP
// connection that played. c.mu is held.
func (c *Camera) writeRaw(pkt *rtp.Packet) {
	b, err := pkt.Marshal()
	if err != nil {
		return
	}
	frame := make([]byte, 4+len(b))
	frame[0] = '$'
	binary.BigEndian.PutUint16(frame[2:], uint16(len(b)))
	copy(frame[4:], b)
	for fc := range c.conns {
		if fc.playing.Load() {
			_, _ = fc.Write(frame)
		}
	}
}

// listen wraps the server's TCP listener, so that the camera can reach
// the connections it accepts.
func (c *Camera) listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &faultListener{Listener: l, c: c}, nil
}

type faultListener struct {
	net.Listener
	c *Camera
}

func (l *faultListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: conn, c: l.c}
	l.c.mu.Lock()
	l.c.conns[fc] = struct{}{}
	l.c.mu.Unlock()
	return fc, nil
}

// faultConn is one accepted connection. Writes are whole RTSP messages or
// interleaved frames (gortsplib writes each with one call), serialised so
// that a raw frame never lands inside another.
type faultConn struct {
	net.Conn
	c         *Camera
	wmu       sync.Mutex
	stalled   atomic.Bool
	playing   atomic.Bool
	closeOnce sync.Once
}

func (fc *faultConn) Write(p []byte) (int, error) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if fc.stalled.Load() {
		return len(p), nil
	}
	return fc.Conn.Write(p)
}

func (fc *faultConn) Close() error {
	fc.closeOnce.Do(func() {
		fc.c.mu.Lock()
		delete(fc.c.conns, fc)
		fc.c.mu.Unlock()
	})
	err := fc.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (c *Camera) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened++
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (c *Camera) OnSessionClose(*gortsplib.ServerHandlerOnSessionCloseCtx) {
	select {
	case c.SessionClosed <- struct{}{}:
	default:
	}
}

func (c *Camera) lookup(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *stream, error) {
	if c.opts.User != "" && !conn.VerifyCredentials(req, c.opts.User, c.opts.Pass) {
		c.authFails++
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	cs := c.streams[strings.TrimPrefix(path, "/")]
	if cs == nil || cs.st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, cs, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *Camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, cs, err := c.lookup(ctx.Conn, ctx.Request, ctx.Path)
	if cs == nil {
		return res, nil, err
	}
	if c.opts.EditSDP == nil {
		return res, cs.st, nil
	}
	desc := &description.Session{}
	for i, m := range cs.desc.Medias {
		mc := *m
		mc.Control = "trackID=" + strconv.Itoa(i)
		desc.Medias = append(desc.Medias, &mc)
	}
	sdp, err := desc.Marshal()
	if err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, err
	}
	res.Header = base.Header{"Content-Type": base.HeaderValue{"application/sdp"}}
	res.Body = []byte(c.opts.EditSDP(string(sdp)))
	return res, nil, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *Camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, cs, err := c.lookup(ctx.Conn, ctx.Request, ctx.Path)
	if cs == nil {
		return res, nil, err
	}
	return res, cs.st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *Camera) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	c.mu.Lock()
	c.plays[path]++
	if fc, ok := ctx.Conn.NetConn().(*faultConn); ok {
		fc.playing.Store(true)
	}
	c.mu.Unlock()
	select {
	case c.Played <- path:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}
