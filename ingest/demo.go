package ingest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/pion/rtp"
)

// demoMaxPacketSize bounds whole RTP packets (header included) of the demo.
const demoMaxPacketSize = 1450

// Demo is the built-in demo source: an embedded 8 s clip (H.264 with a running
// clock, AAC sine tone) looped forever at real-time pace, with RTP timestamps and
// sequence numbers that continue across loops.
type Demo struct {
	// Target receives the session description and packets.
	Target Target
	// Logger receives lifecycle logs. It defaults to slog.Default().
	Logger *slog.Logger
	// Speed multiplies the playback pace; timestamps are unaffected.
	// It defaults to 1 (real time); tests use more to loop quickly.
	Speed float64
}

// demoTrack is one media of the demo with its encoder and RTP state.
type demoTrack struct {
	media     *description.Media
	clockRate int64
	ticks     int64  // clock ticks per frame
	base      uint32 // random initial RTP timestamp
	next      int64  // index of the next frame, counted across loops
	encode    func(i int64) ([]*rtp.Packet, error)
}

// mediaTime is the exact presentation time of the next frame from the start.
func (t *demoTrack) mediaTime() time.Duration {
	pts := t.next * t.ticks
	return time.Duration(pts/t.clockRate)*time.Second +
		time.Duration(pts%t.clockRate)*time.Second/time.Duration(t.clockRate)
}

// due is when the next frame must be sent.
func (t *demoTrack) due(start time.Time, speed float64) time.Time {
	if speed == 1 {
		return start.Add(t.mediaTime())
	}
	return start.Add(time.Duration(float64(t.mediaTime()) / speed))
}

// Run publishes the demo stream and sends it until ctx is done, then closes the
// publication. It returns nil when ctx is done, or an error when the clip cannot
// be prepared or the Target refuses it.
func (d *Demo) Run(ctx context.Context) error {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	speed := d.Speed
	if speed <= 0 {
		speed = 1
	}

	clip, err := parseDemoClip(demoClipH264, demoClipAAC)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	video, audio, err := newDemoTracks(clip)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	desc := &description.Session{Title: "streamgate demo", Medias: []*description.Media{video.media, audio.media}}

	w, err := d.Target.Publish(desc)
	if err != nil {
		return fmt.Errorf("demo: publish: %w", err)
	}
	defer w.Close()
	log.Info("source ready", "codecs", trackNames(desc.Medias),
		"loop", time.Duration(len(clip.video))*time.Second/demoFPS)

	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}

		now := time.Now()
		// After a long stall (suspended VM, overloaded host), resume from now
		// instead of bursting every missed frame; timestamps stay continuous.
		if lag := now.Sub(earliest(video, audio).due(start, speed)); lag > 2*time.Second {
			log.Warn("demo fell behind, skipping ahead", "lag", lag)
			start = start.Add(lag)
		}

		// Send every frame that is due, in timestamp order, all computed from
		// start so that the pace never drifts.
		for {
			t := earliest(video, audio)
			if t.due(start, speed).After(now) {
				break
			}
			if err := d.send(w, t, start); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
		timer.Reset(time.Until(earliest(video, audio).due(start, speed)))
	}
}

func earliest(a, b *demoTrack) *demoTrack {
	if b.mediaTime() < a.mediaTime() {
		return b
	}
	return a
}

// send writes frame t.next of track t and advances it.
func (d *Demo) send(w Writer, t *demoTrack, start time.Time) error {
	pkts, err := t.encode(t.next)
	if err != nil {
		return err
	}
	pts := t.next * t.ticks
	ntp := start.Add(t.mediaTime())
	for _, p := range pkts {
		p.Timestamp = t.base + uint32(pts)
		w.WriteRTP(t.media, p, pts, ntp)
	}
	t.next++
	return nil
}

// newDemoTracks builds the video and audio tracks of the clip.
func newDemoTracks(clip *demoClip) (*demoTrack, *demoTrack, error) {
	h264Format := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: clip.sps, PPS: clip.pps}
	venc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: demoMaxPacketSize - 12}
	if err := venc.Init(); err != nil {
		return nil, nil, fmt.Errorf("H.264 encoder: %w", err)
	}
	video := &demoTrack{
		media:     &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format}},
		clockRate: demoVideoClockRate,
		ticks:     demoVideoTicks,
		base:      randomUint32(),
		encode: func(i int64) ([]*rtp.Packet, error) {
			return venc.Encode(clip.video[i%int64(len(clip.video))])
		},
	}

	config := clip.audioConfig
	aacFormat := &format.MPEG4Audio{
		PayloadTyp: 97, Config: &config,
		SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
	}
	aenc := &rtpmpeg4audio.Encoder{
		PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		PayloadMaxSize: demoMaxPacketSize - 12,
	}
	if err := aenc.Init(); err != nil {
		return nil, nil, fmt.Errorf("AAC encoder: %w", err)
	}
	audio := &demoTrack{
		media:     &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{aacFormat}},
		clockRate: demoAudioSampleRate,
		ticks:     demoAudioTicks,
		base:      randomUint32(),
		encode: func(i int64) ([]*rtp.Packet, error) {
			return aenc.Encode([][]byte{clip.audio[i%int64(len(clip.audio))]})
		},
	}
	return video, audio, nil
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint32(b[:])
}
