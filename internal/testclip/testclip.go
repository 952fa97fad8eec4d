// Package testclip makes short H.264 (and AAC) clips with ffmpeg for the
// project's tests, as access units ready to publish into the hub. It is
// imported by tests only.
package testclip

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/streamgate/streamgate/ingest"
)

// Clip is a clip as access units: H.264 pictures (AUDs removed, the first
// one an IDR with SPS and PPS in band) and, when asked for, AAC frames.
type Clip struct {
	SPS, PPS    []byte
	Video       [][][]byte
	Audio       [][]byte
	AudioConfig mpeg4audio.AudioSpecificConfig
}

// Cache makes each clip once per GOP length for the whole test binary.
// Its zero value is not usable: set the fields.
type Cache struct {
	// Prefix names the temporary folder.
	Prefix string
	// Seconds, FPS, Width and Height shape the video (testsrc2).
	Seconds, FPS, Width, Height int
	// SampleRate, when not 0, adds a mono AAC sine tone at that rate.
	SampleRate int

	mu    sync.Mutex
	dir   string
	clips map[int]*Clip
}

// Get returns the clip with a keyframe every gop frames, making it on first
// use. Without ffmpeg it skips the test, except in CI (CI=true), where
// every tool must be installed and it fails instead.
func (c *Cache) Get(tb testing.TB, gop int) *Clip {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clips[gop]; cl != nil {
		return cl
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("ffmpeg is not installed")
		}
		tb.Skip("ffmpeg is not installed")
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", c.Prefix)
		if err != nil {
			tb.Fatal(err)
		}
		c.dir, c.clips = dir, make(map[int]*Clip)
	}
	cl, err := c.make(gop)
	if err != nil {
		tb.Fatal(err)
	}
	c.clips[gop] = cl
	return cl
}

func (c *Cache) make(gop int) (*Clip, error) {
	v := filepath.Join(c.dir, fmt.Sprintf("gop%d.h264", gop))
	a := filepath.Join(c.dir, fmt.Sprintf("gop%d.aac", gop))
	args := []string{"-loglevel", "error", "-y",
		"-t", fmt.Sprint(c.Seconds), "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", c.Width, c.Height, c.FPS)}
	if c.SampleRate != 0 {
		args = append(args, "-t", fmt.Sprint(c.Seconds), "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=%d", c.SampleRate))
	}
	args = append(args, "-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "aud=1:repeat-headers=1", "-f", "h264", v)
	if c.SampleRate != 0 {
		args = append(args, "-map", "1:a", "-c:a", "aac", "-ac", "1", "-b:a", "64k", "-f", "adts", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	vb, err := os.ReadFile(v)
	if err != nil {
		return nil, err
	}
	var ab []byte
	if c.SampleRate != 0 {
		if ab, err = os.ReadFile(a); err != nil {
			return nil, err
		}
	}
	return Parse(vb, ab)
}

// Cleanup removes the clips; call it from TestMain.
func (c *Cache) Cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// Parse cuts an Annex-B stream with AUDs into access units and, when adts
// is not empty, an ADTS stream into AAC frames.
func Parse(annexB, adts []byte) (*Clip, error) {
	video, sps, pps, err := ingest.SplitAccessUnits(annexB)
	if err != nil {
		return nil, err
	}
	cl := &Clip{SPS: sps, PPS: pps, Video: video}
	if len(adts) == 0 {
		return cl, nil
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(adts); err != nil {
		return nil, fmt.Errorf("adts: %w", err)
	}
	for _, p := range pkts {
		cl.Audio = append(cl.Audio, p.AU)
	}
	cl.AudioConfig = mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelConfig: pkts[0].ChannelConfig}
	return cl, nil
}

// frameTag marks the SEI of FrameSEI.
const frameTag = "streamgate-test!"

// FrameSEI is an H.264 SEI NAL unit (user data unregistered) carrying frame
// index i as 8 hex digits. Put it in front of a picture's NAL units and
// FrameIndex finds it again after any relay, repacketisation or remux that
// keeps the bitstream, so a test can tell which frames arrived.
func FrameSEI(i int) []byte {
	b := []byte{6, 5, 24}
	b = append(b, frameTag...)
	b = append(b, fmt.Sprintf("%08x", i)...)
	return append(b, 0x80)
}

// FrameIndex finds the first FrameSEI in b (an RTP payload, an access
// unit, a whole stream) and returns its frame index.
func FrameIndex(b []byte) (int, bool) {
	n, _, ok := NextFrameIndex(b)
	return n, ok
}

// NextFrameIndex is FrameIndex that also returns the rest of b after the
// SEI, to walk every frame of a stream in order.
func NextFrameIndex(b []byte) (index int, rest []byte, ok bool) {
	i := bytes.Index(b, []byte(frameTag))
	if i < 0 || i+len(frameTag)+8 > len(b) {
		return 0, nil, false
	}
	v, err := strconv.ParseUint(string(b[i+len(frameTag):i+len(frameTag)+8]), 16, 32)
	if err != nil {
		return 0, nil, false
	}
	return int(v), b[i+len(frameTag)+8:], true
}
