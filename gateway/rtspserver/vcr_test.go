package rtspserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

// vcrGOP is the synthetic source's keyframe interval on timeshift paths
// (one second at vcrFPS).
const (
	vcrGOP = 25
	vcrFPS = 25
)

// vcrEnv serves "ts", a synthetic camera with a 30 s timeshift buffer, and
// "live", the same camera without one.
func vcrEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnv(t, envConfig{
		paths: map[string]hub.PathConf{
			"ts":   {HasSource: true, Extra: &synthConf{gop: vcrGOP, fps: vcrFPS}},
			"live": {HasSource: true, Extra: &synthConf{gop: vcrGOP, fps: vcrFPS}},
		},
		timeshift: map[string]time.Duration{"ts": 30 * time.Second},
	})
}

// waitBuffered waits until the path's buffer holds at least d of media,
// by following a cursor from its oldest keyframe.
func waitBuffered(t testing.TB, env *testEnv, path string, d time.Duration) {
	t.Helper()
	ctx := testCtx(t, testTimeout)
	var buf interface {
		Span() (time.Time, time.Time)
		Seek(time.Time) (timeline.Cursor, time.Time, error)
	}
	for buf == nil {
		if b := env.keep.Buffer(path); b != nil {
			if start, _ := b.Span(); !start.IsZero() {
				buf = b
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no timeshift buffer filled on %s", path)
		case <-time.After(20 * time.Millisecond): // the buffer offers no event for its first frame
		}
	}
	start, _ := buf.Span()
	cur, _, err := buf.Seek(start)
	require.NoError(t, err)
	defer cur.Close()
	for {
		f, err := cur.Next(ctx)
		require.NoError(t, err, "waiting for %v of timeshift", d)
		if f.Time.Sub(start) >= d {
			return
		}
	}
}

// keyframeAt is the frame index of the keyframe a seek to target lands on,
// read from the buffer itself.
func keyframeAt(t testing.TB, env *testEnv, path string, target time.Time) (int, time.Time) {
	t.Helper()
	cur, at, err := env.keep.Buffer(path).Seek(target)
	require.NoError(t, err)
	defer cur.Close()
	f, err := cur.Next(testCtx(t, testTimeout))
	require.NoError(t, err)
	for _, p := range f.Packets {
		if idx, ok := frameIndexOf(p.Payload); ok {
			return idx, at
		}
	}
	t.Fatal("the keyframe at the seek position carries no frame index")
	return 0, at
}

// videoFrame is the start of one access unit a reader received.
type videoFrame struct {
	index int
	seq   uint16
	ts    uint32
}

// videoFrames lists the access units of media vi in pkts, in order, with
// the sequence number and timestamp of each one's first packet.
func videoFrames(pkts []recvPacket, vi int) []videoFrame {
	var out []videoFrame
	var cur *videoFrame
	for _, p := range pkts {
		if p.media != vi {
			continue
		}
		if cur == nil || p.pkt.Timestamp != cur.ts {
			if cur != nil && cur.index >= 0 {
				out = append(out, *cur)
			}
			cur = &videoFrame{index: -1, seq: p.pkt.SequenceNumber, ts: p.pkt.Timestamp}
		}
		if idx, ok := frameIndexOf(p.pkt.Payload); ok && cur.index < 0 {
			cur.index = idx
		}
		if p.pkt.Marker && cur.index >= 0 {
			out = append(out, *cur)
			cur = nil
		}
	}
	return out
}

// TestTimeshiftPauseResumesAtTheSameFrame pauses a live session on a
// timeshift path for 3 s: the next PLAY continues with the frame after the
// last one before the pause, with sequence numbers and timestamps going on
// as if there had been no pause, while another reader stays live.
func TestTimeshiftPauseResumesAtTheSameFrame(t *testing.T) {
	env := vcrEnv(t)
	r := startReader(t, env.url("ts"), gortsplib.ProtocolTCP)
	other := startReader(t, env.url("ts"), gortsplib.ProtocolTCP)
	r.waitCount(t, 150)

	_, err := r.c.Pause()
	require.NoError(t, err)
	<-time.After(3 * time.Second) // the scenario: a three-second pause
	before := r.packets()
	vi := r.videoMedia()
	fb := videoFrames(before, vi)
	require.NotEmpty(t, fb)
	last := fb[len(fb)-1]

	res, err := r.c.Play(nil)
	require.NoError(t, err)
	r.waitCount(t, len(before)+120)
	all := r.packets()
	fa := videoFrames(all[len(before):], vi)
	require.NotEmpty(t, fa)
	assert.Equal(t, last.index+1, fa[0].index, "the first frame after resume follows the last one before PAUSE")
	for i := 1; i < len(fa); i++ {
		require.Equal(t, fa[i-1].index+1, fa[i].index, "frames after resume are consecutive")
	}
	requireVideoContinuous(t, all, vi)
	assert.Equal(t, uint32(90000/vcrFPS), fa[0].ts-last.ts, "timestamps go on by one frame across the pause")

	var info headers.RTPInfo
	require.NoError(t, info.Unmarshal(res.Header["RTP-Info"]))
	for _, e := range info {
		if e.SequenceNumber != nil && e.URL != "" && e.URL[len(e.URL)-1] == byte('0'+vi) {
			assert.Equal(t, fa[0].seq, *e.SequenceNumber, "RTP-Info seq of the resumed video")
		}
	}
	assert.Equal(t, 1, env.logs.count("reader playing from the timeline"))

	// The other reader never paused: it is still at the live edge.
	other.waitMore(t, 20)
	fo := videoFrames(other.packets(), other.videoMedia())
	assert.Greater(t, fo[len(fo)-1].index, fa[len(fa)-1].index+vcrFPS, "the other reader is about 3 s ahead")
}

// TestTimeshiftSeek seeks with clock and npt ranges: the first frame is the
// keyframe at or before the requested time, and the PLAY response's Range
// and RTP-Info describe exactly what is sent.
func TestTimeshiftSeek(t *testing.T) {
	env := vcrEnv(t)
	waitBuffered(t, env, "ts", 4*time.Second)
	start, _ := env.keep.Buffer("ts").Span()

	cases := []struct {
		name  string
		rng   func() *headers.Range
		clock bool
	}{
		{"clock", func() *headers.Range {
			// gortsplib writes whole seconds.
			return &headers.Range{Value: &headers.RangeUTC{Start: start.Add(2500 * time.Millisecond).Truncate(time.Second)}}
		}, true},
		{"npt from the start of the window", func() *headers.Range {
			return &headers.Range{Value: &headers.RangeNPT{Start: 1500 * time.Millisecond}}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := startReader(t, env.url("ts"), gortsplib.ProtocolTCP)
			r.waitCount(t, 10)
			_, err := r.c.Pause()
			require.NoError(t, err)
			n := r.count()

			rng := tc.rng()
			var target time.Time
			if u, ok := rng.Value.(*headers.RangeUTC); ok {
				target = u.Start
			} else {
				s, _ := env.keep.Buffer("ts").Span()
				target = s.Add(rng.Value.(*headers.RangeNPT).Start)
			}
			wantIdx, at := keyframeAt(t, env, "ts", target)
			res, err := r.c.Play(rng)
			require.NoError(t, err)
			require.Equal(t, base.StatusOK, res.StatusCode)
			r.waitCount(t, n+40)
			vi := r.videoMedia()
			fa := videoFrames(r.packets()[n:], vi)
			require.NotEmpty(t, fa)
			assert.Equal(t, wantIdx, fa[0].index, "first frame is the keyframe at or before the target")
			assert.Zero(t, fa[0].index%vcrGOP, "the first frame is a keyframe")

			var hr headers.Range
			require.NoError(t, hr.Unmarshal(res.Header["Range"]))
			if tc.clock {
				u, ok := hr.Value.(*headers.RangeUTC)
				require.True(t, ok, "a clock request gets a clock range: %v", res.Header["Range"])
				assert.WithinDuration(t, at, u.Start, time.Millisecond)
			} else {
				_, ok := hr.Value.(*headers.RangeNPT)
				require.True(t, ok, "an npt request gets an npt range: %v", res.Header["Range"])
			}
			var info headers.RTPInfo
			require.NoError(t, info.Unmarshal(res.Header["RTP-Info"]))
			found := false
			for _, e := range info {
				if e.SequenceNumber != nil && e.URL[len(e.URL)-1] == byte('0'+vi) {
					found = true
					assert.Equal(t, fa[0].seq, *e.SequenceNumber, "RTP-Info seq")
					assert.Equal(t, fa[0].ts, *e.Timestamp, "RTP-Info rtptime")
				}
			}
			assert.True(t, found, "RTP-Info names the video track: %v", res.Header["RTP-Info"])
		})
	}
}

// rawPlayer is a hand-written RTSP session set up on a path's video track
// over TCP, for requests a client library would not send.
type rawPlayer struct {
	rc  *rawConn
	url string
	ses string
}

func rawSetup(t *testing.T, env *testEnv, path string) *rawPlayer {
	t.Helper()
	rc := dialRaw(t, env.host)
	res := rc.mustDo(t, base.Setup, env.url(path)+"/trackID=0", base.Header{
		"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"},
	}, nil)
	require.Equal(t, base.StatusOK, res.StatusCode)
	return &rawPlayer{rc: rc, url: env.url(path), ses: sessionID(t, res)}
}

