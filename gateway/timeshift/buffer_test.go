package timeshift

import (
	"context"
	"encoding/binary"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	sps = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92}
	pps = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

const (
	fps = 25
	gop = 25
)

func videoDesc(s []byte) *description.Session {
	return &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: s, PPS: pps}},
	}}}
}

// camera writes numbered H.264 frames into a publisher with explicit
// capture times, as fast as the test wants: frame n is captured at
// epoch + n/fps and carries n in its first payload bytes.
type camera struct {
	pub   *hub.Publisher
	desc  *description.Session
	epoch time.Time
	seq   uint16
	n     int
	size  int // payload bytes per frame
}

func (c *camera) frame() {
	key := c.n%gop == 0
	typ := byte(0x41)
	if key {
		typ = 0x65
	}
	ts := uint32(c.n * 90000 / fps)
	ntp := c.epoch.Add(time.Duration(c.n) * time.Second / fps)
	write := func(payload []byte, marker bool) {
		c.pub.WriteRTP(c.desc.Medias[0], &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: c.seq, Timestamp: ts, Marker: marker, SSRC: 1},
			Payload: payload,
		}, int64(ts), ntp)
		c.seq++
	}
	if key {
		stap := []byte{0x78, 0, byte(len(sps))}
		stap = append(append(stap, sps...), 0, byte(len(pps)))
		write(append(stap, pps...), false)
	}
	body := make([]byte, max(c.size, 8))
	binary.BigEndian.PutUint32(body, uint32(c.n))
	// FU-A fragments of at most 1200 bytes.
	for first := true; len(body) > 0; first = false {
		n := min(len(body), 1200)
		fu := []byte{typ&0xE0 | 28, typ & 0x1F}
		if first {
			fu[1] |= 0x80
		}
		if n == len(body) {
			fu[1] |= 0x40
		}
		write(append(fu, body[:n]...), n == len(body))
		body = body[n:]
	}
	c.n++
}

// frameIndex reads the frame number of a frame the camera wrote.
func frameIndex(t testing.TB, f *timeline.Frame) int {
	t.Helper()
	for _, p := range f.Packets {
		if len(p.Payload) >= 6 && p.Payload[0]&0x1F == 28 && p.Payload[1]&0x80 != 0 {
			return int(binary.BigEndian.Uint32(p.Payload[2:6]))
		}
	}
	t.Fatal("frame without index")
	return 0
}

type env struct {
	hub  *hub.Hub
	keep *Keeper
	cam  *camera
}

// newEnv runs a hub with the publisher path "cam", a keeper with the given
// settings on it, and a camera publishing into it.
func newEnv(t *testing.T, s Settings) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	h := &hub.Hub{
		Resolve: func(name string) (hub.PathConf, bool) {
			return hub.PathConf{Name: name, AcceptPublishers: true, OverridePublisher: true, OutageGrace: time.Minute}, name == "cam"
		},
		Logger: logger,
	}
	require.NoError(t, h.Start())
	k := &Keeper{Paths: h, Logger: logger}
	k.Set(map[string]Settings{"cam": s})
	t.Cleanup(func() {
		k.Close()
		h.Close()
	})
	e := &env{hub: h, keep: k}
	e.cam = e.publish(t, sps)
	return e
}

func (e *env) publish(t *testing.T, s []byte) *camera {
	t.Helper()
	p, err := e.hub.Acquire("cam")
	require.NoError(t, err)
	t.Cleanup(p.Release)
	desc := videoDesc(s)
	pub, err := p.Publish(desc)
	require.NoError(t, err)
	t.Cleanup(pub.Close)
	// The keeper reads the stream before the camera writes: what it
	// missed it could only get from the hub's short history.
	deadline := time.Now().Add(10 * time.Second)
	for pub.Stream().Attached() == 0 {
		require.True(t, time.Now().Before(deadline), "the keeper never attached")
		<-time.After(time.Millisecond) // the hub offers no event for a new reader
	}
	return &camera{pub: pub, desc: desc, epoch: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), size: 3000}
}

