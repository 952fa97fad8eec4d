package rtspserver

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// pubConfig configures an in-process publisher.
type pubConfig struct {
	sps  []byte
	gop  int
	seq0 uint16
	ts0  uint32
}

// testPublisher is a gortsplib client that publishes the synthetic stream
// with ANNOUNCE and RECORD over TCP and remembers what it sent.
type testPublisher struct {
	c    *gortsplib.Client
	desc *description.Session
	gen  *h264Synth
	aud  *aacSynth

	mu     sync.Mutex
	video  [][]byte // payloads in send order
	audio  [][]byte
	sentAt map[int]time.Time // frame index → when its first packet was written
	notify chan struct{}

	paced     atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// startPublisher connects a publisher; the caller writes with send or pace.
func startPublisher(t testing.TB, url string, cfg pubConfig) (*testPublisher, error) {
	if cfg.sps == nil {
		cfg.sps = testSPS
	}
	tcp := gortsplib.ProtocolTCP
	p := &testPublisher{
		c:      &gortsplib.Client{Protocol: &tcp, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second},
		desc:   avDesc(cfg.sps),
		gen:    &h264Synth{GOP: cfg.gop, SPS: cfg.sps, Seq0: cfg.seq0, TS0: cfg.ts0},
		aud:    &aacSynth{seq: cfg.seq0 * 3},
		sentAt: make(map[int]time.Time),
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if err := p.c.StartRecording(url, p.desc); err != nil {
		return nil, err
	}
	t.Cleanup(p.close)
	return p, nil
}

// send writes n frames (and the audio that goes with them) at once.
func (p *testPublisher) send(n int) {
	for range n {
		p.sendFrame()
	}
}

func (p *testPublisher) sendFrame() {
	fr := p.gen.frame()
	now := time.Now()
	p.mu.Lock()
	p.sentAt[fr.index] = now
	for _, pkt := range fr.pkts {
		p.video = append(p.video, pkt.Payload)
	}
	p.mu.Unlock()
	for _, pkt := range fr.pkts {
		p.c.WritePacketRTP(p.desc.Medias[0], pkt) //nolint:errcheck // a closed publisher is the test's business
	}
	for p.aud.pts() <= fr.pts*48000/90000 {
		pkt, _ := p.aud.packet()
		p.mu.Lock()
		p.audio = append(p.audio, pkt.Payload)
		p.mu.Unlock()
		p.c.WritePacketRTP(p.desc.Medias[1], pkt) //nolint:errcheck // as above
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// pace writes frames at fps in real time until close.
func (p *testPublisher) pace(fps int) {
	p.paced.Store(true)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second / time.Duration(fps))
		defer tick.Stop()
		for {
			p.sendFrame()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// frames is the number of frames written so far.
func (p *testPublisher) frames() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sentAt)
}

// waitFrames waits until n frames have been written.
func (p *testPublisher) waitFrames(t testing.TB, n int) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for p.frames() < n {
		select {
		case <-p.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for the publisher to write %d frames", n)
		}
	}
}

// sent returns the video and audio payloads written so far.
func (p *testPublisher) sent() (video, audio [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.video...), append([][]byte(nil), p.audio...)
}

func (p *testPublisher) sendTime(frame int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.sentAt[frame]
	return at, ok
}

// close stops pacing and disconnects. It is idempotent.
func (p *testPublisher) close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		if p.paced.Load() {
			<-p.done
		}
		p.c.Close()
	})
}

// recvPacket is one packet a test reader received.
type recvPacket struct {
	media int // index in the reader's description
	pkt   *rtp.Packet
	at    time.Time
}

// testReader is a gortsplib client reading a path and keeping every packet.
type testReader struct {
	c        *gortsplib.Client
	desc     *description.Session
	setups   atomic.Int32
	authUsed atomic.Value // string: the scheme of the last Authorization header sent
	playResp atomic.Pointer[time.Time]
	playReq  atomic.Pointer[time.Time]
	playing  atomic.Bool

	mu     sync.Mutex
	pkts   []recvPacket
	notify chan struct{}
}

