package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAPI answers the API from lists it edits as the gateway would.
type fakeAPI struct {
	mu        sync.Mutex
	list      []PathStatus
	sessions  []SessionStatus
	reloadErr error
}

func (f *fakeAPI) Paths() []PathStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

func (f *fakeAPI) Path(name string) (PathStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked(name)
	if i < 0 {
		return PathStatus{}, false
	}
	return f.list[i], true
}

func (f *fakeAPI) indexLocked(name string) int {
	return slices.IndexFunc(f.list, func(p PathStatus) bool { return p.Name == name })
}

func (f *fakeAPI) Sessions() []SessionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sessions)
}

func (f *fakeAPI) KickSession(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.sessions, func(s SessionStatus) bool { return s.ID == id })
	if i < 0 {
		return fmt.Errorf("no session %q: %w", id, ErrNotFound)
	}
	f.sessions = slices.Delete(f.sessions, i, i+1)
	return nil
}

// applyKeys is the fake's config check: onDemand must be a boolean, and
// only the keys of the spec's PathKeys are known.
func applyKeys(p *PathStatus, body map[string]any) error {
	for k, v := range body {
		switch k {
		case "onDemand":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("paths.%s.onDemand: got %v: expected true or false: %w", p.Name, v, ErrInvalid)
			}
			p.OnDemand = b
		case "source", "sourceProtocol", "sourceFingerprint", "sourceSkipVerify", "sourceReadTimeout",
			"onDemandStartTimeout", "onDemandCloseAfter", "outageGrace", "gopCache", "overridePublisher",
			"readUser", "readPass", "publishUser", "publishPass", "maxReaders", "hlsVariant", "hlsAlwaysOn",
			"record", "recordSegmentDuration", "recordPartDuration", "recordDeleteAfter", "recordMaxBytes":
		default:
			return fmt.Errorf("paths.%s.%s: unknown key: %w", p.Name, k, ErrInvalid)
		}
	}
	return nil
}

func (f *fakeAPI) AddPath(name string, body map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.indexLocked(name) >= 0 {
		return fmt.Errorf("path %q exists: %w", name, ErrConflict)
	}
	p := PathStatus{Name: name, State: "waiting", Source: SourceStatus{Type: "publisher"}}
	if err := applyKeys(&p, body); err != nil {
		return err
	}
	f.list = append(f.list, p)
	return nil
}

func (f *fakeAPI) PatchPath(name string, body map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked(name)
	if i < 0 {
		return fmt.Errorf("no configured path named %q: %w", name, ErrNotFound)
	}
	p := f.list[i]
	if err := applyKeys(&p, body); err != nil {
		return err
	}
	f.list[i] = p
	return nil
}

func (f *fakeAPI) DeletePath(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked(name)
	if i < 0 {
		return fmt.Errorf("no configured path named %q: %w", name, ErrNotFound)
	}
	f.list = slices.Delete(f.list, i, i+1)
	return nil
}

func (f *fakeAPI) ReloadConfig() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadErr
}

// fakeMetrics records ObserveHTTP calls.
type fakeMetrics struct {
	mu  sync.Mutex
	obs []observation
}

type observation struct {
	class  string
	status int
}

func (f *fakeMetrics) ObserveHTTP(class string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs = append(f.obs, observation{class, status})
}

func (f *fakeMetrics) take() []observation {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.obs
	f.obs = nil
	return out
}

