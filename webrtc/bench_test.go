package webrtc

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// TestWHEPAddedLatency measures, on loopback, the time from the hub
// publisher's WriteRTP of a frame to the pion client receiving the frame's
// first packet, and logs p50/p99.
func TestWHEPAddedLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds of real-time media")
	}
	h := newTestHub(t)
	_, base := newTestServer(t, h)
	clip := clips.Get(t, clipFPS)
	src := publishClip(t, h, "nocache", clip, false) // no GOP cache: every frame is live
	var mu sync.Mutex
	written := map[int]time.Time{}
	var lat []time.Duration
	src.onFrame = func(i int, at time.Time) {
		mu.Lock()
		written[i] = at
		mu.Unlock()
	}
	src.live(0)

	c := newWHEPClient(t, base, video)
	c.onVideo = func(pkt *rtp.Packet, at time.Time) {
		i, ok := frameIndex(pkt.Payload)
		if !ok {
			return
		}
		mu.Lock()
		if w, ok := written[i]; ok {
			lat = append(lat, at.Sub(w))
		}
		mu.Unlock()
	}
	require.Equal(t, http.StatusCreated, c.post("/nocache/whep").StatusCode)
	eventually(t, "100 frames", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lat) >= 100
	})
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	t.Logf("WHEP added latency over %d frames (WriteRTP → first packet at the client): p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// BenchmarkH264Repacketise measures the work per frame and stream: the
// FU-A/STAP-A re-packetisation to 1188-byte payloads, done once for all the
// viewers of a stream (sharedFrame).
func BenchmarkH264Repacketise(b *testing.B) {
	aus, bytes := benchFrames(b)
	b.SetBytes(int64(bytes / len(aus)))
	b.ReportAllocs()
	pkts := 0
	for i := 0; b.Loop(); i++ {
		sf := packetiseFrame(aus[i%len(aus)], sendH264)
		if sf.err != nil {
			b.Fatal(sf.err)
		}
		pkts += len(sf.payloads)
	}
	b.ReportMetric(float64(pkts)/float64(b.N), "pkts/frame")
}

// BenchmarkViewerWriteFrame measures one viewer's work per frame: its own
// headers on the shared packets and the pion track write (unbound, so no
// interceptors, encryption or socket I/O). It must not allocate.
func BenchmarkViewerWriteFrame(b *testing.B) {
	aus, bytes := benchFrames(b)
	frames := make([]*sharedFrame, len(aus))
	for i, au := range aus {
		frames[i] = packetiseFrame(au, sendH264)
		require.NoError(b, frames[i].err)
	}
	spec := &outSpec{track: aus[0].Track, send: sendH264, kind: pwebrtc.RTPCodecTypeVideo, codec: pwebrtc.RTPCodecParameters{
		RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000}, PayloadType: 102,
	}}
	ot, err := newOutTrack(spec)
	require.NoError(b, err)
	b.SetBytes(int64(bytes / len(aus)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := ot.writeFrame(frames[i%len(frames)], uint32(aus[i%len(aus)].PTS)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ot.sent)/float64(b.N), "pkts/frame")
}

// benchFrames is the test clip's video as access units, and its size.
func benchFrames(b testing.TB) ([]*hub.AccessUnit, int) {
	clip := clips.Get(b, clipFPS)
	tr := &hub.Track{Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}}
	aus := make([]*hub.AccessUnit, len(clip.Video))
	bytes := 0
	for i, v := range clip.Video {
		aus[i] = &hub.AccessUnit{Track: tr, PTS: int64(i) * frameTicks, Payloads: v}
		for _, n := range v {
			bytes += len(n)
		}
	}
	return aus, bytes
}
