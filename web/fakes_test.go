package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds every test that waits on something.
const testTimeout = 20 * time.Second

// fakePaths is a fixed set of paths.
type fakePaths struct{ list []PathInfo }

func (f *fakePaths) Paths() []PathInfo { return slices.Clone(f.list) }

func (f *fakePaths) Path(name string) (PathInfo, bool) {
	for _, p := range f.list {
		if p.Name == name {
			return p, true
		}
	}
	return PathInfo{}, false
}

// hlsCall is one ServeHLS call.
type hlsCall struct{ path, file string }

// fakeHLS records what it was asked for and answers with a fixed body.
type fakeHLS struct {
	mu    sync.Mutex
	calls []hlsCall
}

func (f *fakeHLS) ServeHLS(w http.ResponseWriter, r *http.Request, path, file string) {
	f.mu.Lock()
	f.calls = append(f.calls, hlsCall{path, file})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	// No WriteHeader on purpose: the front door must not leak gin's 404.
	_, _ = w.Write([]byte("#EXTM3U\n"))
}

func (f *fakeHLS) Calls() []hlsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// dirHLS serves real HLS files from dir/<path>/<file>. For paths in live
// it serves index.m3u8 without its VOD markers, so players treat the stream
// as live (one that never grows).
type dirHLS struct {
	dir  string
	live map[string]bool
}

func (d dirHLS) ServeHLS(w http.ResponseWriter, r *http.Request, path, file string) {
	name := filepath.Join(d.dir, filepath.FromSlash(path), file)
	w.Header().Set("Cache-Control", "no-cache")
	if !d.live[path] || file != "index.m3u8" {
		http.ServeFile(w, r, name)
		return
	}
	b, err := os.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "#EXT-X-ENDLIST" && line != "#EXT-X-PLAYLIST-TYPE:VOD" {
			out = append(out, line)
		}
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	_, _ = w.Write([]byte(strings.Join(out, "\n")))
}

// testPaths is the path set most tests use.
func testPaths() *fakePaths {
	return &fakePaths{list: []PathInfo{
		{Name: "cam1", State: "ready", Source: "rtsp://***:***@10.0.0.10:554/stream1", Readers: 2, Tracks: []TrackInfo{
			{Kind: "video", Codec: "H264", Width: 640, Height: 360},
			{Kind: "audio", Codec: "AAC"},
		}},
		{Name: "site/door", State: "waiting", Source: "publisher"},
		{Name: "demo", State: "ready", Source: "demo", Readers: 1, Tracks: []TrackInfo{{Kind: "video", Codec: "H264", Width: 1280, Height: 720}}},
		{Name: "opus", State: "ready", Source: "publisher", Tracks: []TrackInfo{{Kind: "audio", Codec: "Opus"}}, HLSNotice: "Opus <audio> is not in HLS"},
	}}
}

// newTestServer returns a server with fakes, not started.
func newTestServer(t *testing.T) (*Server, *fakeHLS) {
	t.Helper()
	h := &fakeHLS{}
	return &Server{Paths: testPaths(), HLS: h}, h
}

// do runs one request against h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	require.Zero(t, len(header)%2, "header needs name/value pairs")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, target, nil)
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// logRecord is one captured log record.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// captureHandler keeps every record at Debug and above.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
}

func newCapture() (*slog.Logger, func() []logRecord) {
	h := captureHandler{mu: &sync.Mutex{}, records: &[]logRecord{}}
	return slog.New(h), func() []logRecord {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(*h.records)
	}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }
