package hub

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// testDeadline bounds every wait of the tests, so a hang fails with a message.
const testDeadline = 5 * time.Second

var (
	testSPS  = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92}
	testSPS2 = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	testPPS  = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

const (
	videoPT = 96
	audioPT = 97
)

// within waits for ch to be closed (or to deliver) for at most d.
func within(t testing.TB, d time.Duration, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond until it holds, for state changes no event announces
// (a path forgotten by the hub after its source returned). Bounded by testDeadline.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.After(testDeadline)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
		case <-tick.C:
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func h264Format(sps []byte) *format.H264 {
	return &format.H264{PayloadTyp: videoPT, PacketizationMode: 1, SPS: sps, PPS: testPPS}
}

func aacFormat() *format.MPEG4Audio {
	return &format.MPEG4Audio{
		PayloadTyp: audioPT,
		Config: &mpeg4audio.AudioSpecificConfig{
			Type:          mpeg4audio.ObjectTypeAACLC,
			SampleRate:    48000,
			ChannelConfig: 2,
		},
		SizeLength:       13,
		IndexLength:      3,
		IndexDeltaLength: 3,
	}
}

// avDesc is a camera's description: H.264 video (track 0) and AAC audio (track 1).
func avDesc() *description.Session {
	return &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format(testSPS)}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{aacFormat()}},
	}}
}

func videoDesc(sps []byte) *description.Session {
	return &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format(sps)}},
	}}
}

func audioDesc() *description.Session {
	return &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeAudio, Formats: []format.Format{aacFormat()}},
	}}
}

// genPacket is one generated packet with what the hub must derive from it.
type genPacket struct {
	Pkt *rtp.Packet
	PTS int64
	// Key says the packet belongs to an IDR access unit (or is audio).
	Key bool
	// AUStart says the packet is the first of its access unit.
	AUStart bool
}

// h264Gen produces the RTP packets of a synthetic H.264 stream (RFC 6184,
// packetization mode 1): an IDR access unit is a STAP-A with SPS and PPS then
// FU-A fragments of a type-5 NAL; other access units are one type-1 NAL,
// single or FU-A fragmented. Sequence numbers and the 90 kHz timestamp advance.
type h264Gen struct {
	// GOP is the number of access units from one IDR to the next. Defaults to 10.
	GOP int
	// IDRSize and PSize are the NAL sizes of IDR and other pictures. Default to 4000 and 600.
	IDRSize, PSize int
	// MTU is the largest payload; larger NALs are fragmented. Defaults to 1200.
	MTU int

	seq uint16
	ts  uint32
	n   int
}

func (g *h264Gen) defaults() {
	if g.GOP <= 0 {
		g.GOP = 10
	}
	if g.IDRSize <= 0 {
		g.IDRSize = 4000
	}
	if g.PSize <= 0 {
		g.PSize = 600
	}
	if g.MTU <= 0 {
		g.MTU = 1200
	}
	if g.n == 0 && g.seq == 0 {
		g.seq = 40000 // wraps around during long tests
		g.ts = 0xfffe0000
	}
}

// nextIsKey reports whether the next access unit is an IDR.
func (g *h264Gen) nextIsKey() bool {
	g.defaults()
	return g.n%g.GOP == 0
}

// AU returns the packets of the next access unit.
func (g *h264Gen) AU() []genPacket {
	g.defaults()
	key := g.nextIsKey()
	pts := int64(g.n) * 3000
	var payloads [][]byte
	if key {
		stap := []byte{0x78}
		for _, ps := range [][]byte{testSPS, testPPS} {
			stap = append(stap, byte(len(ps)>>8), byte(len(ps)))
			stap = append(stap, ps...)
		}
		payloads = append(payloads, stap)
		payloads = append(payloads, g.nal(0x65, g.IDRSize)...)
	} else {
		payloads = g.nal(0x41, g.PSize)
	}
	out := make([]genPacket, len(payloads))
	for i, p := range payloads {
		out[i] = genPacket{
			Pkt: &rtp.Packet{
				Header: rtp.Header{
					Version:        2,
					Marker:         i == len(payloads)-1,
					PayloadType:    videoPT,
					SequenceNumber: g.seq,
					Timestamp:      g.ts,
					SSRC:           0x11223344,
				},
				Payload: p,
			},
			PTS:     pts,
			Key:     key,
			AUStart: i == 0,
		}
		g.seq++
	}
	g.n++
	g.ts += 3000
	return out
}