func (p *rawPlayer) play(t *testing.T, hdr base.Header) *base.Response {
	t.Helper()
	h := base.Header{"Session": base.HeaderValue{p.ses}}
	for k, v := range hdr {
		h[k] = v
	}
	return p.rc.mustDo(t, base.Play, p.url, h, nil)
}

// frames reads interleaved RTP until it has seen n video frame starts.
func (p *rawPlayer) frames(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for len(out) < n {
		var fr base.InterleavedFrame
		require.NoError(t, fr.Unmarshal(p.rc.br))
		if fr.Channel != 0 {
			continue
		}
		var pkt rtp.Packet
		require.NoError(t, pkt.Unmarshal(fr.Payload))
		if idx, ok := frameIndexOf(pkt.Payload); ok && (len(out) == 0 || out[len(out)-1] != idx) {
			out = append(out, idx)
		}
	}
	return out
}

// TestTimeshiftRangeFromLiveEdge seeks with npt=-2-, two seconds before
// the live edge (our extension of npt for live paths).
func TestTimeshiftRangeFromLiveEdge(t *testing.T) {
	env := vcrEnv(t)
	waitBuffered(t, env, "ts", 4*time.Second)
	p := rawSetup(t, env, "ts")
	_, end := env.keep.Buffer("ts").Span()
	low, _ := keyframeAt(t, env, "ts", end.Add(-2*time.Second))
	res := p.play(t, base.Header{"Range": base.HeaderValue{"npt=-2-"}})
	require.Equal(t, base.StatusOK, res.StatusCode)
	got := p.frames(t, 5)
	// The edge moved on between our look and the PLAY: the keyframe is
	// the one we computed or, rarely, the next.
	assert.Contains(t, []int{low, low + vcrGOP}, got[0], "first frame %d (frames %v)", got[0], got)
	assert.Equal(t, []int{got[0], got[0] + 1, got[0] + 2, got[0] + 3, got[0] + 4}, got)
}

