package webrtc

import (
	"net/http"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// TestLimitsSessions: MaxSessions counts viewers and publishers alike and
// answers 503 over it; a viewer whose peer never connects is ended after
// ConnectTimeout and its slot is free again.
func TestLimitsSessions(t *testing.T) {
	h := newTestHub(t)
	s := &Server{Paths: h, Address: "127.0.0.1:0", DisableMDNS: true, Logger: discardLogger(),
		MaxSessions: 1, ConnectTimeout: 300 * time.Millisecond}
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	p, err := h.Acquire("cam")
	require.NoError(t, err)
	t.Cleanup(p.Release)
	pub, err := p.Publish(&description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1,
		SPS: []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92},
		PPS: []byte{0x68, 0xcb, 0x83, 0xcb, 0x20},
	}}}}})
	require.NoError(t, err)
	t.Cleanup(pub.Close)

	pc, err := pwebrtc.NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	_, err = pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	post := func() int {
		rec := newRecorder()
		s.ServeWHEP(rec, httptestRequest(t, http.MethodPost, "/cam/whep", contentSDP, offer.SDP), "cam", "")
		return rec.code
	}
	require.Equal(t, http.StatusCreated, post())
	require.Equal(t, http.StatusServiceUnavailable, post(), "a second session over MaxSessions 1")
	// Nobody connects: the session ends after ConnectTimeout.
	eventually(t, "the unconnected session ended", func() bool { return len(s.Sessions()) == 0 })
	require.Equal(t, http.StatusCreated, post(), "the freed slot")
}
