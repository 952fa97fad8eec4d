package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// cameraMaxPayload keeps RTP packets under a 1500-byte MTU.
const cameraMaxPayload = 1400

// Camera is the built-in test camera: an RTSP server on loopback that loops
// a clip at real-time pace and stamps every frame with its send time (see
// sei.go). Configure it by fields, Start it, Close it.
type Camera struct {
	// Address is the RTSP listener; defaults to "127.0.0.1:0" (any free port).
	Address string
	// Clip is "ffmpeg" (a 720p30 clip generated once with ffmpeg; the default),
	// or "demo" (streamgate's embedded 640x360 25 fps demo clip, re-stamped).
	// With "ffmpeg" and no ffmpeg installed, the demo clip is used.
	Clip string
	// GOP is the keyframe interval in frames of the ffmpeg clip; defaults to 30 (1 s).
	GOP int
	// CacheDir keeps generated clips; defaults to os.UserCacheDir()/streamgate-bench.
	CacheDir string
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	server *gortsplib.Server
	mu     sync.RWMutex
	stream *gortsplib.ServerStream
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
	desc   string // what the camera streams, for the report
	once   sync.Once

	// sessions are the open sessions, for Drop (camera_drop.go); sessMu
	// is apart from mu, which is held while the stream closes them.
	sessMu   sync.Mutex
	sessions map[*gortsplib.ServerSession]struct{}
	// drops counts the sessions Drop ended.
	drops atomic.Uint64

	// writeDrops counts packets gortsplib dropped because a reader of the
	// camera (the gateway's pull) was too slow; stalls counts skip-aheads.
	writeDrops, stalls atomic.Uint64
}

// Trouble returns the packets dropped toward slow readers of the camera and
// the times the camera itself fell behind (a starved bench host).
func (c *Camera) Trouble() (writeDrops, stalls uint64) {
	return c.writeDrops.Load(), c.stalls.Load()
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError:
// counted, not logged per packet.
func (c *Camera) OnStreamWriteError(*gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	c.writeDrops.Add(1)
}

// Start opens the listener and starts streaming. It returns once the stream
// is ready to be read.
func (c *Camera) Start() error {
	if c.Address == "" {
		c.Address = "127.0.0.1:0"
	}
	if c.GOP <= 0 {
		c.GOP = 30
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var clip *clipFrames
	var err error
	if c.Clip != "demo" {
		clip, err = loadClip(context.Background(), c.CacheDir, c.GOP, c.Logger)
		if errors.Is(err, errNoFFmpeg) {
			c.Logger.Warn("ffmpeg is not installed: the camera streams the embedded demo clip (640x360 25 fps + AAC) instead of 720p30")
		} else if err != nil {
			return err
		}
	}

	c.server = &gortsplib.Server{Handler: c, RTSPAddress: c.Address}
	if err := c.server.Start(); err != nil {
		return fmt.Errorf("camera: listen on %s: %w", c.Address, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.errc = make(chan error, 1)
	ready := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var err error
		if clip != nil {
			err = c.runClip(ctx, clip, ready)
		} else {
			err = c.runDemo(ctx, ready)
		}
		c.errc <- err
	}()
	select {
	case <-ready:
		return nil
	case err := <-c.errc:
		c.Close()
		if err == nil {
			err = errors.New("camera stopped before it was ready")
		}
		return fmt.Errorf("camera: %w", err)
	case <-time.After(10 * time.Second):
		c.Close()
		return errors.New("camera: not ready after 10s")
	}
}

// URL is the camera's stream URL.
func (c *Camera) URL() string {
	return "rtsp://" + c.server.NetListener().Addr().String() + "/cam"
}

// Port is the camera's bound TCP port.
func (c *Camera) Port() int {
	return c.server.NetListener().Addr().(*net.TCPAddr).Port
}

// Description says what the camera streams.
func (c *Camera) Description() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.desc
}

// Close stops streaming and the server. It is idempotent.
func (c *Camera) Close() {
	c.once.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.mu.Lock()
		if c.stream != nil {
			c.stream.Close()
		}
		c.mu.Unlock()
		if c.server != nil {
			c.server.Close()
		}
	})
}

func (c *Camera) setStream(desc *description.Session, what string) (*gortsplib.ServerStream, error) {
	st := &gortsplib.ServerStream{Server: c.server, Desc: desc}
	if err := st.Initialize(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.stream, c.desc = st, what
	c.mu.Unlock()
	return st, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe: every path is the camera.
func (c *Camera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.current()
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *Camera) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.current()
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *Camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *Camera) current() (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// runClip loops the generated clip at its frame rate, each frame stamped.
func (c *Camera) runClip(ctx context.Context, clip *clipFrames, ready chan<- struct{}) error {
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: clip.sps, PPS: clip.pps}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	st, err := c.setStream(&description.Session{Title: "streamgate-bench camera", Medias: []*description.Media{media}},
		fmt.Sprintf("H.264 %s, %d fps, GOP %d frames, %.1f Mbit/s, %d s loop", clip.size, clip.fps, c.GOP,
			clip.bitrate()/1e6, len(clip.frames)/clip.fps))
	if err != nil {
		return err
	}
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: cameraMaxPayload}
	if err := enc.Init(); err != nil {
		return err
	}
	close(ready)

	frameDur := time.Second / time.Duration(clip.fps)
	ticks := uint32(90000 / clip.fps)
	base := randomUint32()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * frameDur)
		if lag := time.Since(due); lag > 2*time.Second {
			// A stalled host: resume from now instead of bursting.
			c.stalls.Add(1)
			c.Logger.Warn("camera fell behind, skipping ahead", "lag", lag)
			start = start.Add(lag)
			due = due.Add(lag)
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		src := clip.frames[i%int64(len(clip.frames))]
		au := make([][]byte, 0, len(src)+3)
		if isIDR(src) && !hasSPS(src) {
			au = append(au, clip.sps, clip.pps)
		}
		// The SEI goes after the parameter sets, in front of the slices.
		sei := makeStampSEI(time.Now(), 0)
		placed := false
		for _, n := range src {
			if !placed && n[0]&0x1F != naluTypeSPS && n[0]&0x1F != naluTypePPS {
				au = append(au, sei)
				placed = true
			}
			au = append(au, n)
		}
		pkts, err := enc.Encode(au)
		if err != nil {
			return fmt.Errorf("encode frame %d: %w", i, err)
		}
		for _, p := range pkts {
			p.Timestamp = base + uint32(i)*ticks
			if err := st.WritePacketRTP(media, p); err != nil {
				return fmt.Errorf("write frame %d: %w", i, err)
			}
		}
	}
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if n[0]&0x1F == naluTypeIDR {
			return true
		}
	}
	return false
}

func hasSPS(au [][]byte) bool {
	for _, n := range au {
		if n[0]&0x1F == naluTypeSPS {
			return true
		}
	}
	return false
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint32(b[:])
}