// TestTimeshiftBadInput sends ranges and scales the gateway must refuse,
// each with its status, on one session that keeps working throughout.
func TestTimeshiftBadInput(t *testing.T) {
	env := vcrEnv(t)
	waitBuffered(t, env, "ts", 2*time.Second)
	p := rawSetup(t, env, "ts")
	cases := []struct {
		hdr  string
		val  string
		want base.StatusCode
	}{
		{"Range", "npt=abc-", base.StatusBadRequest},
		{"Range", "npt=1e9-", base.StatusBadRequest},
		{"Range", "npt=-", base.StatusBadRequest},
		{"Range", "npt=--5-", base.StatusBadRequest},
		{"Range", "clock=2026-", base.StatusBadRequest},
		{"Range", "clock=20261125T203000-", base.StatusBadRequest},
		{"Range", "smpte=0:10:00-", base.StatusBadRequest},
		{"Range", "npt=99999999999999999999-", base.StatusBadRequest},
		{"Range", "clock=20000101T000000Z-", base.StatusInvalidRange},
		{"Range", "clock=29991231T235959Z-", base.StatusInvalidRange},
		{"Range", "npt=-99999-", base.StatusInvalidRange},
		{"Range", "npt=99999-", base.StatusInvalidRange},
		{"Scale", "2", base.StatusHeaderFieldNotValidForResource},
		{"Scale", "-1", base.StatusHeaderFieldNotValidForResource},
		{"Scale", "fast", base.StatusHeaderFieldNotValidForResource},
	}
	for _, tc := range cases {
		res := p.play(t, base.Header{tc.hdr: base.HeaderValue{tc.val}})
		assert.Equal(t, tc.want, res.StatusCode, "%s: %s", tc.hdr, tc.val)
	}
	// Still the same session, and it plays.
	res := p.play(t, base.Header{"Scale": base.HeaderValue{"1"}})
	require.Equal(t, base.StatusOK, res.StatusCode)
	got := p.frames(t, 3)
	assert.Equal(t, []int{got[0], got[0] + 1, got[0] + 2}, got)
}

