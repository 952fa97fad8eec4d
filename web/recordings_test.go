package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fakeRecordings answers like the record store: cam1 and site/door have
// one span, other paths none; a start that is not a time is 400.
type fakeRecordings struct {
	mu    sync.Mutex
	calls []hlsCall
}

func (f *fakeRecordings) ServeSpans(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case r.URL.Query().Get("start") == "bad":
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": `bad query: start="bad" is not an RFC 3339 time`})
	case path != "cam1" && path != "site/door":
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "path " + path + " has no recordings"})
	default:
		_, _ = w.Write([]byte(`{"path":"` + path + `","items":[{"start":"2026-11-25T10:00:00Z","end":"2026-11-25T10:01:00Z","duration":60}]}`))
	}
}

func (f *fakeRecordings) ServeRecording(w http.ResponseWriter, r *http.Request, path, file string) {
	f.mu.Lock()
	f.calls = append(f.calls, hlsCall{path, file})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	_, _ = w.Write([]byte("#EXTM3U\n"))
}

func (f *fakeRecordings) Calls() []hlsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestRecordingRoutes(t *testing.T) {
	rec := &fakeRecordings{}
	hls := &fakeHLS{}
	h := (&Server{Paths: testPaths(), HLS: hls, Recordings: rec}).Handler()
	cases := []struct {
		target string
		status int
		call   *hlsCall
	}{
		{"/cam1/recordings/index.m3u8?start=a&end=b", 200, &hlsCall{"cam1", "index.m3u8"}},
		{"/site/door/recordings/download.mp4", 200, &hlsCall{"site/door", "download.mp4"}},
		{"/site/door/recordings/2026-11-25_10-00-00.000000.mp4", 200, &hlsCall{"site/door", "2026-11-25_10-00-00.000000.mp4"}},
		{"/recordings/index.m3u8", 200, nil}, // a path named "recordings": its HLS
		{"/cam1/recordings/../x.mp4", 400, nil},
		{"/cam%201/recordings/index.m3u8", 404, nil},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			before := len(rec.Calls())
			res := do(t, h, http.MethodGet, tc.target)
			assert.Equal(t, tc.status, res.Code, "body: %s", res.Body)
			calls := rec.Calls()[before:]
			if tc.call == nil {
				assert.Empty(t, calls)
				return
			}
			assert.Equal(t, []hlsCall{*tc.call}, calls)
			assert.Equal(t, "*", res.Header().Get("Access-Control-Allow-Origin"), "CORS like live media")
		})
	}
	assert.Equal(t, []hlsCall{{"recordings", "index.m3u8"}}, hls.Calls(), "only the path named recordings went to HLS")

	t.Run("off", func(t *testing.T) {
		h := (&Server{Paths: testPaths(), HLS: hls}).Handler()
		res := do(t, h, http.MethodGet, "/cam1/recordings/index.m3u8")
		assert.Equal(t, http.StatusNotFound, res.Code)
	})
}