// waitFrame follows the buffer until frame n is in it.
func (e *env) waitFrame(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := e.keep.Buffer("cam")
	for {
		start, _ := b.Span()
		if !start.IsZero() {
			cur, _, err := b.Seek(start)
			if err == nil {
				for {
					f, err := cur.Next(ctx)
					if err != nil {
						cur.Close()
						if ctx.Err() != nil {
							t.Fatalf("frame %d never reached the buffer", n)
						}
						break // evicted under us: start over
					}
					if frameIndex(t, f) >= n {
						cur.Close()
						return
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("frame %d never reached the buffer", n)
		case <-time.After(5 * time.Millisecond): // nothing to wait on before the first frame
		}
	}
}

func TestBufferKeepsTheWindow(t *testing.T) {
	e := newEnv(t, Settings{Window: 4 * time.Second})
	for range 10 * fps {
		e.cam.frame()
	}
	e.waitFrame(t, 10*fps-1)
	b := e.keep.Buffer("cam")
	start, end := b.Span()
	assert.Equal(t, e.cam.epoch.Add((10*fps-1)*time.Second/fps), end, "the newest frame is the live edge")
	assert.LessOrEqual(t, end.Sub(start), 4*time.Second)
	assert.Greater(t, end.Sub(start), 3*time.Second, "the window is full, less at most one GOP")

	// Seeking lands on the keyframe at or before the target.
	cur, at, err := b.Seek(end.Add(-1500 * time.Millisecond))
	require.NoError(t, err)
	defer cur.Close()
	f, err := cur.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, at, f.Time)
	assert.True(t, f.Random)
	assert.Equal(t, 8*fps, frameIndex(t, f), "8.36 s → the keyframe of second 8")
	f, err = cur.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 8*fps+1, frameIndex(t, f), "then the frames in order")

	for _, bad := range []time.Time{start.Add(-time.Millisecond), end.Add(2 * time.Second), {}} {
		_, _, err := b.Seek(bad)
		assert.ErrorIs(t, err, timeline.ErrOutOfRange, "seek to %v", bad)
	}
}

func TestBufferBoundedByBytes(t *testing.T) {
	e := newEnv(t, Settings{Window: time.Hour, MaxBytes: 100_000})
	for range 4 * fps {
		e.cam.frame()
	}
	e.waitFrame(t, 4*fps-1)
	b := e.keep.Buffer("cam")
	assert.LessOrEqual(t, b.Bytes(), int64(100_000))
	assert.Greater(t, b.Bytes(), int64(100_000-2*e.cam.size), "the buffer is full up to the bound")
}

func TestCursorWaitsAtTheLiveEdgeAndFallsOutOfTheWindow(t *testing.T) {
	e := newEnv(t, Settings{Window: 2 * time.Second})
	for range fps {
		e.cam.frame()
	}
	e.waitFrame(t, fps-1)
	b := e.keep.Buffer("cam")
	_, end := b.Span()
	cur, _, err := b.Seek(end)
	require.NoError(t, err)
	defer cur.Close()
	for {
		f, err := cur.Next(context.Background())
		require.NoError(t, err)
		if frameIndex(t, f) == fps-1 {
			break
		}
	}
	// At the edge, Next waits for the next frame.
	got := make(chan int, 1)
	go func() {
		f, err := cur.Next(context.Background())
		if err != nil {
			got <- -1
			return
		}
		got <- frameIndex(t, f)
	}()
	e.cam.frame()
	select {
	case n := <-got:
		assert.Equal(t, fps, n)
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return the new frame")
	}

	// A paused cursor whose frames leave the window is told so.
	for range 4 * fps {
		e.cam.frame()
	}
	e.waitFrame(t, 5*fps)
	_, err = cur.Next(context.Background())
	assert.ErrorIs(t, err, timeline.ErrEvicted)
}

func TestBufferEmptiedWhenCodecsChange(t *testing.T) {
	e := newEnv(t, Settings{Window: time.Minute})
	for range fps {
		e.cam.frame()
	}
	e.waitFrame(t, fps-1)
	b := e.keep.Buffer("cam")
	start, _ := b.Span()
	cur, _, err := b.Seek(start)
	require.NoError(t, err)
	defer cur.Close()

	// A new publisher with another SPS: other codec parameters.
	other := append([]byte(nil), sps...)
	other[3] = 0x28
	cam2 := e.publish(t, other)
	cam2.epoch = e.cam.epoch.Add(time.Hour)
	cam2.n = 1000 // its frame numbers tell the streams apart
	for range fps {
		cam2.frame()
	}
	e.waitFrame(t, 1000+fps-1)
	start2, _ := b.Span()
	assert.Equal(t, cam2.epoch.Add(1000*time.Second/fps), start2, "only the new stream's frames are left")
	assert.Same(t, cam2.desc, b.Description())
	for {
		if _, err = cur.Next(context.Background()); err != nil {
			break
		}
	}
	assert.ErrorIs(t, err, timeline.ErrEvicted, "a cursor into the old stream ends")
}

// BenchmarkBufferMemory feeds one minute of a 4 Mbit/s, 25 fps stream into
// a buffer and reports the heap it holds per minute of timeshift; ns/op is
// the time to take in that minute.
func BenchmarkBufferMemory(b *testing.B) {
	const frameBytes = 4_000_000 / 8 / fps
	for range b.N {
		b.StopTimer()
		// Twice: pooled units of an earlier run survive one collection.
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		logger := slog.New(slog.DiscardHandler)
		h := &hub.Hub{
			Resolve: func(name string) (hub.PathConf, bool) {
				return hub.PathConf{Name: name, AcceptPublishers: true}, true
			},
			Logger: logger,
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		k := &Keeper{Paths: h, Logger: logger}
		k.Set(map[string]Settings{"cam": {Window: 2 * time.Minute}})
		p, err := h.Acquire("cam")
		if err != nil {
			b.Fatal(err)
		}
		desc := videoDesc(sps)
		pub, err := p.Publish(desc)
		if err != nil {
			b.Fatal(err)
		}
		cam := &camera{pub: pub, desc: desc, epoch: time.Now(), size: frameBytes}
		e := &env{hub: h, keep: k, cam: cam}
		b.StartTimer()
		for range 60 * fps {
			cam.frame()
		}
		e.waitFrame(b, 60*fps-1)
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB/min")
		b.ReportMetric(float64(k.Buffer("cam").Bytes())/(1<<20), "payloadMiB/min")
		pub.Close()
		p.Release()
		k.Close()
		h.Close()
	}
}
