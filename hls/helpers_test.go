package hls

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

const (
	clipFPS        = 25
	frameTicks     = 90000 / clipFPS
	aacSampleRate  = 48000
	aacFrameTicks  = mpeg4audio.SamplesPerAccessUnit
	clipSeconds    = 12
	testDeadline   = 20 * time.Second
	pollInterval   = 5 * time.Millisecond
	firstPlaylistT = 500 * time.Millisecond
)

// testClip is a short H.264 + AAC clip made by ffmpeg, as access units.
type testClip struct {
	sps, pps []byte
	video    [][][]byte // access units, AUDs removed
	audio    [][]byte
	config   mpeg4audio.AudioSpecificConfig
}

// clips caches the clips per GOP length (in frames) for the whole test binary.
type clipCache struct {
	mu    sync.Mutex
	dir   string
	clips map[int]*testClip
}

var clips clipCache // test-only cache: ffmpeg runs once per GOP length

func (c *clipCache) get(t testing.TB, gop int) *testClip {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clips[gop]; cl != nil {
		return cl
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "hls-test-clips")
		require.NoError(t, err)
		c.dir = dir
		c.clips = make(map[int]*testClip)
	}
	v := filepath.Join(c.dir, fmt.Sprintf("gop%d.h264", gop))
	a := filepath.Join(c.dir, fmt.Sprintf("gop%d.aac", gop))
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-y",
		"-t", fmt.Sprint(clipSeconds), "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x180:rate=%d", clipFPS),
		"-t", fmt.Sprint(clipSeconds), "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=%d", aacSampleRate),
		"-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "aud=1:repeat-headers=1", "-f", "h264", v,
		"-map", "1:a", "-c:a", "aac", "-ac", "1", "-b:a", "64k", "-f", "adts", a)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	vb, err := os.ReadFile(v)
	require.NoError(t, err)
	ab, err := os.ReadFile(a)
	require.NoError(t, err)
	cl := parseClip(t, vb, ab)
	c.clips[gop] = cl
	return cl
}

func (c *clipCache) cleanup() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// parseClip cuts Annex-B into access units on AUDs and ADTS into frames.
func parseClip(t testing.TB, annexB, adts []byte) *testClip {
	t.Helper()
	cl := &testClip{}
	var au [][]byte
	for _, n := range splitAnnexB(annexB) {
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeAccessUnitDelimiter:
			if len(au) > 0 {
				cl.video = append(cl.video, au)
			}
			au = nil
			continue
		case h264.NALUTypeSPS:
			if cl.sps == nil {
				cl.sps = n
			}
		case h264.NALUTypePPS:
			if cl.pps == nil {
				cl.pps = n
			}
		}
		au = append(au, n)
	}
	if len(au) > 0 {
		cl.video = append(cl.video, au)
	}
	require.NotEmpty(t, cl.video)
	require.True(t, h264.IsRandomAccess(cl.video[0]))
	var pkts mpeg4audio.ADTSPackets
	require.NoError(t, pkts.Unmarshal(adts))
	for _, p := range pkts {
		cl.audio = append(cl.audio, p.AU)
	}
	cl.config = mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelConfig: pkts[0].ChannelConfig}
	return cl
}

// splitAnnexB returns the NAL units of an Annex-B stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(b[start:i], "\x00"))
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestHub is a hub whose paths all take publishers, except "missing/..." which do not exist.
func newTestHub(t testing.TB) *hub.Hub {
	t.Helper()
	h := &hub.Hub{
		Resolve: func(name string) (hub.PathConf, bool) {
			if strings.HasPrefix(name, "missing") {
				return hub.PathConf{}, false
			}
			return hub.PathConf{AcceptPublishers: true, Stream: hub.StreamConfig{HistoryGOPs: HistoryGOPs}}, true
		},
		Logger: discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	return h
}

// newTestServer starts a Server on h with the same settings for every path.
func newTestServer(t testing.TB, h *hub.Hub, settings Settings) *Server {
	t.Helper()
	s := &Server{Paths: h, Settings: func(string) Settings { return settings }, Logger: discardLogger()}
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	return s
}

// source publishes a clip into a hub path, looping it with running timestamps.
type source struct {
	t      testing.TB
	clip   *testClip
	path   *hub.Path
	pub    *hub.Publisher
	video  *description.Media
	audio  *description.Media
	extra  *description.Media
	venc   *rtph264.Encoder
	aenc   *rtpmpeg4audio.Encoder
	vi, ai int // frames written
	closed bool
}

// publishClip publishes an H.264 + AAC clip (and extra medias) on name.
func publishClip(t testing.TB, h *hub.Hub, name string, clip *testClip, extra ...*description.Media) *source {
	t.Helper()
	s := &source{t: t, clip: clip}
	s.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1, SPS: clip.sps, PPS: clip.pps,
	}}}
	cfg := clip.config
	s.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.MPEG4Audio{
		PayloadTyp: 97, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
	}}}
	desc := &description.Session{Medias: append([]*description.Media{s.video, s.audio}, extra...)}
	s.venc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	require.NoError(t, s.venc.Init())
	s.aenc = &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	require.NoError(t, s.aenc.Init())
	p, err := h.Acquire(name)
	require.NoError(t, err)
	s.path = p
	s.pub, err = p.Publish(desc)
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

