package web

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCORS(t *testing.T) {
	cases := []struct {
		name    string
		origins []string
		method  string
		target  string
		origin  string
		status  int
		allow   string // wanted Access-Control-Allow-Origin
		vary    bool   // wanted Vary: Origin
		methods bool   // wanted preflight headers
	}{
		{name: "default allows any origin", method: "GET", target: "/cam1/index.m3u8", origin: "https://a.example", status: 200, allow: "*"},
		{name: "no origin header", method: "GET", target: "/cam1/index.m3u8", status: 200, allow: "*"},
		{name: "listed origin", origins: []string{"https://a.example"}, method: "GET", target: "/cam1/seg1.mp4", origin: "https://a.example", status: 200, allow: "https://a.example", vary: true},
		{name: "unlisted origin", origins: []string{"https://a.example"}, method: "GET", target: "/cam1/seg1.mp4", origin: "https://b.example", status: 200, vary: true},
		{name: "preflight", method: "OPTIONS", target: "/site/door/index.m3u8", origin: "https://a.example", status: 204, allow: "*", methods: true},
		{name: "preflight listed origin", origins: []string{"https://a.example"}, method: "OPTIONS", target: "/cam1/index.m3u8", origin: "https://a.example", status: 204, allow: "https://a.example", vary: true, methods: true},
		{name: "preflight unlisted origin", origins: []string{"https://a.example"}, method: "OPTIONS", target: "/cam1/index.m3u8", origin: "https://b.example", status: 403, vary: true},
		{name: "pages get no CORS", method: "GET", target: "/cam1/", origin: "https://a.example", status: 200},
		{name: "list gets no CORS", method: "GET", target: "/", origin: "https://a.example", status: 200},
		{name: "no preflight for pages", method: "OPTIONS", target: "/cam1/", origin: "https://a.example", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHLS{}
			s := &Server{Paths: testPaths(), HLS: h, AllowOrigins: tc.origins}
			var hdr []string
			if tc.origin != "" {
				hdr = append(hdr, "Origin", tc.origin)
			}
			if tc.method == http.MethodOptions {
				hdr = append(hdr, "Access-Control-Request-Method", "GET")
			}
			rec := do(t, s.Handler(), tc.method, tc.target, hdr...)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, tc.allow, rec.Header().Get("Access-Control-Allow-Origin"))
			assert.Equal(t, tc.vary, rec.Header().Get("Vary") == "Origin", "Vary: %q", rec.Header().Get("Vary"))
			if tc.methods {
				assert.Equal(t, "GET, HEAD, OPTIONS", rec.Header().Get("Access-Control-Allow-Methods"))
				assert.Contains(t, rec.Header().Get("Access-Control-Allow-Headers"), "Range")
				assert.Empty(t, rec.Body.String())
			} else {
				assert.Empty(t, rec.Header().Get("Access-Control-Allow-Methods"))
			}
			if tc.method == http.MethodOptions {
				assert.Empty(t, h.Calls(), "a preflight never reaches HLS")
			}
		})
	}
}

func TestAccessLogLevels(t *testing.T) {
	cases := []struct {
		name   string
		method string
		target string
		level  slog.Level
		status int
	}{
		{name: "list page", method: "GET", target: "/", level: slog.LevelInfo, status: 200},
		{name: "player page", method: "GET", target: "/site/door/", level: slog.LevelInfo, status: 200},
		{name: "asset", method: "GET", target: "/assets/style.css", level: slog.LevelInfo, status: 200},
		{name: "health", method: "GET", target: "/healthz", level: slog.LevelInfo, status: 200},
		{name: "not found", method: "GET", target: "/nope/", level: slog.LevelInfo, status: 404},
		{name: "bad request", method: "GET", target: "/a/../b/", level: slog.LevelInfo, status: 400},
		{name: "playlist", method: "GET", target: "/cam1/index.m3u8?_HLS_msn=3", level: slog.LevelDebug, status: 200},
		{name: "segment", method: "GET", target: "/site/door/seg12.mp4", level: slog.LevelDebug, status: 200},
		{name: "part", method: "GET", target: "/cam1/part_12_3.mp4", level: slog.LevelDebug, status: 200},
		{name: "preflight", method: "OPTIONS", target: "/cam1/index.m3u8", level: slog.LevelDebug, status: 204},
		{name: "panic in extra route", method: "GET", target: "/api/panic", level: slog.LevelWarn, status: 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, records := newCapture()
			s := &Server{Paths: testPaths(), HLS: &fakeHLS{}, Logger: log, Extra: func(r *gin.Engine) {
				r.GET("/api/panic", func(*gin.Context) { panic("boom") })
			}}
			rec := do(t, s.Handler(), tc.method, tc.target)
			require.Equal(t, tc.status, rec.Code)
			var access []logRecord
			for _, r := range records() {
				if r.msg == "http request" {
					access = append(access, r)
				}
			}
			require.Len(t, access, 1)
			r := access[0]
			assert.Equal(t, tc.level, r.level)
			assert.Equal(t, tc.method, r.attrs["method"])
			assert.Equal(t, int64(tc.status), r.attrs["status"])
			assert.Equal(t, "192.0.2.1", r.attrs["remote"])
			assert.NotContains(t, r.attrs["path"], "?", "the query is not logged")
			assert.Contains(t, r.attrs, "duration")
		})
	}
}

func TestPanicIsLogged(t *testing.T) {
	log, records := newCapture()
	s := &Server{Logger: log, Extra: func(r *gin.Engine) {
		r.GET("/api/panic", func(*gin.Context) { panic("boom") })
	}}
	require.Equal(t, http.StatusInternalServerError, do(t, s.Handler(), http.MethodGet, "/api/panic").Code)
	var found bool
	for _, r := range records() {
		if r.level == slog.LevelError && r.msg == "panic serving http request" {
			assert.Contains(t, r.attrs["detail"], "boom")
			found = true
		}
	}
	assert.True(t, found, "panic logged at Error")
}

func TestTrustedProxies(t *testing.T) {
	cases := []struct {
		name    string
		proxies []string
		remote  string
	}{
		{name: "default trusts no proxy", remote: "192.0.2.1"},
		{name: "trusted proxy", proxies: []string{"192.0.2.0/24"}, remote: "203.0.113.9"},
		{name: "other proxy", proxies: []string{"10.0.0.1"}, remote: "192.0.2.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, records := newCapture()
			s := &Server{Logger: log, TrustedProxies: tc.proxies}
			do(t, s.Handler(), http.MethodGet, "/healthz", "X-Forwarded-For", "203.0.113.9")
			recs := records()
			require.NotEmpty(t, recs)
			assert.Equal(t, tc.remote, recs[len(recs)-1].attrs["remote"])
		})
	}
}

func TestInvalidTrustedProxies(t *testing.T) {
	s := &Server{Address: "127.0.0.1:0", TrustedProxies: []string{"not an address"}}
	require.ErrorContains(t, s.Start(), "trusted proxies")
	s.Close()
	// The handler still works and trusts nobody.
	assert.Equal(t, http.StatusOK, do(t, s.Handler(), http.MethodGet, "/healthz").Code)
}

func TestRedactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"_HLS_msn=7&_HLS_part=2":   "_HLS_msn=7&_HLS_part=2",
		"token=abc.def&_HLS_msn=7": "token=***&_HLS_msn=7",
		"Token=abc":                "Token=***",
		"a=1&access_token=x&jwt=y": "a=1&access_token=***&jwt=***",
		"tok%65n=secret":           "tok%65n=***",
		"password":                 "password=***",
		"justtext":                 "justtext",
	} {
		if got := redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
