package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// whipPaths is one path that takes publishers. Its outage grace is off: by
// default the stream of a departed publisher stays up (offline) for 10 s
// while readers, here the HLS muxer ffmpeg started, wait for it to return,
// and DESCRIBE keeps answering 200 meanwhile.
const whipPaths = `paths:
  whipcam:
    source: publisher
    outageGrace: 0s
`

const (
	whipFPS        = 25
	whipFrameTicks = 90000 / whipFPS
	whipOpusTicks  = 960 // 20 ms at 48 kHz
)

// whipClip makes a 2 s H.264 clip (an IDR every 25 frames, no B-frames)
// with ffmpeg and splits it into access units. x264 writes SPS and PPS only
// before the first IDR; they are put before every IDR here, as encoders that
// publish over WHIP do, so the clip can loop.
func whipClip(t *testing.T, ctx context.Context, ffmpeg string) [][][]byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clip.h264")
	_, stderr, err := rtcRun(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "25",
		"-x264-params", "aud=1", "-f", "h264", file)
	require.NoError(t, err, "ffmpeg: %s", stderr)
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	// x264 starts every access unit with a delimiter (aud=1) behind a
	// 4-byte start code: cut there, then parse each unit with AnnexB.
	aud := []byte{0, 0, 0, 1, byte(h264.NALUTypeAccessUnitDelimiter)}
	var aus [][][]byte
	var sps, pps []byte
	for len(raw) > 0 {
		end := bytes.Index(raw[1:], aud) + 1
		if end == 0 {
			end = len(raw)
		}
		var nalus h264.AnnexB
		require.NoError(t, nalus.Unmarshal(raw[:end]))
		raw = raw[end:]
		var au [][]byte
		for _, n := range nalus {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter:
				continue
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
			au = append(au, n)
		}
		if h264.IsRandomAccess(au) && h264.NALUType(au[0][0]&0x1f) != h264.NALUTypeSPS {
			au = append([][]byte{sps, pps}, au...)
		}
		aus = append(aus, au)
	}
	require.Len(t, aus, 2*whipFPS, "access units in 2 s")
	require.True(t, h264.IsRandomAccess(aus[0]), "the clip starts with an IDR")
	require.NotNil(t, sps)
	return aus
}

// whipPublisher is a pion client publishing H.264 and Opus over WHIP.
type whipPublisher struct {
	pc    *pwebrtc.PeerConnection
	video *pwebrtc.TrackLocalStaticRTP
	audio *pwebrtc.TrackLocalStaticRTP
	aus   [][][]byte

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWHIPPublisher(t *testing.T, aus [][][]byte) *whipPublisher {
	t.Helper()
	pc, err := rtcPionAPI(t).NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p := &whipPublisher{pc: pc, aus: aus, cancel: cancel}
	t.Cleanup(p.close)
	p.video, err = pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264}, "video", "whipcam")
	require.NoError(t, err)
	p.audio, err = pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus}, "audio", "whipcam")
	require.NoError(t, err)
	for _, tr := range []pwebrtc.TrackLocal{p.video, p.audio} {
		tc, err := pc.AddTransceiverFromTrack(tr, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionSendonly})
		require.NoError(t, err)
		p.wg.Add(1)
		go func() { // RTCP (PLIs, receiver reports) must be read for the interceptors
			defer p.wg.Done()
			for ctx.Err() == nil {
				if _, _, err := tc.Sender().ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	return p
}

// send writes the clip in a loop at 25 fps with 20 ms Opus packets until
// the publisher is closed.
func (p *whipPublisher) send(t *testing.T, ctx context.Context) {
	t.Helper()
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: 1200}
	require.NoError(t, enc.Init())
	ctx, cancel := context.WithCancel(ctx)
	prev := p.cancel
	p.cancel = func() { cancel(); prev() }
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second / whipFPS)
		defer tick.Stop()
		var seq uint16
		for i := 0; ; i++ {
			pkts, err := enc.Encode(p.aus[i%len(p.aus)])
			if err != nil {
				panic(err) // the clip is valid H.264
			}
			for _, pkt := range pkts {
				pkt.Timestamp = uint32(i * whipFrameTicks)
				_ = p.video.WriteRTP(pkt)
			}
			// Opus TOC 0xFC: one 20 ms CELT fullband stereo frame; the
			// gateway relays Opus without decoding it.
			for j := 2 * i; j < 2*i+2; j++ {
				_ = p.audio.WriteRTP(&rtp.Packet{
					Header:  rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(j * whipOpusTicks), Marker: j == 0},
					Payload: []byte{0xFC, 0xFF, 0xFE, byte(j)},
				})
				seq++
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (p *whipPublisher) close() {
	p.cancel()
	_ = p.pc.Close()
	p.wg.Wait()
}

// TestWebRTCWHIPReadByThirdParties publishes H.264 and Opus from a pion
// client over WHIP and has third-party clients read the path back: ffprobe
// over RTSP sees both codecs, ffmpeg decodes the HLS rendition without an
// error. DELETE on the WHIP resource then ends the publisher, and the path
// has no stream to describe any more.
func TestWebRTCWHIPReadByThirdParties(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	ffprobe := needTool(t, "ffprobe")
	ctx := rtcCtx(t)
	g := startGateway(t, whipPaths)
	base := "http://" + g.HTTPAddr().String()

	pub := newWHIPPublisher(t, whipClip(t, ctx, ffmpeg))
	resp := rtcRequest(t, ctx, http.MethodPost, base+"/whipcam/whip", "application/sdp", strings.NewReader(rtcOffer(t, ctx, pub.pc)))
	require.Equal(t, http.StatusCreated, resp.code, "WHIP offer: %s", resp.body)
	location := resp.header.Get("Location")
	require.True(t, strings.HasPrefix(location, "/whipcam/whip/"), "Location %q", location)
	require.NoError(t, pub.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: resp.body}))
	pub.send(t, ctx)
	rtcWaitLog(t, ctx, g, "WHIP publisher is publishing", "path=whipcam")

	t.Run("ffprobe over RTSP", func(t *testing.T) {
		out, stderr, err := rtcRun(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name", "-of", "csv=p=0", g.url("whipcam"))
		require.NoError(t, err, "ffprobe: %s", stderr)
		assert.ElementsMatch(t, []string{"h264", "opus"}, strings.Fields(out))
	})

	t.Run("ffmpeg decodes HLS", func(t *testing.T) {
		start := time.Now()
		_, stderr, err := rtcRun(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
			"-i", base+"/whipcam/index.m3u8", "-t", "3", "-f", "null", "-")
		require.NoError(t, err, "ffmpeg: %s", stderr)
		assert.Empty(t, joinLines(stderr), "ffmpeg logged errors")
		t.Logf("ffmpeg read 3 s of HLS in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("DELETE ends the publisher", func(t *testing.T) {
		resp := rtcRequest(t, ctx, http.MethodDelete, base+location, "", nil)
		require.Equal(t, http.StatusOK, resp.code, "DELETE %s: %s", location, resp.body)
		rtcWaitLog(t, ctx, g, "WHIP publisher left", "path=whipcam")
		_, err := dialReader(t, g.url("whipcam"), gortsplib.ProtocolTCP)
		require.Error(t, err, "DESCRIBE after the publisher left")
		assert.EqualValues(t, http.StatusNotFound, statusCode(err), "DESCRIBE after the publisher left: %v", err)
		resp = rtcRequest(t, ctx, http.MethodDelete, base+location, "", nil)
		assert.Equal(t, http.StatusNotFound, resp.code, "the resource is gone")
	})
}
