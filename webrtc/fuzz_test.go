package webrtc

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// fuzzSeedOffer is a pion offer: recvonly video and audio (a WHEP viewer)
// or sendonly H.264 and Opus (a WHIP publisher).
func fuzzSeedOffer(f *testing.F, dir pwebrtc.RTPTransceiverDirection) string {
	pc, err := pwebrtc.NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(f, err)
	defer pc.Close()
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: dir})
		require.NoError(f, err)
	}
	offer, err := pc.CreateOffer(nil)
	require.NoError(f, err)
	return offer.SDP
}

// FuzzOffer posts any body as a WHEP offer (to a path with H.264 and Opus)
// or a WHIP offer. Every answer is a client error or 201; never a 500 or a
// panic. Sessions that were created are deleted again.
func FuzzOffer(f *testing.F) {
	whep := fuzzSeedOffer(f, pwebrtc.RTPTransceiverDirectionRecvonly)
	whip := fuzzSeedOffer(f, pwebrtc.RTPTransceiverDirectionSendonly)
	f.Add(whep, false)
	f.Add(whip, true)
	f.Add(strings.Replace(whep, "a=mid:0", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=mid:0", 1), false)
	f.Add("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n", false)
	f.Add("v=0\r\nm=audio 9 RTP/AVP 0\r\na=sendonly\r\n", true)

	h := newTestHub(f)
	s := &Server{Paths: h, Address: "127.0.0.1:0", DisableMDNS: true, Logger: discardLogger(), GatherTimeout: time.Second}
	require.NoError(f, s.Start())
	f.Cleanup(s.Close)
	p, err := h.Acquire("cam")
	require.NoError(f, err)
	f.Cleanup(p.Release)
	pub, err := p.Publish(&description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
			PayloadTyp: 96, PacketizationMode: 1,
			SPS: []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92},
			PPS: []byte{0x68, 0xcb, 0x83, 0xcb, 0x20},
		}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}},
	}})
	require.NoError(f, err)
	f.Cleanup(pub.Close)

	f.Fuzz(func(t *testing.T, body string, publish bool) {
		serve, path := s.ServeWHEP, "cam"
		if publish {
			serve, path = s.ServeWHIP, "pub"
		}
		rec := newRecorder()
		serve(rec, httptestRequest(t, http.MethodPost, "/"+path+"/x", contentSDP, body), path, "")
		t.Logf("answered %d", rec.code)
		switch {
		case rec.code == http.StatusCreated:
			loc := rec.header.Get("Location")
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			del := newRecorder()
			serve(del, httptestRequest(t, http.MethodDelete, loc, "", ""), path, id)
			if del.code != http.StatusOK {
				t.Fatalf("DELETE %s: %d", loc, del.code)
			}
		case rec.code >= 500 || rec.code < 400:
			t.Fatalf("offer answered %d: %s", rec.code, rec.body.String())
		}
	})
}