// nal returns the payloads of one NAL unit with header hdr and size bytes in all.
func (g *h264Gen) nal(hdr byte, size int) [][]byte {
	body := make([]byte, size-1)
	for i := range body {
		body[i] = byte(g.n*7 + i)
	}
	if size <= g.MTU {
		return [][]byte{append([]byte{hdr}, body...)}
	}
	var out [][]byte
	for chunk := g.MTU - 2; len(body) > 0; {
		c := min(chunk, len(body))
		fuHdr := hdr & 0x1f
		if len(out) == 0 {
			fuHdr |= 0x80
		}
		if c == len(body) {
			fuHdr |= 0x40
		}
		out = append(out, append([]byte{hdr&0xe0 | 28, fuHdr}, body[:c]...))
		body = body[c:]
	}
	return out
}

// AUs returns the packets of n access units.
func (g *h264Gen) AUs(n int) []genPacket {
	var out []genPacket
	for range n {
		out = append(out, g.AU()...)
	}
	return out
}

// aacGen produces AAC packets (RFC 3640, AAC-hbr, one access unit each) on a 48 kHz clock.
type aacGen struct {
	seq uint16
	ts  uint32
	n   int
}

func (g *aacGen) Packet() genPacket {
	size := 200
	// One AU header: 13 bits of size, 3 bits of index.
	payload := []byte{0x00, 0x10, byte(size >> 5), byte(size << 3)}
	for i := range size {
		payload = append(payload, byte(g.n+i))
	}
	p := genPacket{
		Pkt: &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         true,
				PayloadType:    audioPT,
				SequenceNumber: g.seq,
				Timestamp:      g.ts,
				SSRC:           0x55667788,
			},
			Payload: payload,
		},
		PTS:     int64(g.n) * 1024,
		Key:     true,
		AUStart: true,
	}
	g.seq++
	g.ts += 1024
	g.n++
	return p
}

// avFeeder writes a synthetic camera session (video plus, when the
// description has it, audio) to a publisher and logs every packet in the
// order the hub hands them to readers.
type avFeeder struct {
	pub   *Publisher
	video *description.Media
	audio *description.Media
	vg    h264Gen
	ag    aacGen
	log   []sent
}

// sent is a packet the feeder wrote, in dispatch order.
type sent struct {
	Track int
	genPacket
}

func newFeeder(pub *Publisher, desc *description.Session, gop int) *avFeeder {
	f := &avFeeder{pub: pub, vg: h264Gen{GOP: gop}}
	for _, m := range desc.Medias {
		switch m.Type {
		case description.MediaTypeVideo:
			f.video = m
		case description.MediaTypeAudio:
			f.audio = m
		}
	}
	return f
}

// AUs writes n video access units, each followed by an audio packet.
func (f *avFeeder) AUs(n int) {
	for range n {
		if f.video != nil {
			for _, p := range f.vg.AU() {
				f.pub.WriteRTP(f.video, p.Pkt, p.PTS, time.Time{})
				f.log = append(f.log, sent{0, p})
			}
		}
		if f.audio != nil {
			p := f.ag.Packet()
			f.pub.WriteRTP(f.audio, p.Pkt, p.PTS, time.Time{})
			track := 1
			if f.video == nil {
				track = 0
			}
			f.log = append(f.log, sent{track, p})
		}
	}
}

// partialAU writes the first packet of the next video access unit without
// its marker bit, so the hub holds it back waiting for the rest. It is not logged.
func (f *avFeeder) partialAU() {
	p := f.vg.AU()[0]
	pkt := *p.Pkt
	pkt.Marker = false
	f.pub.WriteRTP(f.video, &pkt, p.PTS, time.Time{})
}

// keyIndices lists the log indices where an IDR access unit starts.
func (f *avFeeder) keyIndices() []int {
	var out []int
	for i, s := range f.log {
		if s.Track == 0 && f.video != nil && s.Key && s.AUStart {
			out = append(out, i)
		}
	}
	return out
}

// got is what a reader received, copied out of the unit.
type got struct {
	Track        int
	Seq          uint16
	TS           uint32
	Marker       bool
	Payload      []byte
	AUStart      bool
	RandomAccess bool
	Cached       bool
	Gen          uint32
}

// collector is a reader's OnUnit that records every unit. With block set it
// records the first unit, then waits until block is closed.
type collector struct {
	block chan struct{}

	mu      sync.Mutex
	units   []got
	changed chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) OnUnit(u *Unit, cached bool) error {
	c.mu.Lock()
	c.units = append(c.units, got{
		Track:        u.Track.Index,
		Seq:          u.Packet.SequenceNumber,
		TS:           u.Packet.Timestamp,
		Marker:       u.Packet.Marker,
		Payload:      append([]byte(nil), u.Packet.Payload...),
		AUStart:      u.AUStart,
		RandomAccess: u.RandomAccess,
		Cached:       cached,
		Gen:          u.Gen,
	})
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	if c.block != nil {
		<-c.block
	}
	return nil
}

func (c *collector) snapshot() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.units...)
}

// wait returns the units received once there are at least n.
func (c *collector) wait(t testing.TB, n int) []got {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		if units := c.snapshot(); len(units) >= n {
			return units
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %d units, have %d", testDeadline, n, len(c.snapshot()))
		}
	}
}