// dialReader describes, sets up every media and plays.
func dialReader(t testing.TB, url string, proto gortsplib.Protocol) (*testReader, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	r := &testReader{notify: make(chan struct{}, 1)}
	r.c = &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Protocol:     &proto,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		OnRequest: func(req *base.Request) {
			if req.Method == base.Setup {
				r.setups.Add(1)
			}
			if req.Method == base.Play && r.playReq.Load() == nil {
				now := time.Now()
				r.playReq.Store(&now)
			}
			if v := req.Header["Authorization"]; len(v) > 0 {
				r.authUsed.Store(strings.SplitN(v[0], " ", 2)[0])
			}
		},
		OnResponse: func(res *base.Response) {
			if r.playing.Load() && r.playResp.Load() == nil {
				now := time.Now()
				r.playResp.Store(&now)
			}
		},
	}
	if err := r.c.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(r.c.Close)
	desc, _, err := r.c.Describe(u)
	if err != nil {
		return nil, err
	}
	r.desc = desc
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return nil, err
	}
	r.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		at := time.Now()
		idx := 0
		for i, dm := range r.desc.Medias {
			if dm == m {
				idx = i
			}
		}
		r.mu.Lock()
		r.pkts = append(r.pkts, recvPacket{media: idx, pkt: pkt.Clone(), at: at})
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	})
	r.playing.Store(true)
	if _, err := r.c.Play(nil); err != nil {
		return nil, err
	}
	return r, nil
}

func startReader(t testing.TB, url string, proto gortsplib.Protocol) *testReader {
	t.Helper()
	r, err := dialReader(t, url, proto)
	require.NoError(t, err, "reader of %s over %v", url, proto)
	return r
}

func (r *testReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// waitCount waits until the reader holds at least n packets.
func (r *testReader) waitCount(t testing.TB, n int) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for r.count() < n {
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d packets, have %d", n, r.count())
		}
	}
}

// waitMore waits until the reader received more packets than it has now.
func (r *testReader) waitMore(t testing.TB, more int) {
	t.Helper()
	r.waitCount(t, r.count()+more)
}

func (r *testReader) packets() []recvPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvPacket(nil), r.pkts...)
}

// videoMedia is the index of the video media in the reader's description.
func (r *testReader) videoMedia() int {
	for i, m := range r.desc.Medias {
		if m.Type == description.MediaTypeVideo {
			return i
		}
	}
	return -1
}

// rawConn speaks RTSP by hand, for requests a client library would not send.
type rawConn struct {
	nc   net.Conn
	br   *bufio.Reader
	cseq int
}

func dialRaw(t testing.TB, host string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", host, testTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(testTimeout)))
	return &rawConn{nc: nc, br: bufio.NewReader(nc)}
}

// do sends one request and reads its response, skipping interleaved frames.
func (rc *rawConn) do(method base.Method, url string, header base.Header, body []byte) (*base.Response, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	rc.cseq++
	if header == nil {
		header = base.Header{}
	}
	header["CSeq"] = base.HeaderValue{strconv.Itoa(rc.cseq)}
	req := base.Request{Method: method, URL: u, Header: header, Body: body}
	buf, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := rc.nc.Write(buf); err != nil {
		return nil, err
	}
	return rc.readResponse()
}

func (rc *rawConn) readResponse() (*base.Response, error) {
	for {
		b, err := rc.br.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] == '$' {
			var fr base.InterleavedFrame
			if err := fr.Unmarshal(rc.br); err != nil {
				return nil, err
			}
			continue
		}
		var res base.Response
		if err := res.Unmarshal(rc.br); err != nil {
			return nil, err
		}
		return &res, nil
	}
}

// mustDo is do that fails the test on a transport error.
func (rc *rawConn) mustDo(t testing.TB, method base.Method, url string, header base.Header, body []byte) *base.Response {
	t.Helper()
	res, err := rc.do(method, url, header, body)
	require.NoError(t, err, "%s %s", method, url)
	return res
}

// sessionID extracts the session id of a SETUP response.
func sessionID(t testing.TB, res *base.Response) string {
	t.Helper()
	v := res.Header["Session"]
	require.Len(t, v, 1, "Session header")
	id := v[0]
	for i, c := range id {
		if c == ';' {
			id = id[:i]
			break
		}
	}
	return id
}

func (rc *rawConn) String() string { return fmt.Sprintf("raw conn %s", rc.nc.LocalAddr()) }
