package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// TestIdleClose: a muxer nobody asks anything closes after IdleClose, its
// goroutines end and it gives its path back.
func TestIdleClose(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{IdleClose: 300 * time.Millisecond})
	src := publishClip(t, h, "site/idle", clip)
	src.advance(5 * time.Second)
	baseline := runtime.NumGoroutine()

	multivariant(t, s, "/site/idle/index.m3u8")
	mediaPlaylist(t, s, "/site/idle/video1_stream.m3u8")
	st, ok := s.Status("site/idle")
	require.True(t, ok)
	require.True(t, st.Running)

	eventually(t, "the muxer to close", func() bool { _, ok := s.Status("site/idle"); return !ok })
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
	assert.Zero(t, s.handlers.Load())

	// The muxer released its reference: without a source the path goes away.
	src.close()
	eventually(t, "the path to be removed", func() bool { return h.Lookup("site/idle") == nil })

	// A new request on a new stream makes a new muxer.
	src2 := publishClip(t, h, "site/idle", clip)
	src2.advance(5 * time.Second)
	multivariant(t, s, "/site/idle/index.m3u8")
}

// TestStreamEndClosesMuxer: when the source goes, the muxer closes; the next
// request starts a new muxer with new segment names.
func TestStreamEndClosesMuxer(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{Variant: VariantFMP4})
	src := publishClip(t, h, "cam", clip)
	src.advance(5 * time.Second)
	pl1, _ := mediaPlaylist(t, s, "/cam/video1_stream.m3u8")

	src.close()
	eventually(t, "the muxer to close", func() bool { _, ok := s.Status("cam"); return !ok })
	rec := get(t, s, "/cam/"+pl1.Segments[0].URI)
	assert.Equal(t, http.StatusNotFound, rec.Code)

	src2 := publishClip(t, h, "cam", clip)
	src2.advance(5 * time.Second)
	pl2, _ := mediaPlaylist(t, s, "/cam/video1_stream.m3u8")
	assert.NotEqual(t, pl1.Map.URI, pl2.Map.URI, "a new muxer must use new file names")
}

// TestBlockedRequestReleased: gohlslib blocks playlist requests until content
// exists and ignores the request context; ServeHLS must not.
func TestBlockedRequestReleased(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	for _, tc := range []struct {
		name string
		// history is written before the request (none: the playlist blocks).
		history time.Duration
		url     string
		// release frees the blocked ServeHLS; it returns the expected code, 0 for none written.
		release func(t *testing.T, s *Server, src *source, cancel context.CancelFunc) int
		// after ends the abandoned gohlslib handler, if one is left.
		after func(t *testing.T, s *Server, src *source)
	}{
		{
			name: "client cancels, content arrives",
			url:  "/cam/index.m3u8",
			release: func(_ *testing.T, _ *Server, _ *source, cancel context.CancelFunc) int {
				cancel()
				return 0
			},
			after: func(_ *testing.T, _ *Server, src *source) { src.advance(5 * time.Second) },
		},
		{
			name:    "client cancels a blocking reload, muxer idles out",
			history: 5 * time.Second,
			url:     "/cam/video1_stream.m3u8?_HLS_msn={next}", // a segment beyond the one in progress
			release: func(_ *testing.T, _ *Server, _ *source, cancel context.CancelFunc) int {
				cancel()
				return 0
			},
		},
		{
			name: "stream ends",
			url:  "/cam/video1_stream.m3u8",
			release: func(_ *testing.T, _ *Server, src *source, _ context.CancelFunc) int {
				src.close()
				return http.StatusServiceUnavailable
			},
		},
		{
			name: "server closes",
			url:  "/cam/index.m3u8",
			release: func(_ *testing.T, s *Server, _ *source, _ context.CancelFunc) int {
				s.Close()
				return http.StatusServiceUnavailable
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(t)
			s := newTestServer(t, h, Settings{IdleClose: 300 * time.Millisecond})
			src := publishClip(t, h, "cam", clip)
			src.advance(tc.history)
			url := tc.url
			if tc.history > 0 {
				pl := primedPlaylist(t, s, "/cam/video1_stream.m3u8")
				url = strings.ReplaceAll(url, "{next}", strconv.Itoa(pl.MediaSequence+len(pl.Segments)+1))
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := httptest.NewRecorder()
			served := make(chan struct{})
			go func() {
				defer close(served)
				mux(s).ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, url, nil))
			}()
			eventually(t, "the request to block in gohlslib", func() bool { return s.handlers.Load() == 1 })
			select {
			case <-served:
				t.Fatalf("the request did not block: %d %s", rec.Code, rec.Body.String())
			default:
			}

			want := tc.release(t, s, src, cancel)
			select {
			case <-served:
			case <-time.After(testDeadline):
				t.Fatal("ServeHLS did not return")
			}
			if want != 0 {
				assert.Equal(t, want, rec.Code, rec.Body.String())
				assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
			}
			if tc.after != nil {
				tc.after(t, s, src)
			}
			eventually(t, "the abandoned handler to end", func() bool { return s.handlers.Load() == 0 })
		})
	}
}

// TestCloseIdempotent: Close twice, and requests after Close get 503.
func TestCloseIdempotent(t *testing.T) {
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{})
	s.Close()
	s.Close()
	rec := get(t, s, "/cam/index.m3u8")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.ErrorIs(t, s.Ensure("cam"), ErrClosed)
}

// TestEnsure: an always-on muxer runs without requests, survives the end of
// its stream (a new one starts with the next stream) and never idles out.
func TestEnsure(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{IdleClose: 100 * time.Millisecond})
	require.ErrorIs(t, s.Ensure("missing/cam"), hub.ErrPathNotFound)
	require.NoError(t, s.Ensure("cam"))
	require.NoError(t, s.Ensure("cam"))

	src := publishClip(t, h, "cam", clip)
	src.advance(5 * time.Second)
	eventually(t, "the always-on muxer to run", func() bool { st, _ := s.Status("cam"); return st.Running })
	st, _ := s.Status("cam")
	assert.True(t, st.AlwaysOn)

	src.close()
	eventually(t, "the muxer to close with its stream", func() bool { st, _ := s.Status("cam"); return !st.Running })
	src2 := publishClip(t, h, "cam", clip)
	src2.advance(5 * time.Second)
	eventually(t, "a new always-on muxer", func() bool { st, _ := s.Status("cam"); return st.Running })
	rec := get(t, s, "/cam/index.m3u8")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Body.String(), "#EXTM3U"))
}
