package ingest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

func TestDemoClipParses(t *testing.T) {
	if size := len(demoClipH264) + len(demoClipAAC); size >= 1<<20 {
		t.Fatalf("clip is %d bytes, want under 1 MB", size)
	}
	clip, err := parseDemoClip(demoClipH264, demoClipAAC)
	if err != nil {
		t.Fatal(err)
	}
	if len(clip.video) != 200 {
		t.Fatalf("%d video access units, want 200", len(clip.video))
	}
	for i, au := range clip.video {
		if got, want := h264.IsRandomAccess(au), i%25 == 0; got != want {
			t.Fatalf("AU %d: IDR = %v, want %v", i, got, want)
		}
		for _, n := range au {
			if h264.NALUType(n[0]&0x1F) == h264.NALUTypeAccessUnitDelimiter {
				t.Fatalf("AU %d still holds an AUD", i)
			}
		}
	}
	var sps h264.SPS
	if err := sps.Unmarshal(clip.sps); err != nil {
		t.Fatal(err)
	}
	if sps.Width() != 640 || sps.Height() != 360 || sps.FPS() != 25 {
		t.Fatalf("SPS says %dx%d at %v fps", sps.Width(), sps.Height(), sps.FPS())
	}
	if sps.ProfileIdc != 77 && sps.ProfileIdc != 66 {
		t.Fatalf("profile_idc %d, want main (77) or baseline (66)", sps.ProfileIdc)
	}
	if len(clip.audio) != 375 {
		t.Fatalf("%d audio frames, want 375", len(clip.audio))
	}
	want := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 1}
	if clip.audioConfig != want {
		t.Fatalf("audio config %+v, want %+v", clip.audioConfig, want)
	}
}

// runDemo runs a Demo into a fake target until the returned stop is called.
func runDemo(t *testing.T, speed float64) (*fakeWriter, func()) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	target := newFakeTarget()
	d := &Demo{Target: target, Logger: slog.New(slog.DiscardHandler), Speed: speed}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	var w *fakeWriter
	select {
	case w = <-target.published:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before publishing: %v", err)
	case <-ctx.Done():
		cancel()
		t.Fatal("no publication")
	}
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Run did not return within 1s of cancel")
		}
		w.waitClosed(ctx, t)
	}
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	t.Cleanup(stopOnce)
	return w, stopOnce
}

func countFrames(pkts []recvPacket, media *description.Media) int {
	n := 0
	for _, p := range pkts {
		if p.media == media && p.pkt.Marker {
			n++
		}
	}
	return n
}

