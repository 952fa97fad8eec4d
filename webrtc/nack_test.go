package webrtc

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// trackCtx binds a viewer's pion track straight to an interceptor chain,
// as a peer connection would.
type trackCtx struct {
	codec pwebrtc.RTPCodecParameters
	w     pwebrtc.TrackLocalWriter
}

func (c trackCtx) CodecParameters() []pwebrtc.RTPCodecParameters {
	return []pwebrtc.RTPCodecParameters{c.codec}
}
func (trackCtx) HeaderExtensions() []pwebrtc.RTPHeaderExtensionParameter { return nil }
func (trackCtx) SSRC() pwebrtc.SSRC                                      { return 1234 }
func (trackCtx) SSRCRetransmission() pwebrtc.SSRC                        { return 0 }
func (trackCtx) SSRCForwardErrorCorrection() pwebrtc.SSRC                { return 0 }
func (c trackCtx) WriteStream() pwebrtc.TrackLocalWriter                 { return c.w }
func (trackCtx) ID() string                                              { return "test" }
func (trackCtx) RTCPReader() interceptor.RTCPReader                      { return nil }

// chainWriter hands a track's packets to an interceptor chain.
type chainWriter struct{ w interceptor.RTPWriter }

func (c chainWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) { return c.w.Write(h, p, nil) }
func (c chainWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return c.w.Write(&p.Header, p.Payload, nil)
}

// TestNACKResendsTheSentPacket checks the viewers' NACK responder, which
// keeps references to what was sent instead of copies (viewerAPI): a
// packet asked for after the viewer wrote many more (its header ring has
// wrapped, later frames were packetised) goes out again with the sequence
// number, timestamp, marker and payload it was first sent with.
func TestNACKResendsTheSentPacket(t *testing.T) {
	aus, _ := benchFrames(t)
	spec := &outSpec{track: aus[0].Track, send: sendH264, kind: pwebrtc.RTPCodecTypeVideo, codec: pwebrtc.RTPCodecParameters{
		RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
			RTCPFeedback: videoFeedback}, PayloadType: 102,
	}}
	ot, err := newOutTrack(spec)
	require.NoError(t, err)

	factory, err := nack.NewResponderInterceptor(nack.DisableCopy(), nack.ResponderSize(nackHistory))
	require.NoError(t, err)
	responder, err := factory.NewInterceptor("")
	require.NoError(t, err)
	t.Cleanup(func() { _ = responder.Close() })

	type wirePacket struct {
		hdr     rtp.Header
		payload []byte
	}
	var mu sync.Mutex
	var wire []wirePacket
	resent := make(chan wirePacket, 1)
	sent := map[uint16]bool{}
	out := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		wp := wirePacket{hdr: *h, payload: bytes.Clone(p)}
		mu.Lock()
		defer mu.Unlock()
		if sent[h.SequenceNumber] {
			resent <- wp
			return len(p), nil
		}
		sent[h.SequenceNumber] = true
		wire = append(wire, wp)
		return len(p), nil
	})
	info := &interceptor.StreamInfo{SSRC: 1234, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	w := responder.BindLocalStream(info, out)
	_, err = ot.local.Bind(trackCtx{codec: spec.codec, w: chainWriter{w}})
	require.NoError(t, err)

	// Frames packetised one by one, as the stream's first viewer would,
	// until more than the header ring's worth of packets went out.
	for i := 0; ; i++ {
		au := aus[i%len(aus)]
		require.NoError(t, ot.writeFrame(packetiseFrame(au, sendH264), uint32(i*3600)))
		mu.Lock()
		n := len(wire)
		mu.Unlock()
		if n > len(ot.ring)+nackHistory/2 {
			break
		}
	}
	mu.Lock()
	want := wire[len(wire)-nackHistory*3/4] // still in the responder's history
	mu.Unlock()

	nackBytes, err := (&rtcp.TransportLayerNack{
		MediaSSRC: 1234, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{want.hdr.SequenceNumber}),
	}).Marshal()
	require.NoError(t, err)
	reader := responder.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, nackBytes), a, nil
	}))
	buf := make([]byte, 1500)
	_, _, err = reader.Read(buf, nil)
	require.NoError(t, err)

	var got wirePacket
	select {
	case got = <-resent:
	case <-time.After(testDeadline):
		t.Fatal("timed out waiting for the retransmission")
	}
	require.Equal(t, want.hdr.SequenceNumber, got.hdr.SequenceNumber)
	require.Equal(t, want.hdr.Timestamp, got.hdr.Timestamp)
	require.Equal(t, want.hdr.Marker, got.hdr.Marker)
	require.Equal(t, want.payload, got.payload, "the resent payload differs from the one first sent")
}