// close ends the publication and gives the path back.
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
	return time.Duration(s.ai) * aacFrameTicks * time.Second / aacSampleRate
}

// advance writes every frame up to d of media time from now, in time order.
func (s *source) advance(d time.Duration) {
	end := max(s.videoTime(), s.audioTime()) + d
	for s.videoTime() < end || s.audioTime() < end {
		if s.videoTime() <= s.audioTime() {
			s.writeVideo()
		} else {
			s.writeAudio()
		}
	}
}

func (s *source) writeVideo() {
	au := s.clip.video[s.vi%len(s.clip.video)]
	pts := int64(s.vi) * frameTicks
	pkts, err := s.venc.Encode(au)
	require.NoError(s.t, err)
	for _, pkt := range pkts {
		pkt.Timestamp = uint32(pts)
		s.pub.WriteRTP(s.video, pkt, pts, time.Time{})
	}
	s.vi++
}

func (s *source) writeAudio() {
	au := s.clip.audio[s.ai%len(s.clip.audio)]
	pts := int64(s.ai) * aacFrameTicks
	pkts, err := s.aenc.Encode([][]byte{au})
	require.NoError(s.t, err)
	for _, pkt := range pkts {
		pkt.Timestamp = uint32(pts)
		s.pub.WriteRTP(s.audio, pkt, pts, time.Time{})
	}
	s.ai++
}

// live writes the clip at real-time pace from a goroutine until the test ends
// (or stop is called), after writing ahead of the clock.
func (s *source) live(ahead time.Duration) (stop func()) {
	s.advance(ahead)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		base := max(s.videoTime(), s.audioTime())
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			target := base + time.Since(start)
			for s.videoTime() < target || s.audioTime() < target {
				if s.videoTime() <= s.audioTime() {
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

// mux is an http.Handler mounting a Server the way the web layer does:
// /{path...}/{file}.
func mux(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			http.NotFound(w, r)
			return
		}
		s.ServeHLS(w, r, p[:i], p[i+1:])
	})
}

// get runs one request against s through the test mux.
func get(t testing.TB, s *Server, url string) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	rec := httptest.NewRecorder()
	mux(s).ServeHTTP(rec, req)
	return rec
}

// mediaPlaylist fetches and parses a media playlist.
func mediaPlaylist(t testing.TB, s *Server, url string) (*playlist.Media, string) {
	t.Helper()
	rec := get(t, s, url)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	pl, err := playlist.Unmarshal(rec.Body.Bytes())
	require.NoError(t, err, rec.Body.String())
	mp, ok := pl.(*playlist.Media)
	require.True(t, ok, "not a media playlist: %s", rec.Body.String())
	return mp, rec.Body.String()
}

// multivariant fetches and parses index.m3u8.
func multivariant(t testing.TB, s *Server, url string) *playlist.Multivariant {
	t.Helper()
	rec := get(t, s, url)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	pl, err := playlist.Unmarshal(rec.Body.Bytes())
	require.NoError(t, err, rec.Body.String())
	mv, ok := pl.(*playlist.Multivariant)
	require.True(t, ok, "not a multivariant playlist: %s", rec.Body.String())
	return mv
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

// primedPlaylist fetches a media playlist once the muxer has made segments of
// the whole history (the first playlist is answered as soon as one exists).
func primedPlaylist(t testing.TB, s *Server, url string) *playlist.Media {
	t.Helper()
	var pl *playlist.Media
	eventually(t, "segments of the history", func() bool {
		pl, _ = mediaPlaylist(t, s, url)
		real := 0
		for _, seg := range pl.Segments {
			if !seg.Gap {
				real++
			}
		}
		return real >= HistoryGOPs-1
	})
	return pl
}