func TestDemoStream(t *testing.T) {
	checkLeaks(t)
	ctx := testCtx(t, 10*time.Second)
	w, stop := runDemo(t, 50) // 8 s clip in 160 ms
	video, audio := w.desc.Medias[0], w.desc.Medias[1]

	// More than one loop of both tracks.
	pkts := w.waitPackets(ctx, t, func(p []recvPacket) bool {
		return countFrames(p, video) >= 230 && countFrames(p, audio) >= 430
	})
	stop()

	t.Run("description", func(t *testing.T) {
		h, ok := video.Formats[0].(*format.H264)
		if !ok || h.PayloadTyp != 96 || h.PacketizationMode != 1 || len(h.SPS) == 0 || len(h.PPS) == 0 {
			t.Fatalf("video format %#v", video.Formats[0])
		}
		a, ok := audio.Formats[0].(*format.MPEG4Audio)
		if !ok || a.PayloadTyp != 97 || a.SizeLength != 13 || a.IndexLength != 3 || a.IndexDeltaLength != 3 ||
			a.Config.SampleRate != 48000 || a.Config.ChannelConfig != 1 {
			t.Fatalf("audio format %#v", audio.Formats[0])
		}
	})

	t.Run("first access unit is an IDR", func(t *testing.T) {
		dec, err := video.Formats[0].(*format.H264).CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if p.media != video {
				continue
			}
			au, err := dec.Decode(p.pkt)
			if errors.Is(err, rtph264.ErrMorePacketsNeeded) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h264.IsRandomAccess(au) || p.pts != 0 {
				t.Fatalf("first AU: IDR = %v, pts %d", h264.IsRandomAccess(au), p.pts)
			}
			return
		}
		t.Fatal("no complete AU")
	})

	t.Run("packets fit 1450 bytes", func(t *testing.T) {
		for _, p := range pkts {
			if n := p.pkt.MarshalSize(); n > 1450 {
				t.Fatalf("packet of %d bytes", n)
			}
		}
	})

	// Across the loop boundary (video AU 200, audio frame 375) sequence numbers
	// advance by one and timestamps by one frame, exactly like inside the clip.
	for _, tc := range []struct {
		name  string
		media *description.Media
		ticks int64
	}{
		{name: "video continuous across loops", media: video, ticks: 3600},
		{name: "audio continuous across loops", media: audio, ticks: 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev *recvPacket
			var base uint32
			frames := 0
			for i := range pkts {
				p := &pkts[i]
				if p.media != tc.media {
					continue
				}
				if prev == nil {
					base = p.pkt.Timestamp
				} else {
					if p.pkt.SequenceNumber != prev.pkt.SequenceNumber+1 {
						t.Fatalf("seq %d after %d", p.pkt.SequenceNumber, prev.pkt.SequenceNumber)
					}
					wantStep := int64(0)
					if prev.pkt.Marker {
						wantStep = tc.ticks
					}
					if p.pts-prev.pts != wantStep {
						t.Fatalf("frame %d: pts step %d, want %d", frames, p.pts-prev.pts, wantStep)
					}
				}
				if want := base + uint32(p.pts); p.pkt.Timestamp != want {
					t.Fatalf("frame %d: RTP timestamp %d, want %d (pts %d)", frames, p.pkt.Timestamp, want, p.pts)
				}
				if p.pkt.Marker {
					frames++
				}
				prev = p
			}
		})
	}
}

func TestDemoPacing(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	const speed = 10 // 40 ms frames every 4 ms
	w, _ := runDemo(t, speed)
	video := w.desc.Medias[0]
	pkts := w.waitPackets(ctx, t, func(p []recvPacket) bool { return countFrames(p, video) >= 100 })

	var first, firstNTP time.Time
	var lateness []time.Duration
	frame := 0
	for _, p := range pkts {
		if p.media != video || !p.pkt.Marker {
			continue
		}
		if frame == 0 {
			first, firstNTP = p.at, p.ntp
		}
		// Frame i is due at start + i*40ms/speed: never early.
		due := time.Duration(frame) * 40 * time.Millisecond / speed
		late := p.at.Sub(first) - due
		if late < -time.Millisecond {
			t.Fatalf("frame %d sent %v early", frame, -late)
		}
		lateness = append(lateness, late)
		// NTP follows media time exactly: start + pts.
		if got, want := p.ntp.Sub(firstNTP), time.Duration(frame)*40*time.Millisecond; got != want {
			t.Fatalf("frame %d: ntp at +%v, want +%v", frame, got, want)
		}
		frame++
	}
	// Pace is computed from the start, so lateness does not accumulate: a
	// transient stall on a busy machine is caught up with a burst.
	slices.Sort(lateness)
	if median := lateness[len(lateness)/2]; median > 20*time.Millisecond {
		t.Fatalf("median lateness %v: the pace drifts", median)
	}
}

func TestDemoTargetRefuses(t *testing.T) {
	ctx := testCtx(t, 5*time.Second)
	target := newFakeTarget()
	target.setRefuse(errors.New("path is busy"))
	err := (&Demo{Target: target, Logger: slog.New(slog.DiscardHandler)}).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "path is busy") {
		t.Fatalf("Run = %v", err)
	}
}
