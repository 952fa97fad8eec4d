package record

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testclip"
)

// requireTool skips the test when an outside program is not installed, and
// fails it in CI, where `make test` installs every tool.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// recordingsServer serves a store the way the front door mounts it.
func recordingsServer(t testing.TB, s *Store) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/recordings/", func(w http.ResponseWriter, r *http.Request) {
		s.ServeSpans(w, r, strings.TrimPrefix(r.URL.Path, "/api/v1/recordings/"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		i := strings.LastIndex(p, "/recordings/")
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		s.ServeRecording(w, r, p[:i], p[i+len("/recordings/"):])
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs
}

func rangeQuery(start, end time.Time) string {
	return "?start=" + url.QueryEscape(start.Format(time.RFC3339Nano)) + "&end=" + url.QueryEscape(end.Format(time.RFC3339Nano))
}

// videoFrames runs ffmpeg on input and returns the frame indices of the
// video it reads, in order (the SEI of every picture survives -c copy).
func videoFrames(t *testing.T, input string, extra ...string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	args := append([]string{"-loglevel", "error"}, extra...)
	args = append(args, "-i", input, "-map", "0:v", "-c", "copy", "-f", "h264", "-")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffmpeg: %s", stderr.String())
	var idx []int
	for rest := out; ; {
		i, r, ok := testclip.NextFrameIndex(rest)
		if !ok {
			break
		}
		idx = append(idx, i)
		rest = r
	}
	return idx
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestHTTPPlayback records 6 s (1 s GOP, 2 s segments) and reads it back
// over HTTP: the span list, an HLS VOD playlist that ffmpeg plays from the
// keyframe at or before start, an MP4 download ffprobe reads, and Range
// requests on both.
func TestHTTPPlayback(t *testing.T) {
	requireTool(t, "ffprobe")
	e := newTestEnv(t)
	set := Settings{SegmentDuration: 2 * time.Second, PartDuration: 500 * time.Millisecond}
	src := e.recordClip("site/cam", clipFPS, set, testBase, 6*time.Second)
	hs := recordingsServer(t, e.store)

	t.Run("spans", func(t *testing.T) {
		res, err := http.Get(hs.URL + "/api/v1/recordings/site/cam")
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		var body struct {
			Items []struct {
				Start, End time.Time
				Duration   float64
			}
		}
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		require.Len(t, body.Items, 1)
		assert.Equal(t, testBase, body.Items[0].Start.Truncate(time.Millisecond))
		assert.InDelta(t, 6.0, body.Items[0].Duration, 0.2)
	})

	t.Run("playlist", func(t *testing.T) {
		res, err := http.Get(hs.URL + "/site/cam/recordings/index.m3u8" + rangeQuery(src.frameTime(60), src.frameTime(130)))
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", b)
		pl := string(b)
		for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST", "#EXT-X-MAP:URI=", "#EXT-X-BYTERANGE:"} {
			assert.Contains(t, pl, want)
		}
		assert.NotContains(t, pl, "#EXT-X-DISCONTINUITY", "one contiguous recording")
		var durs []float64
		for _, line := range strings.Split(pl, "\n") {
			if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
				d, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
				require.NoError(t, err)
				durs = append(durs, d)
			}
		}
		require.Len(t, durs, 4, "one media segment per GOP: frames 50, 75, 100, 125 on")
		for _, d := range durs[:3] {
			assert.InDelta(t, 1.0, d, 0.01, "a whole GOP")
		}
		// The last GOP is cut at the first fragment (500 ms parts) that
		// starts after end: frames 125 to 137.
		assert.InDelta(t, 13.0/clipFPS, durs[3], 0.01)
	})

	t.Run("ffmpeg plays the playlist", func(t *testing.T) {
		got := videoFrames(t, hs.URL+"/site/cam/recordings/index.m3u8"+rangeQuery(src.frameTime(60), src.frameTime(130)))
		assert.Equal(t, seq(50, 138), got, "from the keyframe at or before start to the fragment holding end")
	})

	t.Run("download", func(t *testing.T) {
		u := hs.URL + "/site/cam/recordings/download.mp4" + rangeQuery(src.frameTime(30), src.frameTime(99))
		got := videoFrames(t, u)
		assert.Equal(t, seq(25, 100), got)

		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
			"-of", "json", u).Output()
		require.NoError(t, err)
		var probe struct {
			Streams []struct {
				CodecName string `json:"codec_name"`
			}
			Format struct{ Duration string }
		}
		require.NoError(t, json.Unmarshal(out, &probe), "%s", out)
		var codecs []string
		for _, s := range probe.Streams {
			codecs = append(codecs, s.CodecName)
		}
		assert.ElementsMatch(t, []string{"h264", "aac"}, codecs)
		d, err := strconv.ParseFloat(probe.Format.Duration, 64)
		require.NoError(t, err, "duration %q", probe.Format.Duration)
		assert.InDelta(t, 3.0, d, 0.15, "frames 25 to 99")
	})

	t.Run("range requests", func(t *testing.T) {
		for _, file := range []string{"download.mp4" + rangeQuery(testBase, src.frameTime(149)), e.segmentFiles("site/cam")[1]} {
			u := hs.URL + "/site/cam/recordings/" + file
			res, err := http.Get(u)
			require.NoError(t, err)
			whole, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Greater(t, len(whole), 20000)

			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Range", "bytes=1000-18999")
			res, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			part, _ := io.ReadAll(res.Body)
			res.Body.Close()
			assert.Equal(t, http.StatusPartialContent, res.StatusCode, file)
			assert.Equal(t, fmt.Sprintf("bytes 1000-18999/%d", len(whole)), res.Header.Get("Content-Range"))
			assert.Equal(t, whole[1000:19000], part, "%s: the range is the same bytes as the whole", file)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name, target string
			status       int
			msg          string
		}{
			{"no times", "/site/cam/recordings/index.m3u8", 400, "missing start"},
			{"no end", "/site/cam/recordings/download.mp4?start=2026-11-25T10:00:00Z", 400, "missing end"},
			{"bad time", "/site/cam/recordings/index.m3u8?start=yesterday&end=2026-11-25T10:00:00Z", 400, "RFC 3339"},
			{"huge time", "/site/cam/recordings/index.m3u8?start=2026-11-25T10:00:00Z&end=99999-01-01T00:00:00Z", 400, "RFC 3339"},
			{"end before start", "/site/cam/recordings/index.m3u8?start=2026-11-25T10:00:05Z&end=2026-11-25T10:00:00Z", 400, "not after start"},
			{"nothing then", "/site/cam/recordings/index.m3u8?start=2026-11-24T10:00:00Z&end=2026-11-24T11:00:00Z", 404, "no recordings"},
			{"unknown path", "/other/recordings/download.mp4" + rangeQuery(testBase, src.frameTime(100)), 404, "no recordings"},
			{"not a segment", "/site/cam/recordings/index.jsonl", 404, "no such recording file"},
			{"spans of nothing", "/api/v1/recordings/other", 404, "no recordings"},
			{"spans bad time", "/api/v1/recordings/site/cam?start=now", 400, "RFC 3339"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res, err := http.Get(hs.URL + tc.target)
				require.NoError(t, err)
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				assert.Equal(t, tc.status, res.StatusCode, "%s", b)
				assert.Contains(t, string(b), tc.msg)
			})
		}
	})
}
