package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var httpReadyRe = regexp.MustCompile(`msg="HTTP listener ready".* address=(\S+)`)

// A streamgate killed with SIGKILL while it records leaves segment files
// that ffprobe reads (every whole fragment is on disk), and the next start
// rebuilds the index from them: the span recorded before the kill is
// listed and plays as HLS VOD.
func TestRecordingSurvivesKill(t *testing.T) {
	for _, tool := range []string{"go", "ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	bin := streamgateBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*procTimeout)
	defer cancel()

	recDir := t.TempDir()
	start := func() (*gatewayProc, string) {
		for attempt := 0; ; attempt++ {
			rtsp, rtp := freeTCPPort(t), freeUDPPair(t)
			conf := writeFile(t, "streamgate.yml", fmt.Sprintf(`http:
  address: "127.0.0.1:0"
webrtc:
  address: ""
rtsp:
  address: "127.0.0.1:%d"
  rtpAddress: "127.0.0.1:%d"
  rtcpAddress: "127.0.0.1:%d"
  multicastIPRange: ""
recordings:
  directory: %q
paths:
  demo:
    source: demo
    record: true
    recordSegmentDuration: 1s
    recordPartDuration: 250ms
`, rtsp, rtp, rtp+1, recDir))
			if p := tryStart(t, ctx, bin, cleanEnv(), rtsp, attempt, "-config", conf); p != nil {
				m := httpReadyRe.FindStringSubmatch(p.waitLine(t, ctx, `msg="HTTP listener ready"`))
				require.NotNil(t, m)
				return p, "http://" + m[1]
			}
		}
	}

	p, _ := start()
	p.waitLine(t, ctx, `msg="recording the stream"`)
	dir := filepath.Join(recDir, "demo")
	// Two closed segments and a third being written, with fragments in it.
	var files []string
	for {
		files = segmentFiles(t, dir)
		if len(files) >= 3 {
			if st, err := os.Stat(filepath.Join(dir, files[len(files)-1])); err == nil && st.Size() > 4096 {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no segments written: %v", files)
		case <-time.After(20 * time.Millisecond):
		}
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited

	files = segmentFiles(t, dir)
	for _, f := range files {
		cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", filepath.Join(dir, f))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "ffprobe %s: %s", f, out)
		assert.Equal(t, []string{"h264", "aac"}, strings.Fields(string(out)), "%s", f)
	}

	p, base := start()
	p.waitLine(t, ctx, `msg="recording on"`)
	res, err := http.Get(base + "/api/v1/recordings/demo")
	require.NoError(t, err)
	var list struct {
		Items []struct{ Start, End time.Time }
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotEmpty(t, list.Items)
	first := list.Items[0]
	assert.Greater(t, first.End.Sub(first.Start), 2*time.Second, "the span before the kill, its last segment ended by a scan")
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, "a segment written before the kill is kept")
	}
	journal, err := os.ReadFile(filepath.Join(dir, "index.jsonl"))
	require.NoError(t, err)
	for _, f := range files {
		assert.Contains(t, string(journal), `"file":"`+f+`"`, "the index lists the segments found on disk")
	}

	q := "?start=" + url.QueryEscape(first.Start.Format(time.RFC3339Nano)) + "&end=" + url.QueryEscape(first.End.Format(time.RFC3339Nano))
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets", "-select_streams", "v",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", base+"/demo/recordings/index.m3u8"+q)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffprobe of the VOD playlist: %s", out)
	var packets int
	_, err = fmt.Sscan(strings.TrimSpace(string(out)), &packets)
	require.NoError(t, err, "%s", out)
	assert.Greater(t, packets, 25, "more than a second of video plays from the span recorded before the kill")
	p.stop(t, syscall.SIGTERM)
}

// segmentFiles lists the .mp4 files of dir, sorted (by time).
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".mp4") {
			out = append(out, e.Name())
		}
	}
	return out
}