// testAPIPaths has one path with every optional field set, so the OpenAPI
// test sees every property the spec lists.
func testAPIPaths() *fakeAPI {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	retry := since.Add(4 * time.Second)
	drops := uint64(7)
	bytesIn, pktsIn := uint64(123456), uint64(321)
	keyInt, age := 2.0, 0.04
	lost, bitrate := uint64(12), 987654.5
	sessionSince := since.Add(time.Minute)
	in, out := uint64(1234), uint64(5678)
	return &fakeAPI{sessions: []SessionStatus{
		{ID: "rtsp-0a1b2c3d", Kind: SessionRTSPRead, Path: "cam1", Remote: "10.0.0.5:50000", Since: sessionSince, BytesReceived: &in, BytesSent: &out},
		{ID: "whep-4f5e", Kind: SessionWHEP, Path: "cam1", Remote: "10.0.0.6:40000", Since: sessionSince},
	}, list: []PathStatus{
		{
			Name: "cam1", State: "ready", Since: &since, OnDemand: true, Readers: 2, ReaderDrops: &drops,
			BytesReceived: &bytesIn, PacketsReceived: &pktsIn, KeyframeInterval: &keyInt, LastPacketAge: &age,
			PacketsLost: &lost, Bitrate: &bitrate, ReadersByProtocol: ReadersByProtocol{RTSP: 0, HLS: 1, WebRTC: 1},
			BytesSent: BytesSentByProtocol{RTSP: 0, HLS: 4096, WebRTC: 8192},
			Source:    SourceStatus{Type: "pull", URL: "rtsp://user:***@10.0.0.10:554/stream1", Reconnects: 3},
			Tracks: []TrackStatus{
				{Index: 0, Kind: "video", Codec: "H264", Width: 1280, Height: 720, FPS: 25,
					HLS: &TrackOutput{Carried: true}, WebRTC: &TrackOutput{Carried: true}},
				{Index: 1, Kind: "audio", Codec: "AAC",
					HLS: &TrackOutput{Carried: true}, WebRTC: &TrackOutput{Reason: "AAC is not playable over WebRTC"}},
			},
			HLS:       &HLSStatus{Running: true, Variant: "lowLatency"},
			WebRTC:    &WebRTCStatus{Viewers: 1, Warnings: []string{"the video has B-frames"}},
			Timeshift: &TimeshiftStatus{Window: 600, Start: &since, End: &retry, Bytes: 1 << 20},
		},
		{
			Name: "site/door", State: "ready",
			Source: SourceStatus{Type: "publisher", Publisher: "whip"},
			WebRTC: &WebRTCStatus{Publishers: 1},
		},
		{
			Name: "lobby", State: "failed", LastError: "dial tcp: connection refused", Since: &since, NextRetry: &retry,
			Source: SourceStatus{Type: "pull", URL: "rtsp://10.0.0.11/live", Reconnects: 4},
		},
		{Name: "demo", State: "idle", Source: SourceStatus{Type: "demo"}},
	}}
}

// newAPIServer is a front door with the API, metrics and the fakes.
func newAPIServer(t *testing.T, api API, m Metrics, mh http.Handler) *Server {
	t.Helper()
	return &Server{
		Paths: testPaths(),
		HLS:   &fakeHLS{},
		Extra: APIRoutes{API: api, Metrics: m, MetricsHandler: mh, Recordings: &fakeRecordings{}}.Mount,
	}
}

// decodeJSON decodes a response body, failing the test on bad JSON.
func decodeJSON[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "body: %s", body)
	return v
}

func TestAPIRoutes(t *testing.T) {
	h := newAPIServer(t, testAPIPaths(), nil, nil).Handler()
	tests := []struct {
		name    string
		method  string
		target  string
		status  int
		allow   string // expected Allow header, "" for none
		errPart string // part of the JSON error, "" when the answer is not an error
	}{
		{name: "list", method: "GET", target: "/api/v1/paths", status: 200},
		{name: "list head", method: "HEAD", target: "/api/v1/paths", status: 200},
		{name: "one", method: "GET", target: "/api/v1/paths/cam1", status: 200},
		{name: "name with slash", method: "GET", target: "/api/v1/paths/site/door", status: 200},
		{name: "unknown path", method: "GET", target: "/api/v1/paths/nope", status: 404, errPart: `no path named "nope"`},
		{name: "unknown nested path", method: "GET", target: "/api/v1/paths/site/nope", status: 404, errPart: "no path named"},
		{name: "name is case-sensitive", method: "GET", target: "/api/v1/paths/CAM1", status: 404, errPart: "no path named"},
		{name: "double slash", method: "GET", target: "/api/v1/paths/site//door", status: 400, errPart: "invalid path name"},
		{name: "dot dot", method: "GET", target: "/api/v1/paths/site/../door", status: 400, errPart: "invalid path name"},
		{name: "bad character", method: "GET", target: "/api/v1/paths/a%20b", status: 400, errPart: "invalid path name"},
		{name: "encoded slash", method: "GET", target: "/api/v1/paths/site%2Fdoor", status: 400, errPart: "encoded"},
		{name: "trailing slash", method: "GET", target: "/api/v1/paths/", status: 404, errPart: "no such API route"},
		{name: "list post", method: "POST", target: "/api/v1/paths", status: 405, allow: "GET, HEAD", errPart: "not allowed"},
		{name: "path put", method: "PUT", target: "/api/v1/paths/cam1", status: 405, allow: "GET, HEAD, POST, PATCH, DELETE", errPart: "not allowed"},
		{name: "reload", method: "POST", target: "/api/v1/config/reload", status: 200},
		{name: "reload get", method: "GET", target: "/api/v1/config/reload", status: 405, allow: "POST", errPart: "not allowed"},
		{name: "unknown version", method: "GET", target: "/api/v2/paths", status: 404, errPart: "no such API route"},
		{name: "api root", method: "GET", target: "/api", status: 404, errPart: "no such API route"},
		{name: "api slash", method: "GET", target: "/api/", status: 404, errPart: "no such API route"},
		{name: "sessions", method: "GET", target: "/api/v1/sessions", status: 200},
		{name: "sessions delete all", method: "DELETE", target: "/api/v1/sessions", status: 405, allow: "GET, HEAD", errPart: "not allowed"},
		{name: "kick unknown", method: "DELETE", target: "/api/v1/sessions/rtsp-nope", status: 404, errPart: `no session "rtsp-nope"`},
		{name: "delete unknown path", method: "DELETE", target: "/api/v1/paths/nope", status: 404, errPart: "no configured path"},
		{name: "delete bad name", method: "DELETE", target: "/api/v1/paths/a%20b", status: 400, errPart: "invalid path name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, h, tc.method, tc.target)
			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body)
			assert.Equal(t, tc.allow, rec.Header().Get("Allow"))
			if tc.method == http.MethodHead {
				return
			}
			assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"), "content type %q", rec.Header().Get("Content-Type"))
			if tc.errPart == "" {
				return
			}
			body := decodeJSON[map[string]any](t, rec.Body.Bytes())
			require.Len(t, body, 1, "an error has only the error key: %s", rec.Body)
			msg, _ := body["error"].(string)
			assert.Contains(t, msg, tc.errPart)
		})
	}
}