// addReader attaches a collecting reader that is closed when the test ends.
func addReader(t testing.TB, st *Stream, conf ReaderConfig) (*Reader, *collector) {
	t.Helper()
	return addCollector(t, st, conf, newCollector())
}

// addBlockedReader attaches a reader that blocks in its first OnUnit until
// the collector's block channel is closed.
func addBlockedReader(t testing.TB, st *Stream, conf ReaderConfig) (*Reader, *collector) {
	t.Helper()
	c := newCollector()
	c.block = make(chan struct{})
	return addCollector(t, st, conf, c)
}

func addCollector(t testing.TB, st *Stream, conf ReaderConfig, c *collector) (*Reader, *collector) {
	t.Helper()
	conf.OnUnit = c.OnUnit
	if conf.QueueSize == 0 {
		conf.QueueSize = 1 << 14
	}
	r, err := st.AddReader(conf)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r, c
}

// newHub starts a hub whose every path has conf; it is closed when the test ends.
func newHub(t testing.TB, conf PathConf, newSource func(*Path) Runner) *Hub {
	t.Helper()
	h := &Hub{
		Resolve:   func(string) (PathConf, bool) { return conf, true },
		NewSource: newSource,
		Logger:    discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	return h
}

// publish acquires name and publishes desc on it from outside.
func publish(t testing.TB, h *Hub, name string, desc *description.Session) (*Path, *Publisher) {
	t.Helper()
	p, err := h.Acquire(name)
	require.NoError(t, err)
	t.Cleanup(p.Release)
	pub, err := p.Publish(desc)
	require.NoError(t, err)
	return p, pub
}

// requireSame asserts that the reader received exactly the logged packets, in order.
func requireSame(t testing.TB, want []sent, gotUnits []got) {
	t.Helper()
	for i := range min(len(want), len(gotUnits)) {
		w, g := want[i], gotUnits[i]
		if w.Track != g.Track || w.Pkt.SequenceNumber != g.Seq {
			t.Fatalf("unit %d: got track %d seq %d (gen %d), want track %d seq %d", i, g.Track, g.Seq, g.Gen, w.Track, w.Pkt.SequenceNumber)
		}
	}
	require.Equal(t, len(want), len(gotUnits), "number of units received")
	for i, w := range want {
		g := gotUnits[i]
		require.Equal(t, w.Track, g.Track, "unit %d: track", i)
		require.Equal(t, w.Pkt.SequenceNumber, g.Seq, "unit %d: sequence number", i)
		require.Equal(t, w.Pkt.Timestamp, g.TS, "unit %d: timestamp", i)
		require.Equal(t, w.Pkt.Marker, g.Marker, "unit %d: marker", i)
		require.Equal(t, w.Pkt.Payload, g.Payload, "unit %d: payload", i)
		require.Equal(t, w.AUStart, g.AUStart, "unit %d: AUStart", i)
		require.Equal(t, w.Key, g.RandomAccess, "unit %d: RandomAccess", i)
	}
}

// fakeSource is a Runner that records its starts and stops and, unless
// silent, publishes desc and writes one IDR access unit.
type fakeSource struct {
	desc   *description.Session
	silent bool
	// hold, when set, keeps Run from returning after its context ended
	// until it is closed; stopping is signalled first.
	hold     chan struct{}
	stopping chan struct{}

	mu      sync.Mutex
	nStarts int
	nStops  int
	starts  chan struct{}
	stops   chan struct{}
}

func newFakeSource(desc *description.Session) *fakeSource {
	return &fakeSource{
		desc:     desc,
		starts:   make(chan struct{}, 16),
		stops:    make(chan struct{}, 16),
		stopping: make(chan struct{}, 16),
	}
}

// runner returns the Runner of path p; use it as Hub.NewSource.
func (f *fakeSource) runner(p *Path) Runner { return fakeRun{f, p} }

func (f *fakeSource) counts() (starts, stops int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nStarts, f.nStops
}

type fakeRun struct {
	f *fakeSource
	p *Path
}

func (r fakeRun) Run(ctx context.Context) {
	f := r.f
	f.mu.Lock()
	f.nStarts++
	f.mu.Unlock()
	f.starts <- struct{}{}
	defer func() {
		if f.hold != nil {
			f.stopping <- struct{}{}
			<-f.hold
		}
		f.mu.Lock()
		f.nStops++
		f.mu.Unlock()
		f.stops <- struct{}{}
	}()
	if f.silent {
		<-ctx.Done()
		return
	}
	pub, err := r.p.PublishSource(f.desc)
	if err != nil {
		return
	}
	defer pub.Close()
	newFeeder(pub, f.desc, 10).AUs(1)
	select {
	case <-ctx.Done():
	case <-pub.Done():
	}
}
