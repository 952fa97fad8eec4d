package gateway_test

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testcam"
	"github.com/streamgate/streamgate/web"
)

// An RTSP publisher whose packets skip sequence numbers: the loss shows
// in the metric and the API of its path.
func TestPublisherPacketsLost(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	desc := e2eDesc(e2eSPS)
	pub := &gortsplib.Client{Protocol: new(gortsplib.ProtocolTCP)}
	require.NoError(t, pub.StartRecording(g.url("site/door"), desc))
	defer pub.Close()

	synth := testcam.NewSynth(1, e2eSPS)
	send := func(frames int) {
		for range frames {
			video, audio := synth.Frame()
			for _, p := range video {
				require.NoError(t, pub.WritePacketRTP(desc.Medias[0], p))
			}
			for _, p := range audio {
				require.NoError(t, pub.WritePacketRTP(desc.Medias[1], p))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(10)
	synth.VSeq += 20 // 20 video packets lost on the way
	send(10)

	c.waitMetric("the publisher's loss is counted", "streamgate_path_packets_lost_total",
		func(v float64, ok bool) bool { return ok && v >= 20 }, "path", "site/door")
	door := getJSON[web.PathStatus](c, "/api/v1/paths/site/door")
	require.NotNil(t, door.PacketsLost)
	require.GreaterOrEqual(t, *door.PacketsLost, uint64(20))
}
