package webrtc

import (
	"strings"
	"sync"

	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
)

// viewerTrack is a viewer's local track. Unlike pion's TrackLocalStaticRTP,
// which copies every packet into a pooled one before handing its header
// down, it passes the caller's header itself: the viewers' NACK responder
// keeps that pointer instead of a copy (outTrack keeps it valid).
type viewerTrack struct {
	codec pwebrtc.RTPCodecCapability
	kind  pwebrtc.RTPCodecType

	mu   sync.RWMutex
	ws   pwebrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

func newViewerTrack(codec pwebrtc.RTPCodecCapability, kind pwebrtc.RTPCodecType) *viewerTrack {
	return &viewerTrack{codec: codec, kind: kind}
}

// Bind picks the negotiated codec of our MIME type (the same fmtp line
// preferred) and the stream to write to.
func (t *viewerTrack) Bind(ctx pwebrtc.TrackLocalContext) (pwebrtc.RTPCodecParameters, error) {
	params := ctx.CodecParameters()
	var best *pwebrtc.RTPCodecParameters
	for i := range params {
		c := &params[i]
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) || c.ClockRate != t.codec.ClockRate {
			continue
		}
		if best == nil || (c.SDPFmtpLine == t.codec.SDPFmtpLine && best.SDPFmtpLine != t.codec.SDPFmtpLine) {
			best = c
		}
	}
	if best == nil {
		return pwebrtc.RTPCodecParameters{}, pwebrtc.ErrUnsupportedCodec
	}
	t.mu.Lock()
	t.ws, t.ssrc, t.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(best.PayloadType)
	t.mu.Unlock()
	return *best, nil
}

// Unbind stops writing.
func (t *viewerTrack) Unbind(pwebrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.ws = nil
	t.mu.Unlock()
	return nil
}

// ID is the track's id in the SDP.
func (t *viewerTrack) ID() string { return t.kind.String() }

// RID is empty: no simulcast.
func (t *viewerTrack) RID() string { return "" }

// StreamID is the media stream the track belongs to.
func (t *viewerTrack) StreamID() string { return "streamgate" }

// Kind is audio or video.
func (t *viewerTrack) Kind() pwebrtc.RTPCodecType { return t.kind }

// WriteRTP sends p with the negotiated SSRC and payload type, which it
// writes into p's header. p's header must stay unchanged while the NACK
// responder may still resend it.
func (t *viewerTrack) WriteRTP(p *rtp.Packet) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ws == nil {
		return nil
	}
	p.Header.SSRC, p.Header.PayloadType = t.ssrc, t.pt
	_, err := t.ws.WriteRTP(&p.Header, p.Payload)
	return err
}
