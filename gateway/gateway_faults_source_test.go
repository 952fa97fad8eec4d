package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testcam"
)

// faultOutcome is what a source fault should do to the path's readers.
type faultOutcome int

const (
	// resumes: the source goes down and comes back with the same codecs;
	// readers stay attached and carry on.
	resumes faultOutcome = iota
	// changes: the source comes back with other codecs; readers end and
	// those who reconnect get the new ones.
	changes
	// survives: the session stays up; readers carry on through bad media.
	survives
)

// sourceFaultConfig pulls the camera over TCP with a short silence timeout.
const sourceFaultConfig = `paths:
  cam:
    source: %s
    sourceProtocol: tcp
    sourceReadTimeout: 3s
    outageGrace: 10s
`

// TestSourceFaults runs each camera fault through the real pull path
// (ingest → hub → RTSP, WebRTC and HLS outputs) with one reader of each
// kind attached, and checks what the readers see and what the log says.
func TestSourceFaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(sdp string) string               // camera SDP rewrite
		fault   func(*testcam.Camera) <-chan struct{} // nil channel: nothing to wait for
		outcome faultOutcome
		reason  string // in the one "source down" line (resumes, changes)
		logged  string // the one warning an in-session fault gives, if any
		lost    int    // packets the path's loss counters must show
		change  testcam.Change
	}{
		{name: "connection closed", fault: func(c *testcam.Camera) <-chan struct{} { c.DropConnections(); return nil }, outcome: resumes, reason: "EOF"},
		{name: "connection reset", fault: func(c *testcam.Camera) <-chan struct{} { c.ResetConnections(); return nil }, outcome: resumes, reason: "connection reset by peer"},
		{name: "stall with the connection open", fault: func(c *testcam.Camera) <-chan struct{} { c.Stall(); return nil }, outcome: resumes, reason: "timeout"},
		{name: "restart, same codecs", fault: func(c *testcam.Camera) <-chan struct{} { c.Restart(nil); return nil }, outcome: resumes, reason: "EOF"},
		{name: "restart, other resolution", fault: func(c *testcam.Camera) <-chan struct{} { c.Restart(&testcam.Change{SPS: testcam.SPS2}); return nil },
			outcome: changes, reason: "EOF", change: testcam.Change{SPS: testcam.SPS2}},
		{name: "restart, other codecs", fault: func(c *testcam.Camera) <-chan struct{} { c.Restart(&testcam.Change{NoAudio: true}); return nil },
			outcome: changes, reason: "EOF", change: testcam.Change{NoAudio: true}},
		{name: "sequence gap", fault: inject(testcam.SeqGap), outcome: survives, logged: "source is losing packets", lost: 50},
		{name: "reordering", fault: inject(testcam.Reorder), outcome: survives, logged: "cannot be decoded"},
		{name: "timestamp jump forward", fault: inject(testcam.TSForward), outcome: survives, logged: "source timestamps jumped"},
		{name: "timestamp jump back", fault: inject(testcam.TSBackward), outcome: survives, logged: "source timestamps jumped"},
		{name: "oversize packet", fault: inject(testcam.Oversize), outcome: survives, logged: "too large for RTSP readers"},
		{name: "truncated NAL unit", fault: inject(testcam.TruncatedNAL), outcome: survives, logged: "cannot be decoded"},
		{name: "SDP with unknown attributes", edit: unknownAttributes, outcome: survives},
		{name: "SDP with broken attributes", edit: brokenAttributes, outcome: survives},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := e2eCtx(t)
			cam := testcam.New(t, testcam.Options{EditSDP: tc.edit}, map[string]byte{"cam": 'f'})
			g := startGateway(t, fmt.Sprintf(sourceFaultConfig, cam.URL("", "cam")))

			r := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
			r.waitPackets(t, ctx, 10)
			rEnded := make(chan error, 1)
			go func() { rEnded <- r.c.Wait() }()
			v, states := whepPlay(t, ctx, g, "cam")
			hls0 := hlsMediaPlaylist(t, ctx, g, "cam")

			seam := cam.NextFrame("cam")
			if tc.fault != nil {
				if applied := tc.fault(cam); applied != nil {
					waitChan(t, ctx, applied, "the camera to send the fault")
				}
			}
			switch tc.outcome {
			case resumes, survives:
				// 25 pictures (1 s) sent after the fault reach the RTSP reader.
				r.waitUntil(t, ctx, "25 pictures after the fault", func(vid, _ []rtpCopy) bool {
					n := 0
					for _, p := range vid {
						if _, f, ok := pictureTag(p.payload); ok && f >= seam {
							n++
						}
					}
					return n >= 25
				})
				select {
				case err := <-rEnded:
					t.Fatalf("the RTSP reader's session ended: %v", err)
				default:
				}
				n := v.video.load()
				v.video.waitAbove(t, ctx, n+25, "WebRTC video after the fault")
				// A blocking reload for the segment after the last one seen.
				hls1 := hlsMediaPlaylist(t, ctx, g, "cam", fmt.Sprintf("_HLS_msn=%d", lastSegment(hls0)+1))
				require.Equal(t, hls0.Map.URI, hls1.Map.URI, "the same HLS muxer carries on")
				require.GreaterOrEqual(t, hls1.MediaSequence, hls0.MediaSequence)
				require.Greater(t, lastSegment(hls1), lastSegment(hls0), "new HLS segments")
				if tc.outcome == resumes {
					requireContinuous(t, r)
					require.Equal(t, 1, g.log.Count("source is back with the same codecs", "path=cam"), "logged once")
				}
			case changes:
				err := waitChan(t, ctx, rEnded, "the RTSP reader to be ended")
				t.Logf("RTSP reader ended: %v", err)
				waitState(t, ctx, states, "the WebRTC viewer to be disconnected")
				require.Equal(t, 1, g.log.Count("source is back with other codecs", "path=cam"), "logged once")

				r2 := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
				h264 := r2.desc.Medias[0].Formats[0].(*format.H264)
				if tc.change.SPS != nil {
					require.True(t, bytes.Equal(tc.change.SPS, h264.SPS), "a new reader gets the new SPS")
				}
				if tc.change.NoAudio {
					require.Len(t, r2.desc.Medias, 1, "a new reader gets the new track list")
				}
				r2.waitUntil(t, ctx, "video of the new session", func(vid, _ []rtpCopy) bool { return len(vid) >= 10 })
				hls1 := hlsMediaPlaylist(t, ctx, g, "cam")
				require.NotEqual(t, hls0.Map.URI, hls1.Map.URI, "a new HLS muxer for the new codecs")
				whepPlay(t, ctx, g, "cam")
			}

			down := g.log.Lines("source down", "path=cam")
			switch tc.outcome {
			case survives:
				require.Empty(t, down, "the session stayed up")
				if tc.logged != "" {
					require.Equal(t, 1, g.log.Count(tc.logged, "path=cam"), "%q logged once", tc.logged)
				}
				require.Zero(t, g.log.Count("B-frames"), "a clock jump is not taken for B-frames")
				if tc.lost > 0 {
					newAPIClient(t, g).waitMetric("the loss in the metrics", "streamgate_path_packets_lost_total",
						func(v float64, ok bool) bool { return ok && v >= float64(tc.lost) }, "path", "cam")
				}
			default:
				require.Len(t, down, 1, "the fault is logged once")
				require.Contains(t, down[0], tc.reason)
			}
			t.Logf("log: %s", strings.Join(append(down, g.log.Lines("level=WARN")...), "\n"))
		})
	}
}

