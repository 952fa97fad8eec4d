package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/ingest"
)

// The generated clip: what the brief of a typical 720p camera looks like.
const (
	clipWidth   = 1280
	clipHeight  = 720
	clipFPS     = 30
	clipSeconds = 10
	clipBitrate = "4M"
)

var errNoFFmpeg = errors.New("ffmpeg not found")

// clipFrames is a clip split into access units (NAL unit lists, AUDs and SEIs removed).
type clipFrames struct {
	sps, pps []byte
	frames   [][][]byte
	fps      int
	size     string
	bytes    int
}

func (c *clipFrames) bitrate() float64 {
	return float64(c.bytes*8) * float64(c.fps) / float64(len(c.frames))
}

// loadClip returns the cached clip for gop, generating it with ffmpeg first.
func loadClip(ctx context.Context, cacheDir string, gop int, log *slog.Logger) (*clipFrames, error) {
	if cacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		cacheDir = filepath.Join(d, "streamgate-bench")
	}
	name := filepath.Join(cacheDir, fmt.Sprintf("testsrc2-%dx%d-%dfps-%s-g%d-%ds.h264",
		clipWidth, clipHeight, clipFPS, clipBitrate, gop, clipSeconds))
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		if data, err = generateClip(ctx, name, gop, log); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("camera clip: %w", err)
	}
	clip, err := parseClip(data)
	if err != nil {
		return nil, fmt.Errorf("camera clip %s: %w (delete it to regenerate)", name, err)
	}
	clip.fps = clipFPS
	clip.size = fmt.Sprintf("%dx%d", clipWidth, clipHeight)
	return clip, nil
}

func generateClip(ctx context.Context, name string, gop int, log *slog.Logger) ([]byte, error) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, errNoFFmpeg
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("camera clip: %w", err)
	}
	log.Info("generating the camera clip with ffmpeg (once)", "file", name)
	tmp := name + ".tmp"
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	g := fmt.Sprint(gop)
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", clipWidth, clipHeight, clipFPS),
		"-t", fmt.Sprint(clipSeconds),
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
		"-b:v", clipBitrate, "-maxrate", clipBitrate, "-bufsize", "2M",
		"-g", g, "-keyint_min", g, "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "aud=1:repeat-headers=1",
		"-f", "h264", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("camera clip: ffmpeg: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := os.Rename(tmp, name); err != nil {
		return nil, fmt.Errorf("camera clip: %w", err)
	}
	return os.ReadFile(name)
}

// parseClip splits an Annex-B stream on its access unit delimiters and
// drops the SEI units already in it (the camera adds its own stamp).
func parseClip(annexB []byte) (*clipFrames, error) {
	aus, sps, pps, err := ingest.SplitAccessUnits(annexB)
	if err != nil {
		return nil, err
	}
	c := &clipFrames{sps: sps, pps: pps}
	for _, au := range aus {
		kept := au[:0]
		for _, n := range au {
			if h264.NALUType(n[0]&0x1F) == h264.NALUTypeSEI {
				continue
			}
			kept = append(kept, n)
			c.bytes += len(n)
		}
		if len(kept) > 0 {
			c.frames = append(c.frames, kept)
		}
	}
	return c, nil
}

// runDemo streams streamgate's embedded demo clip (ingest.Demo paces it),
// re-packetising the video to add the stamp SEI; audio passes unchanged.
func (c *Camera) runDemo(ctx context.Context, ready chan<- struct{}) error {
	t := &demoTarget{cam: c, ready: ready}
	d := &ingest.Demo{Target: t, Logger: c.Logger}
	return d.Run(ctx)
}

// demoTarget receives the demo's packets (ingest.Target and ingest.Writer).
type demoTarget struct {
	cam   *Camera
	ready chan<- struct{}
	st    *gortsplib.ServerStream
	video *description.Media
	dec   *rtph264.Decoder
	enc   *rtph264.Encoder
}

func (t *demoTarget) Publish(desc *description.Session) (ingest.Writer, error) {
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeVideo {
			t.video = m
		}
	}
	if t.video == nil {
		return nil, errors.New("the demo clip has no video")
	}
	t.dec = &rtph264.Decoder{}
	t.enc = &rtph264.Encoder{PayloadType: t.video.Formats[0].PayloadType(), PacketizationMode: 1, PayloadMaxSize: cameraMaxPayload}
	if err := t.dec.Init(); err != nil {
		return nil, err
	}
	if err := t.enc.Init(); err != nil {
		return nil, err
	}
	st, err := t.cam.setStream(desc, "streamgate demo clip: H.264 640x360, 25 fps, 1 s GOP + AAC")
	if err != nil {
		return nil, err
	}
	t.st = st
	close(t.ready)
	return t, nil
}

func (t *demoTarget) WriteRTP(media *description.Media, pkt *rtp.Packet, _ int64, _ time.Time) {
	if media != t.video {
		_ = t.st.WritePacketRTP(media, pkt)
		return
	}
	au, err := t.dec.Decode(pkt.Clone())
	if err != nil {
		return // more packets needed
	}
	stamped := make([][]byte, 0, len(au)+1)
	placed := false
	for _, n := range au {
		if typ := n[0] & 0x1F; !placed && typ != naluTypeSPS && typ != naluTypePPS && typ != naluTypeAUD {
			stamped = append(stamped, makeStampSEI(time.Now(), 0))
			placed = true
		}
		stamped = append(stamped, n)
	}
	pkts, err := t.enc.Encode(stamped)
	if err != nil {
		return
	}
	for _, p := range pkts {
		p.Timestamp = pkt.Timestamp
		_ = t.st.WritePacketRTP(media, p)
	}
}

func (t *demoTarget) Close() {}
