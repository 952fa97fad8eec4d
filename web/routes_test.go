package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoutes(t *testing.T) {
	cases := []struct {
		name     string
		method   string // GET when empty
		target   string
		status   int
		location string   // wanted Location header
		hls      *hlsCall // wanted ServeHLS call, nil for none
		contains string   // wanted in the body
	}{
		{name: "list", target: "/", status: 200, contains: "Streams"},
		{name: "player", target: "/cam1/", status: 200, contains: "<video"},
		{name: "player with slash in name", target: "/site/door/", status: 200, contains: "site/door"},
		{name: "player head", method: "HEAD", target: "/cam1/", status: 200},
		{name: "bare name redirects", target: "/cam1", status: 301, location: "cam1/"},
		{name: "bare name with slash redirects relative", target: "/site/door", status: 301, location: "door/"},
		{name: "redirect keeps query", target: "/cam1?mode=hls", status: 301, location: "cam1/?mode=hls"},
		{name: "playlist", target: "/cam1/index.m3u8", status: 200, hls: &hlsCall{"cam1", "index.m3u8"}},
		{name: "playlist with slash in name", target: "/site/door/index.m3u8", status: 200, hls: &hlsCall{"site/door", "index.m3u8"}},
		{name: "segment with query", target: "/site/door/seg_7.mp4?_HLS_msn=7", status: 200, hls: &hlsCall{"site/door", "seg_7.mp4"}},
		{name: "playlist head", method: "HEAD", target: "/cam1/index.m3u8", status: 200, hls: &hlsCall{"cam1", "index.m3u8"}},
		{name: "playlist of unknown path goes to HLS", target: "/nope/index.m3u8", status: 200, hls: &hlsCall{"nope", "index.m3u8"}},
		{name: "unknown player", target: "/nope/", status: 404, contains: "Not found"},
		{name: "unknown bare name", target: "/nope", status: 404},
		{name: "names are case-sensitive", target: "/CAM1/", status: 404},
		{name: "file without path", target: "/index.m3u8", status: 404},
		{name: "healthz", target: "/healthz", status: 200, contains: "ok"},
		{name: "healthz trailing slash", target: "/healthz/", status: 404},
		{name: "healthz upper case", target: "/HEALTHZ", status: 404},
		{name: "readyz before start", target: "/readyz", status: 503},
		{name: "api not yet mounted", target: "/api/v1/paths", status: 404},
		{name: "api upper case is not a path", target: "/API/v1/paths", status: 404},
		{name: "api upper case player", target: "/Api/", status: 404},
		{name: "reserved name media", target: "/metrics/index.m3u8", status: 404},
		{name: "reserved name mixed case media", target: "/Assets/index.m3u8", status: 404},
		{name: "reserved healthz media", target: "/healthz/x.m3u8", status: 404},
		{name: "asset", target: "/assets/style.css", status: 200, contains: "--accent"},
		{name: "vendored hls.js", target: "/assets/vendor/hls.min.js", status: 200},
		{name: "asset dir", target: "/assets/", status: 404},
		{name: "assets bare", target: "/assets", status: 404},
		{name: "asset upper case", target: "/Assets/style.css", status: 404},
		{name: "asset traversal", target: "/assets/../server.go", status: 404},
		{name: "template not an asset", target: "/assets/../templates/list.html", status: 404},
		{name: "dot dot", target: "/cam1/../cam1/index.m3u8", status: 400},
		{name: "dot dot at end", target: "/cam1/..", status: 400},
		{name: "encoded dot dot", target: "/cam1/%2e%2e/%2e%2e/etc/passwd", status: 400},
		{name: "encoded dot dot upper", target: "/%2E%2E/", status: 400},
		{name: "dot segment", target: "/cam1/./index.m3u8", status: 400},
		{name: "double slash", target: "//cam1/", status: 400},
		{name: "double slash inside", target: "/site//door/index.m3u8", status: 400},
		{name: "encoded slash", target: "/site%2Fdoor/index.m3u8", status: 400},
		{name: "encoded slash lower", target: "/site%2fdoor/", status: 400},
		{name: "encoded backslash", target: "/site%5Cdoor/", status: 400},
		{name: "backslash", target: `/cam1\..\x/`, status: 400},
		{name: "NUL", target: "/cam1%00/", status: 400},
		{name: "control character", target: "/cam1%0a/", status: 400},
		{name: "space in name", target: "/cam%201/", status: 404},
		{name: "markup in name", target: "/a%3Cb/", status: 404},
		{name: "bad file name", target: "/cam1/a%20b.m3u8", status: 404},
		{name: "too long name", target: "/" + strings.Repeat("a", 256) + "/", status: 404},
		{name: "post to page", method: "POST", target: "/", status: 405},
		{name: "post to player", method: "POST", target: "/cam1/", status: 405},
		{name: "post to media", method: "POST", target: "/cam1/index.m3u8", status: 405},
		{name: "delete media", method: "DELETE", target: "/cam1/index.m3u8", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newTestServer(t)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := do(t, s.Handler(), method, tc.target)
			assert.Equal(t, tc.status, rec.Code, "body: %s", rec.Body.String())
			assert.Equal(t, tc.location, rec.Header().Get("Location"))
			if tc.hls == nil {
				assert.Empty(t, h.Calls())
			} else {
				assert.Equal(t, []hlsCall{*tc.hls}, h.Calls())
			}
			if tc.contains != "" {
				assert.Contains(t, rec.Body.String(), tc.contains)
			}
			if rec.Code == http.StatusMethodNotAllowed {
				assert.NotEmpty(t, rec.Header().Get("Allow"))
			}
		})
	}
}

func TestMediaWithoutHLS(t *testing.T) {
	s := &Server{Paths: testPaths()}
	rec := do(t, s.Handler(), http.MethodGet, "/cam1/index.m3u8")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestZeroServerServesEmptyList(t *testing.T) {
	var s Server
	rec := do(t, s.Handler(), http.MethodGet, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "No paths are configured.")
	assert.Equal(t, http.StatusNotFound, do(t, s.Handler(), http.MethodGet, "/cam1/").Code)
}

func TestExtraRoutes(t *testing.T) {
	s, h := newTestServer(t)
	s.Extra = func(r *gin.Engine) {
		r.GET("/api/v1/paths", func(c *gin.Context) { c.String(http.StatusOK, "api") })
		r.GET("/metrics", func(c *gin.Context) { c.String(http.StatusOK, "metrics") })
	}
	rec := do(t, s.Handler(), http.MethodGet, "/api/v1/paths")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "api", rec.Body.String())
	assert.Equal(t, "metrics", do(t, s.Handler(), http.MethodGet, "/metrics").Body.String())
	assert.Equal(t, http.StatusNotFound, do(t, s.Handler(), http.MethodGet, "/api/v2/x").Code)
	assert.Equal(t, http.StatusOK, do(t, s.Handler(), http.MethodGet, "/cam1/").Code)
	assert.Empty(t, h.Calls())
}

func TestAssetRevalidation(t *testing.T) {
	s, _ := newTestServer(t)
	rec := do(t, s.Handler(), http.MethodGet, "/assets/player.js")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "javascript")
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	rec = do(t, s.Handler(), http.MethodGet, "/assets/player.js", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, rec.Code)
}