func inject(f testcam.Fault) func(*testcam.Camera) <-chan struct{} {
	return func(c *testcam.Camera) <-chan struct{} { return c.Inject("cam", f) }
}

// unknownAttributes adds attributes no parser knows, at session and media level.
func unknownAttributes(sdp string) string {
	sdp = strings.Replace(sdp, "t=0 0\r\n", "t=0 0\r\na=x-vendor-model:FakeCam 3000\r\na=x-onvif-profile:G\r\n", 1)
	return strings.ReplaceAll(sdp, "a=control:", "a=x-dimensions:640,480\r\na=framerate:25.000000\r\na=control:")
}

// brokenAttributes adds attributes with values that do not parse.
func brokenAttributes(sdp string) string {
	sdp = strings.Replace(sdp, "t=0 0\r\n", "t=0 0\r\na=range:npt=garbage\r\na=recvonly extra\r\n", 1)
	return strings.ReplaceAll(sdp, "a=control:", "a=framerate:fast\r\na=x-dimensions:\r\na=cliprect:a,b\r\na=control:")
}

// requireContinuous checks that the reader's sequence numbers have no gap
// and its timestamps never go back, across the outage included.
func requireContinuous(t *testing.T, r *e2eReader) {
	t.Helper()
	vid, aud := r.packets()
	for kind, pkts := range map[string][]rtpCopy{"video": vid, "audio": aud} {
		for i := 1; i < len(pkts); i++ {
			require.Equal(t, pkts[i-1].seq+1, pkts[i].seq, "%s sequence numbers continue at packet %d of %d", kind, i, len(pkts))
			require.GreaterOrEqual(t, int32(pkts[i].ts-pkts[i-1].ts), int32(0), "%s timestamps go on at packet %d", kind, i)
		}
	}
}

// lastSegment is the media sequence number of a playlist's last segment.
func lastSegment(pl *playlist.Media) int { return pl.MediaSequence + len(pl.Segments) - 1 }

// waitState waits for the viewer's connection to leave the connected state.
func waitState(t *testing.T, ctx context.Context, states <-chan pwebrtc.PeerConnectionState, what string) {
	t.Helper()
	for {
		select {
		case s := <-states:
			switch s {
			case pwebrtc.PeerConnectionStateClosed, pwebrtc.PeerConnectionStateFailed, pwebrtc.PeerConnectionStateDisconnected:
				return
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
