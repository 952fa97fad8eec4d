package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBytesSent: every response body ServeHLS writes (playlists, segments)
// is counted for its path, HEAD bodies are not, the total survives the
// muxer, and requests for unknown paths leave no counter behind.
func TestBytesSent(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{Variant: VariantFMP4, IdleClose: 300 * time.Millisecond})
	src := publishClip(t, h, "cam", clip)
	src.advance(5 * time.Second)

	want := uint64(get(t, s, "/cam/index.m3u8").Body.Len())
	st, ok := s.Status("cam")
	require.True(t, ok)
	assert.Equal(t, want, st.BytesSent)

	pl := primedPlaylist(t, s, "/cam/video1_stream.m3u8")
	require.NotEmpty(t, pl.Segments)
	st, _ = s.Status("cam")
	require.Greater(t, st.BytesSent, want)
	want = st.BytesSent

	seg := get(t, s, "/cam/"+pl.Segments[0].URI)
	require.Equal(t, http.StatusOK, seg.Code)
	want += uint64(seg.Body.Len())
	st, _ = s.Status("cam")
	assert.Equal(t, want, st.BytesSent)

	// HEAD writes no body.
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	head := httptest.NewRecorder()
	mux(s).ServeHTTP(head, httptest.NewRequestWithContext(ctx, http.MethodHead, "/cam/"+pl.Segments[0].URI, nil))
	require.Equal(t, http.StatusOK, head.Code)
	st, _ = s.Status("cam")
	assert.Equal(t, want, st.BytesSent)

	// The total outlives the muxer.
	eventually(t, "the muxer to close", func() bool { _, ok := s.Status("cam"); return !ok })
	st, ok = s.Status("cam")
	assert.False(t, ok)
	assert.Equal(t, want, st.BytesSent)

	// A path without a stream gets no counter.
	get(t, s, "/nothing/index.m3u8")
	s.mu.Lock()
	_, counted := s.sent["nothing"]
	s.mu.Unlock()
	assert.False(t, counted)
}
