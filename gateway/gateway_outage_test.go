package gateway_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/require"
)

// A camera that reboots within outageGrace with the same description keeps
// its readers: their session survives, packets resume at a keyframe, and
// sequence numbers continue without a jump. A camera that comes back with
// another SPS ends them, and new readers get the new SPS.
func TestPullOutage(t *testing.T) {
	ctx := e2eCtx(t)
	cam := newCam(t, camOpts{}, map[string]byte{"cam": 'r'})
	g := startGateway(t, fmt.Sprintf(`paths:
  cam:
    source: %s
    sourceProtocol: tcp
    outageGrace: 5s
`, cam.url("", "cam")))

	r := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 10)
	waitErr := make(chan error, 1)
	go func() { waitErr <- r.c.Wait() }()
	waitChan(t, ctx, cam.played, "the pull's PLAY")

	down := time.Now()
	cam.restart(nil)
	seam := cam.nextFrame("cam") // the first frame of the camera's new session
	waitChan(t, ctx, cam.played, "the pull to reconnect")
	r.waitUntil(t, ctx, "10 pictures after the restart", func(v, _ []rtpCopy) bool {
		n := 0
		for _, p := range v {
			if _, f, ok := pictureTag(p.payload); ok && f >= seam {
				n++
			}
		}
		return n >= 10
	})
	select {
	case err := <-waitErr:
		t.Fatalf("the reader's session ended during the outage: %v", err)
	default:
	}

	v, a := r.packets()
	first := -1
	for i, p := range v {
		if _, f, ok := pictureTag(p.payload); ok && f >= seam && first < 0 {
			first = i
		}
	}
	require.Positive(t, first)
	require.True(t, isSTAPA(v[first-1].payload), "packets resume at a keyframe")
	_, before, _ := pictureTag(v[first-2].payload)
	_, after, _ := pictureTag(v[first].payload)
	t.Logf("seam: last frame %d before the outage, first frame %d after (%d frames missed)", before, after, after-before-1)
	for i := 1; i < len(v); i++ {
		require.Equal(t, v[i-1].seq+1, v[i].seq, "video sequence numbers continue at packet %d (seam at %d)", i, first-1)
	}
	for i := 1; i < len(a); i++ {
		require.Equal(t, a[i-1].seq+1, a[i].seq, "audio sequence numbers continue at packet %d", i)
	}
	require.Positive(t, int32(v[first-1].ts-v[first-2].ts), "timestamps move forward at the seam")
	sentV, _ := cam.sent("cam")
	for _, p := range v {
		require.NotEqual(t, -1, indexOf(sentV, p.payload), "a payload the camera did not send")
	}
	require.True(t, g.log.has("source is back with the same codecs"))
	t.Logf("outage: readers resumed %v after the camera went down", time.Since(down).Round(time.Millisecond))

	cam.restart(e2eSPS2)
	select {
	case err := <-waitErr:
		t.Logf("reader ended after the SPS change: %v", err)
	case <-ctx.Done():
		t.Fatal("the reader's session survived a change of SPS")
	}
	require.True(t, g.log.has("source is back with other codecs"))

	r2 := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	h264, ok := r2.desc.Medias[0].Formats[0].(*format.H264)
	require.True(t, ok)
	require.True(t, bytes.Equal(e2eSPS2, h264.SPS), "a new reader gets the new SPS")
	r2.waitPackets(t, ctx, 5)
}
