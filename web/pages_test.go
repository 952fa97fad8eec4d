package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListPage(t *testing.T) {
	s, _ := newTestServer(t)
	rec := do(t, s.Handler(), http.MethodGet, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.NotEmpty(t, rec.Header().Get("Content-Security-Policy"))
	body := rec.Body.String()
	for _, want := range []string{
		`<a class="path-name" href="cam1/">cam1</a>`,
		`<a class="path-name" href="site/door/">site/door</a>`,
		`<span class="state state-ready">ready</span>`,
		`<span class="state state-waiting">waiting</span>`,
		"H264 640×360, AAC",
		"H264 1280×720",
		"2 readers",
		"1 reader<",
		"0 readers",
		"no tracks",
		"rtsp://***:***@10.0.0.10:554/stream1",
		`src="assets/list.js"`,
		`href="assets/style.css"`,
	} {
		assert.Contains(t, body, want)
	}
	// The order is the order Paths returns.
	assert.Less(t, strings.Index(body, ">cam1<"), strings.Index(body, ">site/door<"))
	assert.Less(t, strings.Index(body, ">site/door<"), strings.Index(body, ">demo<"))
}

func TestListFragment(t *testing.T) {
	s, _ := newTestServer(t)
	rec := do(t, s.Handler(), http.MethodGet, "/", fragmentHeader, "paths")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.True(t, strings.HasPrefix(body, `<ul class="paths">`), body)
	assert.NotContains(t, body, "<html")
	assert.Contains(t, body, ">site/door<")
	assert.Contains(t, rec.Header().Get("Vary"), fragmentHeader)
}

func TestPlayerPage(t *testing.T) {
	cases := []struct {
		name   string
		target string
		want   []string
		absent []string
	}{
		{
			name:   "one segment",
			target: "/cam1/",
			want: []string{
				`<h1 class="path-title">cam1</h1>`,
				`<video id="video" muted autoplay playsinline controls data-hls="index.m3u8">`,
				`src="../assets/vendor/hls.min.js"`,
				`src="../assets/player.js"`,
				`href="../assets/style.css"`,
				`<a class="back" href="../">`,
				"H264 640×360, AAC",
			},
			absent: []string{`class="notice"`},
		},
		{
			name:   "slash in name",
			target: "/site/door/",
			want: []string{
				`<h1 class="path-title">site/door</h1>`,
				`src="../../assets/player.js"`,
				`<a class="back" href="../../">`,
				"none yet",
			},
		},
		{
			name:   "notice is shown escaped",
			target: "/opus/",
			want:   []string{`<p class="notice" role="note">Opus &lt;audio&gt; is not in HLS</p>`},
			absent: []string{"<audio>"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			rec := do(t, s.Handler(), http.MethodGet, tc.target)
			require.Equal(t, http.StatusOK, rec.Code)
			body := rec.Body.String()
			for _, w := range tc.want {
				assert.Contains(t, body, w)
			}
			for _, a := range tc.absent {
				assert.NotContains(t, body, a)
			}
		})
	}
}

func TestNotFoundPage(t *testing.T) {
	s, _ := newTestServer(t)
	rec := do(t, s.Handler(), http.MethodGet, "/site/gate/")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	body := rec.Body.String()
	assert.Contains(t, body, "There is no stream named &#34;site/gate&#34;.")
	assert.Contains(t, body, `<a class="back" href="../../">`)
}

// Names are validated upstream and never reach a page with markup in them
// through a URL; the templates escape them anyway.
func TestPagesEscapeNames(t *testing.T) {
	evil := PathInfo{Name: `a<b"c`, State: `<script>`, Source: `rtsp://x/<i>`, HLSNotice: "<b>n</b>",
		Tracks: []TrackInfo{{Kind: "video", Codec: "<H264>"}}}
	p, err := newPages()
	require.NoError(t, err)
	for _, name := range []string{"list.html", "player.html"} {
		t.Run(name, func(t *testing.T) {
			data := newPageData("/x/", "t")
			data.Paths = []pathView{newPathView(evil)}
			data.Path = newPathView(evil)
			var buf bytes.Buffer
			require.NoError(t, p.tmpl.ExecuteTemplate(&buf, name, data))
			out := buf.String()
			for _, raw := range []string{`a<b`, "<script>", "<i>", "<b>", "<H264>"} {
				assert.NotContains(t, out, raw)
			}
			assert.Contains(t, out, "a&lt;b&#34;c")
			assert.Contains(t, out, "state-unknown", "unknown states get a fixed class")
		})
	}
}

func TestRenderError(t *testing.T) {
	p, err := newPages()
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	p.render(c, http.StatusOK, "missing.html", pageData{})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
}

func TestCodecs(t *testing.T) {
	cases := []struct {
		name   string
		tracks []TrackInfo
		want   string
	}{
		{name: "none", want: ""},
		{name: "video and audio", tracks: []TrackInfo{{Kind: "video", Codec: "H264", Width: 640, Height: 360}, {Kind: "audio", Codec: "AAC"}}, want: "H264 640×360, AAC"},
		{name: "unknown size", tracks: []TrackInfo{{Kind: "video", Codec: "H265"}}, want: "H265"},
		{name: "no codec name", tracks: []TrackInfo{{Kind: "audio"}}, want: "audio"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, codecs(tc.tracks))
		})
	}
}