func TestAPIPathBodies(t *testing.T) {
	api := testAPIPaths()
	h := newAPIServer(t, api, nil, nil).Handler()

	rec := do(t, h, "GET", "/api/v1/paths")
	require.Equal(t, 200, rec.Code)
	list := decodeJSON[struct{ Items []PathStatus }](t, rec.Body.Bytes())
	names := make([]string, len(list.Items))
	for i, p := range list.Items {
		names[i] = p.Name
	}
	assert.Equal(t, []string{"cam1", "site/door", "lobby", "demo"}, names, "order is the API's order")
	assert.Equal(t, api.list[0], list.Items[0], "a path survives the round trip")

	rec = do(t, h, "GET", "/api/v1/paths/site/door")
	require.Equal(t, 200, rec.Code)
	door := decodeJSON[map[string]any](t, rec.Body.Bytes())
	assert.Equal(t, "site/door", door["name"])
	assert.Equal(t, []any{}, door["tracks"], "no tracks is an empty list, not null")
	assert.Equal(t, map[string]any{"viewers": 0.0, "publishers": 1.0, "warnings": []any{}}, door["webrtc"], "no warnings is an empty list")
	for _, key := range []string{"since", "lastError", "nextRetry", "readerDrops", "bytesReceived", "packetsReceived", "keyframeInterval", "lastPacketAge", "hls"} {
		assert.NotContains(t, door, key, "unset optional fields are left out")
	}
}

func TestAPIEmptyList(t *testing.T) {
	h := newAPIServer(t, &fakeAPI{}, nil, nil).Handler()
	rec := do(t, h, "GET", "/api/v1/paths")
	require.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"items":[]}`, rec.Body.String())
}

func TestAPIOff(t *testing.T) {
	h := newAPIServer(t, nil, nil, nil).Handler()
	rec := do(t, h, "GET", "/api/v1/paths")
	assert.Equal(t, 404, rec.Code)
	assert.JSONEq(t, `{"error":"the API is off"}`, rec.Body.String())
	rec = do(t, h, "GET", "/metrics")
	assert.Equal(t, 404, rec.Code, "no metrics handler, no /metrics")
}

func TestAPIKeepsFrontDoor(t *testing.T) {
	h := newAPIServer(t, testAPIPaths(), nil, nil).Handler()
	rec := do(t, h, "GET", "/cam1/")
	assert.Equal(t, 200, rec.Code, "player pages still work")
	rec = do(t, h, "GET", "/cam1/index.m3u8")
	assert.Equal(t, 200, rec.Code, "HLS still works")
	rec = do(t, h, "GET", "/API/v1/paths")
	assert.Equal(t, 404, rec.Code, "reserved names in other cases are no paths and no API")
}

func TestMatchRoute(t *testing.T) {
	tests := []struct {
		pattern, path, name string
		ok                  bool
	}{
		{"/api/v1/paths", "/api/v1/paths", "", true},
		{"/api/v1/paths", "/api/v1/paths/", "", false},
		{"/api/v1/paths/{name}", "/api/v1/paths/a/b/c", "a/b/c", true},
		{"/api/v1/paths/{name}", "/api/v1/paths/", "", false},
		{"/api/v1/paths/{name}", "/api/v1/pathsx", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			name, ok := matchRoute(tc.pattern, tc.path)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.name, name)
		})
	}
}
