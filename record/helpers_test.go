package record

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
	"github.com/streamgate/streamgate/internal/testclip"
)

const (
	clipFPS       = 25
	frameTicks    = 90000 / clipFPS
	aacSampleRate = 48000
	aacFrameTicks = mpeg4audio.SamplesPerAccessUnit
	clipSeconds   = 8
	testDeadline  = 30 * time.Second
)

// clips makes each clip once per GOP length for the whole test binary.
var clips = testclip.Cache{Prefix: "record-test-clips", Seconds: clipSeconds, FPS: clipFPS,
	Width: 160, Height: 90, SampleRate: aacSampleRate}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testEnv is a hub whose paths take publishers and a store recording into
// a temporary directory.
type testEnv struct {
	t     testing.TB
	hub   *hub.Hub
	store *Store
	dir   string
}

func newTestEnv(t testing.TB) *testEnv { return newTestEnvGrace(t, 0) }

// newTestEnvGrace is newTestEnv with readers kept for grace across a
// source outage.
func newTestEnvGrace(t testing.TB, grace time.Duration) *testEnv {
	t.Helper()
	h := &hub.Hub{
		Resolve: func(name string) (hub.PathConf, bool) {
			return hub.PathConf{AcceptPublishers: true, OutageGrace: grace}, true
		},
		Logger: discardLogger(),
	}
	require.NoError(t, h.Start())
	dir := t.TempDir()
	s := &Store{Directory: dir, Paths: h, Logger: discardLogger(), RetryInterval: 5 * time.Millisecond}
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		s.Close()
		h.Close()
	})
	return &testEnv{t: t, hub: h, store: s, dir: dir}
}

// clipSource publishes a clip into a hub path with a frame-index SEI in every
// picture and wall-clock times base + PTS, as fast as the recorder takes it.
type clipSource struct {
	t      testing.TB
	clip   *testclip.Clip
	path   *hub.Path
	pub    *hub.Publisher
	video  *description.Media
	audio  *description.Media
	venc   *rtph264.Encoder
	aenc   *rtpmpeg4audio.Encoder
	base   time.Time
	vi, ai int
	closed bool
}

// testBase is the wall-clock time of the first frame of test sources.
var testBase = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func publishClip(t testing.TB, h *hub.Hub, name string, clip *testclip.Clip, base time.Time) *clipSource {
	t.Helper()
	s := &clipSource{t: t, clip: clip, base: base}
	s.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1, SPS: clip.SPS, PPS: clip.PPS,
	}}}
	cfg := clip.AudioConfig
	s.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.MPEG4Audio{
		PayloadTyp: 97, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
	}}}
	s.venc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	require.NoError(t, s.venc.Init())
	s.aenc = &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	require.NoError(t, s.aenc.Init())
	p, err := h.Acquire(name)
	require.NoError(t, err)
	s.path = p
	s.pub, err = p.Publish(&description.Session{Medias: []*description.Media{s.video, s.audio}})
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

// waitReader waits until the stream has n readers (the recorder joined).
func (s *clipSource) waitReader(n int) {
	s.t.Helper()
	deadline := time.Now().Add(testDeadline)
	for s.pub.Stream().Attached() < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("the recorder did not join the stream")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *clipSource) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.pub.Close()
	s.path.Release()
}

func (s *clipSource) videoTime() time.Duration { return time.Duration(s.vi) * time.Second / clipFPS }
func (s *clipSource) audioTime() time.Duration {
	return time.Duration(s.ai) * aacFrameTicks * time.Second / aacSampleRate
}

// frameTime is the wall-clock time of video frame i.
func (s *clipSource) frameTime(i int) time.Time {
	return s.base.Add(time.Duration(i) * time.Second / clipFPS)
}

