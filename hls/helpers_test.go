package hls

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/internal/testclip"
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
type testClip = testclip.Clip

// clips makes each clip once per GOP length for the whole test binary.
var clips = testclip.Cache{Prefix: "hls-test-clips", Seconds: clipSeconds, FPS: clipFPS,
	Width: 320, Height: 180, SampleRate: aacSampleRate}

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
		PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS,
	}}}
	cfg := clip.AudioConfig
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
	au := s.clip.Video[s.vi%len(s.clip.Video)]
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
	au := s.clip.Audio[s.ai%len(s.clip.Audio)]
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
