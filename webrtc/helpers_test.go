package webrtc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/internal/testclip"
)

const (
	clipFPS      = 25
	frameTicks   = 90000 / clipFPS
	opusTicks    = 960 // 20 ms at 48 kHz
	clipSeconds  = 6
	testDeadline = 20 * time.Second
	pollInterval = 5 * time.Millisecond
)

// testClip is a short H.264 clip made by ffmpeg, as access units.
type testClip = testclip.Clip

// clips makes each clip once per GOP length for the whole test binary.
var clips = testclip.Cache{Prefix: "webrtc-test-clips", Seconds: clipSeconds, FPS: clipFPS, Width: 320, Height: 180}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestHub is a hub whose paths take publishers, except "missing..."
// (no such path), "closed..." (no publishers) and "nocache..." (no GOP cache).
func newTestHub(t testing.TB) *hub.Hub {
	t.Helper()
	h := &hub.Hub{
		Resolve: func(name string) (hub.PathConf, bool) {
			switch {
			case strings.HasPrefix(name, "missing"):
				return hub.PathConf{}, false
			case strings.HasPrefix(name, "closed"):
				return hub.PathConf{}, true
			case strings.HasPrefix(name, "nocache"):
				return hub.PathConf{AcceptPublishers: true, Stream: hub.StreamConfig{NoGOPCache: true}}, true
			}
			return hub.PathConf{AcceptPublishers: true}, true
		},
		Logger: discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	return h
}

// newTestServer starts a Server on loopback and an HTTP server mounting it
// the way the web layer does; it returns the HTTP base URL.
func newTestServer(t testing.TB, h *hub.Hub) (*Server, string) {
	t.Helper()
	s := &Server{Paths: h, Address: "127.0.0.1:0", DisableMDNS: true, Logger: discardLogger()}
	require.NoError(t, s.Start())
	hs := httptest.NewServer(mux(s))
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs.URL
}

// mux routes /{path...}/whep[/{id}] and /{path...}/whip[/{id}].
func mux(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		for i := len(parts) - 1; i > 0; i-- {
			rest := strings.Join(parts[i+1:], "/")
			if strings.Contains(rest, "/") {
				break
			}
			path := strings.Join(parts[:i], "/")
			switch parts[i] {
			case "whep":
				s.ServeWHEP(w, r, path, rest)
				return
			case "whip":
				s.ServeWHIP(w, r, path, rest)
				return
			}
		}
		http.NotFound(w, r)
	})
}

// source publishes a clip (and synthetic Opus) into a hub path.
type source struct {
	t      testing.TB
	clip   *testClip
	path   *hub.Path
	pub    *hub.Publisher
	video  *description.Media
	audio  *description.Media
	venc   *rtph264.Encoder
	vi, ai int
	// onFrame, if set, is called right before frame i is written.
	onFrame func(i int, at time.Time)
	closed  bool
}

// publishClip publishes H.264 (and Opus when withOpus) on name.
func publishClip(t testing.TB, h *hub.Hub, name string, clip *testClip, withOpus bool) *source {
	t.Helper()
	s := &source{t: t, clip: clip}
	s.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS,
	}}}
	desc := &description.Session{Medias: []*description.Media{s.video}}
	if withOpus {
		s.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}
		desc.Medias = append(desc.Medias, s.audio)
	}
	s.venc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	require.NoError(t, s.venc.Init())
	p, err := h.Acquire(name)
	require.NoError(t, err)
	s.path = p
	s.pub, err = p.Publish(desc)
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

func (s *source) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.pub.Close()
	s.path.Release()
}

func (s *source) videoTime() time.Duration { return time.Duration(s.vi) * time.Second / clipFPS }
func (s *source) audioTime() time.Duration {
	return time.Duration(s.ai) * opusTicks * time.Second / 48000
}

// seiIndex is the SEI NAL unit carrying frame index i (testclip.FrameSEI).
func seiIndex(i int) []byte { return testclip.FrameSEI(i) }

// frameIndex finds the SEI of seiIndex in the first packet of a frame.
func frameIndex(payload []byte) (int, bool) { return testclip.FrameIndex(payload) }

func (s *source) writeVideo() {
	au := s.clip.Video[s.vi%len(s.clip.Video)]
	au = append([][]byte{seiIndex(s.vi)}, au...)
	pts := int64(s.vi) * frameTicks
	pkts, err := s.venc.Encode(au)
	require.NoError(s.t, err)
	if s.onFrame != nil {
		s.onFrame(s.vi, time.Now())
	}
	for _, pkt := range pkts {
		pkt.Timestamp = uint32(pts)
		s.pub.WriteRTP(s.video, pkt, pts, time.Time{})
	}
	s.vi++
}

func (s *source) writeAudio() {
	// Any TOC byte relays: 0xFC is a 20 ms CELT fullband stereo frame.
	payload := []byte{0xFC, 0xFF, 0xFE, byte(s.ai)}
	pts := int64(s.ai) * opusTicks
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(s.ai), Timestamp: uint32(pts), Marker: true}, Payload: payload}
	s.pub.WriteRTP(s.audio, pkt, pts, time.Time{})
	s.ai++
}

// advance writes every frame up to d of media time from now, in time order.
func (s *source) advance(d time.Duration) {
	end := max(s.videoTime(), s.audioTime()) + d
	for s.videoTime() < end || (s.audio != nil && s.audioTime() < end) {
		if s.audio == nil || s.videoTime() <= s.audioTime() {
			s.writeVideo()
		} else {
			s.writeAudio()
		}
	}
}

// live writes at real-time pace from a goroutine until stopped or the test
// ends, after writing ahead of the clock.
func (s *source) live(ahead time.Duration) (stop func()) {
	s.advance(ahead)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		base := max(s.videoTime(), s.audioTime())
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			target := base + time.Since(start)
			for s.videoTime() < target || (s.audio != nil && s.audioTime() < target) {
				if s.audio == nil || s.videoTime() <= s.audioTime() {
					s.writeVideo()
				} else {
					s.writeAudio()
				}
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	s.t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the test deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}

// publishAAC publishes H.264 video with an AAC track (never written) on name.
func publishAAC(t testing.TB, h *hub.Hub, name string, clip *testClip) *source {
	t.Helper()
	s := &source{t: t, clip: clip}
	s.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS,
	}}}
	aac := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.MPEG4Audio{
		PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 1},
	}}}
	s.venc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	require.NoError(t, s.venc.Init())
	p, err := h.Acquire(name)
	require.NoError(t, err)
	s.path = p
	s.pub, err = p.Publish(&description.Session{Medias: []*description.Media{s.video, aac}})
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

// waitGoroutines waits until no more than n goroutines run, and shows the
// stacks when they do not end.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(pollInterval)
	}
}

// recorder is a minimal http.ResponseWriter for direct handler calls.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

func httptestRequest(t testing.TB, method, url, contentType, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return req
}
