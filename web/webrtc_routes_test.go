package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webrtcCall is one call the fake WebRTC server saw.
type webrtcCall struct {
	endpoint, method, path, session string
}

type fakeWebRTC struct {
	mu    sync.Mutex
	calls []webrtcCall
}

func (f *fakeWebRTC) record(endpoint string, w http.ResponseWriter, r *http.Request, path, session string) {
	f.mu.Lock()
	f.calls = append(f.calls, webrtcCall{endpoint, r.Method, path, session})
	f.mu.Unlock()
	w.Header().Set("Location", "/"+path+"/"+endpoint+"/abc")
	w.WriteHeader(http.StatusCreated)
}

func (f *fakeWebRTC) ServeWHEP(w http.ResponseWriter, r *http.Request, path, session string) {
	f.record("whep", w, r, path, session)
}

func (f *fakeWebRTC) ServeWHIP(w http.ResponseWriter, r *http.Request, path, session string) {
	f.record("whip", w, r, path, session)
}

func TestWebRTCRoutes(t *testing.T) {
	cases := []struct {
		name, method, target string
		status               int
		call                 *webrtcCall
	}{
		{"whep offer", "POST", "/cam1/whep", 201, &webrtcCall{"whep", "POST", "cam1", ""}},
		{"whep offer slash name", "POST", "/site/door/whep", 201, &webrtcCall{"whep", "POST", "site/door", ""}},
		{"whep patch session", "PATCH", "/cam1/whep/4f2a", 201, &webrtcCall{"whep", "PATCH", "cam1", "4f2a"}},
		{"whep delete session", "DELETE", "/site/door/whep/4f2a", 201, &webrtcCall{"whep", "DELETE", "site/door", "4f2a"}},
		{"whip offer", "POST", "/door/whip", 201, &webrtcCall{"whip", "POST", "door", ""}},
		{"whip delete", "DELETE", "/door/whip/77", 201, &webrtcCall{"whip", "DELETE", "door", "77"}},
		{"whep without path is a page name", "POST", "/whep", 405, nil},
		{"whep of reserved name", "POST", "/api/whep", 404, nil},
		{"whep bad session", "DELETE", "/cam1/whep/a%20b", 404, nil},
		{"whep traversal", "POST", "/cam1/../whep", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeWebRTC{}
			s := &Server{Paths: &fakePaths{}, WebRTC: fake}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader("v=0\r\n"))
			s.Handler().ServeHTTP(rec, req)
			assert.Equal(t, tc.status, rec.Code)
			if tc.call == nil {
				assert.Empty(t, fake.calls)
				return
			}
			require.Len(t, fake.calls, 1)
			assert.Equal(t, *tc.call, fake.calls[0])
			assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
			assert.Contains(t, rec.Header().Get("Access-Control-Expose-Headers"), "Location")
		})
	}
}

func TestWebRTCPreflight(t *testing.T) {
	fake := &fakeWebRTC{}
	s := &Server{Paths: &fakePaths{}, WebRTC: fake}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodOptions, "/cam1/whep", nil)
	req.Header.Set("Origin", "https://viewer.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	s.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "PATCH")
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Headers"), "If-Match")
	assert.Empty(t, fake.calls, "a preflight never reaches the WebRTC server")
}

func TestWebRTCOff(t *testing.T) {
	s := &Server{Paths: &fakePaths{}}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cam1/whep", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}
