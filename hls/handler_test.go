package hls

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		file string
		want fileKind
	}{
		{"index.m3u8", fileMainPlaylist},
		{"video1_stream.m3u8", fileMediaPlaylist},
		{"main_stream.m3u8", fileMediaPlaylist},
		{"0a1b2c3d4e5f_video1_init.mp4", fileInit},
		{"0a1b2c3d4e5f_video1_seg12.mp4", fileSegment},
		{"0a1b2c3d4e5f_main_seg3.ts", fileSegment},
		{"0a1b2c3d4e5f_audio2_part40.mp4", filePart},
		{"gap.mp4", fileUnknown},
		{"index.html", fileUnknown},
		{"../index.m3u8", fileUnknown},
		{"_stream.m3u8", fileUnknown},
		{"0a1b2c3d4e5f_video1_seg.mp4", fileUnknown},
		{"0a1b2c3d4e5f_video1_segX.mp4", fileUnknown},
		{"0A1B2C3D4E5F_video1_seg1.mp4", fileUnknown},
		{"0a1b2c_video1_seg1.mp4", fileUnknown},
		{"0a1b2c3d4e5f_video1_part1.ts", fileUnknown},
	} {
		t.Run(tc.file, func(t *testing.T) {
			assert.Equal(t, tc.want, classify(tc.file))
		})
	}
}

// TestRouting serves every kind of file of a path whose name has slashes,
// and 404s whatever the muxer does not serve.
func TestRouting(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{})
	src := publishClip(t, h, "site/door", clip)
	src.advance(8 * time.Second)

	// A stream whose only track HLS cannot carry.
	g711 := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}}}
	p, err := h.Acquire("site/g711")
	require.NoError(t, err)
	defer p.Release()
	pub, err := p.Publish(&description.Session{Medias: []*description.Media{g711}})
	require.NoError(t, err)
	defer pub.Close()

	mv := multivariant(t, s, "/site/door/index.m3u8")
	media := mv.Variants[0].URI
	pl, _ := mediaPlaylist(t, s, "/site/door/"+media)
	require.NotNil(t, pl.Map)
	var seg, part string
	for _, sg := range pl.Segments {
		if !sg.Gap {
			seg = sg.URI
			if len(sg.Parts) > 0 {
				part = sg.Parts[0].URI
			}
		}
	}
	require.NotEmpty(t, seg)
	require.NotEmpty(t, part)
	prefix, _, _ := strings.Cut(seg, "_")

	const immutable = "public, max-age=3600, immutable"
	for _, tc := range []struct {
		name        string
		url         string
		code        int
		contentType string
		cache       string
		body        string
	}{
		{"multivariant playlist", "/site/door/index.m3u8", 200, "application/vnd.apple.mpegurl", "no-cache", "#EXTM3U"},
		{"media playlist", "/site/door/" + media, 200, "application/vnd.apple.mpegurl", "no-cache", "#EXT-X-PART-INF"},
		{"blocking media playlist", "/site/door/" + media + "?_HLS_msn=" + strconv.Itoa(pl.MediaSequence+len(pl.Segments)-1), 200, "application/vnd.apple.mpegurl", "public, max-age=1", "#EXTM3U"},
		{"init", "/site/door/" + pl.Map.URI, 200, "video/mp4", immutable, ""},
		{"segment", "/site/door/" + seg, 200, "video/mp4", immutable, ""},
		{"part", "/site/door/" + part, 200, "video/mp4", immutable, ""},
		{"unknown file", "/site/door/index.html", 404, "text/plain; charset=utf-8", "no-cache", "no such file"},
		{"gap", "/site/door/gap.mp4", 404, "text/plain; charset=utf-8", "no-cache", "no such file"},
		{"segment never made", "/site/door/" + prefix + "_video1_seg99999.mp4", 404, "text/plain; charset=utf-8", "no-cache", "no such file"},
		{"segment of another muxer", "/site/door/0a0a0a0a0a0a_video1_seg8.mp4", 404, "text/plain; charset=utf-8", "no-cache", "no such file"},
		{"unknown path", "/missing/cam/index.m3u8", 404, "text/plain; charset=utf-8", "no-cache", "no such path"},
		{"path without stream", "/site/nobody/index.m3u8", 404, "text/plain; charset=utf-8", "no-cache", "no stream"},
		{"segment of a path without muxer", "/site/nobody/" + seg, 404, "text/plain; charset=utf-8", "no-cache", "no such file"},
		{"no track HLS can carry", "/site/g711/index.m3u8", 404, "text/plain; charset=utf-8", "no-cache", "no track of this stream can be carried over HLS: track 0 (PCMU)"},
		{"bad msn", "/site/door/" + media + "?_HLS_msn=x", 400, "", "no-cache", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, s, tc.url)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.contentType != "" {
				assert.Equal(t, tc.contentType, rec.Header().Get("Content-Type"))
			}
			assert.Equal(t, tc.cache, rec.Header().Get("Cache-Control"))
			assert.Contains(t, rec.Body.String(), tc.body)
			if tc.code == 200 {
				assert.NotZero(t, rec.Body.Len())
			}
		})
	}

	st, ok := s.Status("site/door")
	require.True(t, ok)
	assert.True(t, st.Running)
	assert.Equal(t, VariantLowLatency, st.Variant)
	assert.Equal(t, []TrackStatus{{Index: 0, Codec: "H264"}, {Index: 1, Codec: "AAC"}}, st.Tracks)
	_, ok = s.Status("site/g711")
	assert.False(t, ok)

	rec := httptest.NewRecorder()
	mux(s).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/site/door/index.m3u8", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// TestLeftOutTracks: tracks a variant cannot carry are left out, shown in
// Status with their reason, and the rest plays.
func TestLeftOutTracks(t *testing.T) {
	clip := clips.Get(t, clipFPS)
	opus := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}
	g711 := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}}}
	for _, tc := range []struct {
		name    string
		variant string
		leftOut []TrackStatus
	}{
		{"lowLatency", VariantLowLatency, []TrackStatus{
			{Index: 2, Codec: "Opus", Reason: "a second audio track (only the first is carried)"},
			{Index: 3, Codec: "PCMA", Reason: "not supported by HLS (use WebRTC or RTSP for this audio)"},
		}},
		{"mpegts", VariantMPEGTS, []TrackStatus{
			{Index: 2, Codec: "Opus", Reason: "the MPEG-TS variant carries H.264 and AAC only"},
			{Index: 3, Codec: "PCMA", Reason: "not supported by HLS (use WebRTC or RTSP for this audio)"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(t)
			s := newTestServer(t, h, Settings{Variant: tc.variant})
			src := publishClip(t, h, "cam", clip, opus, g711)
			src.advance(5 * time.Second)
			multivariant(t, s, "/cam/index.m3u8")
			st, ok := s.Status("cam")
			require.True(t, ok)
			assert.Equal(t, tc.variant, st.Variant)
			assert.Equal(t, []TrackStatus{{Index: 0, Codec: "H264"}, {Index: 1, Codec: "AAC"}}, st.Tracks)
			assert.Equal(t, tc.leftOut, st.LeftOut)
		})
	}
}