// TestRangeOnLivePathPlaysLive: a path without timeshift has no time range,
// so PLAY with any valid Range is live, as documented.
func TestRangeOnLivePathPlaysLive(t *testing.T) {
	env := vcrEnv(t)
	p := rawSetup(t, env, "live")
	res := p.play(t, base.Header{"Range": base.HeaderValue{"clock=20000101T000000Z-"}})
	require.Equal(t, base.StatusOK, res.StatusCode)
	assert.Equal(t, base.HeaderValue{"npt=now-"}, res.Header["Range"])
	got := p.frames(t, 3)
	assert.Equal(t, []int{got[0], got[0] + 1, got[0] + 2}, got)
}

// TestGStreamerPauseResumesAtTheSameFrame pauses GStreamer's rtspsrc for
// 3 s on a timeshift path: the first frame after the resume is the one
// after the last frame before the pause.
func TestGStreamerPauseResumesAtTheSameFrame(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import gi; gi.require_version('Gst', '1.0')").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s has no GStreamer bindings: %v", python, err)
		}
		t.Skipf("%s has no GStreamer bindings: %v", python, err)
	}
	env := vcrEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/gst_vcr.py", env.url("ts"), "3").Output()
	events := make(map[string][]int)
	for _, line := range strings.Split(string(out), "\n") {
		var ev struct {
			Event  string `json:"event"`
			Frames []int  `json:"frames"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil {
			events[ev.Event] = ev.Frames
			t.Logf("gst_vcr.py: %s %v", ev.Event, ev.Frames)
		}
	}
	require.NoError(t, err, "gst_vcr.py: %s", out)
	before, after := events["paused"], events["resumed"]
	require.NotEmpty(t, before)
	require.NotEmpty(t, after)
	assert.Equal(t, before[len(before)-1]+1, after[0], "the first frame after resume follows the last one before PAUSE")
	for i := 1; i < len(after); i++ {
		require.Equal(t, after[i-1]+1, after[i], "frames after resume are consecutive: %v", after)
	}
}

// annexBFrames lists the frame numbers of the synthetic stream's slices in
// an Annex-B byte stream, once per frame.
func annexBFrames(data []byte) []int {
	var out []int
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte{0, 0, 1})
		if j < 0 || i+j+8 > len(data) {
			return out
		}
		j += i
		if typ := data[j+3] & 0x1F; typ == 1 || typ == 5 {
			idx := int(binary.BigEndian.Uint32(data[j+4 : j+8]))
			if len(out) == 0 || out[len(out)-1] != idx {
				out = append(out, idx)
			}
		}
		i = j + 3
	}
}

// TestFFmpegSeek runs ffmpeg with -ss over RTSP. ffmpeg plays from npt=0
// while it probes the stream, then seeks with PAUSE and PLAY with Range:
// npt=<about 2 s>-: the first frame it writes is the keyframe at or before
// the time it asked for, counted from the start of the window.
func TestFFmpegSeek(t *testing.T) {
	requireTool(t, "ffmpeg")
	env := vcrEnv(t)
	waitBuffered(t, env, "ts", 5*time.Second)
	start, _ := env.keep.Buffer("ts").Span()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-rtsp_transport", "tcp", "-analyzeduration", "1000000", "-ss", "2", "-i", env.url("ts"),
		"-map", "0:v", "-c", "copy", "-frames:v", "10", "-f", "h264", "-")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffmpeg: %s", stderr.String())
	got := annexBFrames(out)
	require.NotEmpty(t, got)

	// The position ffmpeg asked for, from the server's log of its PLAYs.
	m := regexp.MustCompile(`msg=PLAY .*range="\[npt=([0-9.]+)-\]"`).FindAllStringSubmatch(env.logs.String(), -1)
	require.NotEmpty(t, m, "ffmpeg sent PLAY with an npt range")
	asked, err := strconv.ParseFloat(m[len(m)-1][1], 64)
	require.NoError(t, err)
	require.InDelta(t, 2.0, asked, 0.5, "ffmpeg seeks to about -ss")
	want, _ := keyframeAt(t, env, "ts", start.Add(time.Duration(asked*float64(time.Second))))
	t.Logf("ffmpeg asked for npt=%.3f and wrote frames %v…; the keyframe at or before it is %d", asked, got[:min(len(got), 5)], want)
	assert.Equal(t, want, got[0], "the first frame is the keyframe at or before the requested time")
	assert.Zero(t, got[0]%vcrGOP, "it is a keyframe")
}