// advance writes every frame up to d of media time from now, in time
// order, pausing now and then so the recorder's queue never overflows.
func (s *clipSource) advance(d time.Duration) {
	end := max(s.videoTime(), s.audioTime()) + d
	n := 0
	for s.videoTime() < end || s.audioTime() < end {
		if s.videoTime() <= s.audioTime() {
			s.writeVideo()
		} else {
			s.writeAudio()
		}
		if n++; n%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func (s *clipSource) writeVideo() {
	au := s.clip.Video[s.vi%len(s.clip.Video)]
	au = append([][]byte{testclip.FrameSEI(s.vi)}, au...)
	pts := int64(s.vi) * frameTicks
	pkts, err := s.venc.Encode(au)
	require.NoError(s.t, err)
	for _, pkt := range pkts {
		pkt.Timestamp = uint32(pts)
		s.pub.WriteRTP(s.video, pkt, pts, s.base.Add(time.Duration(pts)*time.Second/90000))
	}
	s.vi++
}

func (s *clipSource) writeAudio() {
	au := s.clip.Audio[s.ai%len(s.clip.Audio)]
	pts := int64(s.ai) * aacFrameTicks
	pkts, err := s.aenc.Encode([][]byte{au})
	require.NoError(s.t, err)
	for _, pkt := range pkts {
		pkt.Timestamp = uint32(pts)
		s.pub.WriteRTP(s.audio, pkt, pts, s.base.Add(time.Duration(pts)*time.Second/aacSampleRate))
	}
	s.ai++
}

// recordClip records d of a clip with a keyframe every gop frames on
// path, then ends the publication and waits until the recorder has closed
// its segment.
func (e *testEnv) recordClip(path string, gop int, set Settings, base time.Time, d time.Duration) *clipSource {
	e.t.Helper()
	clip := clips.Get(e.t, gop)
	require.NoError(e.t, e.store.Record(path, set))
	src := publishClip(e.t, e.hub, path, clip, base)
	src.waitReader(1)
	src.advance(d)
	e.waitUnits(path, src.vi+src.ai)
	src.close()
	e.waitClosed(path)
	return src
}

// waitUnits waits until path's recorder has taken n access units, so
// closing the source loses none of them.
func (e *testEnv) waitUnits(path string, n int) {
	e.t.Helper()
	r := e.store.recorderFor(path)
	require.NotNil(e.t, r)
	deadline := time.Now().Add(testDeadline)
	for r.units.Load() < uint64(n) {
		if time.Now().After(deadline) {
			e.t.Fatalf("path %s: the recorder took %d of %d access units", path, r.units.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitClosed waits until path has no segment being written.
func (e *testEnv) waitClosed(path string) {
	e.t.Helper()
	x, err := e.store.index(path)
	require.NoError(e.t, err)
	deadline := time.Now().Add(testDeadline)
	for {
		x.mu.Lock()
		open := false
		for _, s := range x.segs {
			open = open || s.open
		}
		n := len(x.segs)
		x.mu.Unlock()
		if !open && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("path %s: segments still open (%d segments)", path, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// segmentFiles lists the segment files of a path's directory.
func (e *testEnv) segmentFiles(path string) []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, filepath.FromSlash(path)))
	require.NoError(e.t, err)
	var out []string
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".mp4") {
			out = append(out, en.Name())
		}
	}
	return out
}

// playedFrame is one frame a cursor returned.
type playedFrame struct {
	track  int
	time   time.Time
	random bool
	index  int // the video frame index (-1 for audio)
}

// play reads a cursor to its end (at most limit frames).
func play(t testing.TB, c timeline.Cursor, limit int) []playedFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var out []playedFrame
	for len(out) < limit {
		fr, err := c.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pf := playedFrame{track: fr.Track, time: fr.Time, random: fr.Random, index: -1}
		for _, p := range fr.Packets {
			if i, ok := testclip.FrameIndex(p.Payload); ok {
				pf.index = i
				break
			}
		}
		out = append(out, pf)
	}
	return out
}

// playVideo seeks tl to at, plays to the end and returns the frame
// indices of the video track.
func playVideo(t testing.TB, tl timeline.Source, at time.Time) []int {
	t.Helper()
	c, _, err := tl.Seek(at)
	require.NoError(t, err)
	defer c.Close()
	var video []int
	for _, f := range play(t, c, 100000) {
		if f.track == 0 {
			video = append(video, f.index)
		}
	}
	return video
}
