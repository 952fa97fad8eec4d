package webrtc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testlog"
)

// A WHEP peer whose ICE never completes (it takes the answer and never
// applies it, then goes away): its session ends after ConnectTimeout with
// one log line saying why, its goroutines and reader are released, and a
// viewer that plays beside it receives every packet without a gap.
func TestWHEPPeerNeverConnects(t *testing.T) {
	h := newTestHub(t)
	logs := &testlog.Buffer{}
	s := &Server{
		Paths: h, Address: "127.0.0.1:0", DisableMDNS: true,
		ConnectTimeout: time.Second,
		Logger:         logs.Logger(),
	}
	require.NoError(t, s.Start())
	hs := httptest.NewServer(mux(s))
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "cam", clip, false).live(time.Second)

	good := newWHEPClient(t, hs.URL, video)
	var mu sync.Mutex
	var seqs []uint16
	good.onVideo = func(pkt *rtp.Packet, _ time.Time) {
		mu.Lock()
		seqs = append(seqs, pkt.SequenceNumber)
		mu.Unlock()
	}
	require.Equal(t, http.StatusCreated, good.post("/cam/whep").StatusCode)
	good.waitFirstAU()
	eventually(t, "the viewer's reader", func() bool { return h.Lookup("cam").Stream().ReaderCount() == 1 })
	baseline := runtime.NumGoroutine()

	bad := newWHEPClient(t, hs.URL, video)
	resp, _ := request(t, http.MethodPost, hs.URL+"/cam/whep", contentSDP, bad.offer(), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	bad.close() // the answer is never applied: ICE cannot complete
	st, _ := s.Status("cam")
	require.Equal(t, 2, st.Viewers)

	eventually(t, "the session of the peer that never connected to end", func() bool {
		st, _ := s.Status("cam")
		return st.Viewers == 1
	})
	assert.Equal(t, 1, logs.Count("WebRTC viewer left", "the peer did not connect in time"), "logged once")
	require.Len(t, s.Sessions(), 1)
	assert.Equal(t, "connected", s.Sessions()[0].State)
	assert.Equal(t, 1, h.Lookup("cam").Stream().ReaderCount(), "only the good viewer reads the stream")
	waitGoroutines(t, baseline)

	n := good.videoPkts.Load()
	eventually(t, "more video for the good viewer", func() bool { return good.videoPkts.Load() > n+50 })
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(seqs); i++ {
		require.Equal(t, seqs[i-1]+1, seqs[i], "the good viewer's packet %d of %d", i, len(seqs))
	}
	t.Logf("the good viewer received %d video packets without a gap", len(seqs))
}

// blackhole is a UDP socket that can be made to drop everything, in and
// out, as a viewer whose network went away.
type blackhole struct {
	net.PacketConn
	dead atomic.Bool
}

func (b *blackhole) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.dead.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, addr)
}

func (b *blackhole) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := b.PacketConn.ReadFrom(p)
		if err != nil || !b.dead.Load() {
			return n, addr, err
		}
	}
}

// A WHEP viewer that vanishes after connecting (its network goes away: no
// DELETE, no DTLS close): its session ends once ICE notices and
// DisconnectTimeout passes, with one line saying why, and its reader
// leaves the stream; a viewer beside it loses nothing.
func TestWHEPPeerVanishes(t *testing.T) {
	h := newTestHub(t)
	logs := &testlog.Buffer{}
	s := &Server{
		Paths: h, Address: "127.0.0.1:0", DisableMDNS: true,
		DisconnectTimeout: 500 * time.Millisecond,
		Logger:            logs.Logger(),
	}
	require.NoError(t, s.Start())
	hs := httptest.NewServer(mux(s))
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	clip := clips.Get(t, clipFPS)
	publishClip(t, h, "cam", clip, false).live(time.Second)

	good := newWHEPClient(t, hs.URL, video)
	require.Equal(t, http.StatusCreated, good.post("/cam/whep").StatusCode)
	good.waitFirstAU()

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	hole := &blackhole{PacketConn: conn}
	udpMux := pwebrtc.NewICEUDPMux(nil, hole)
	t.Cleanup(func() { _ = udpMux.Close() }) // closes conn too
	me := &pwebrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	se := pwebrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEUDPMux(udpMux)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	bad := newWHEPClientWith(t, pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me), pwebrtc.WithSettingEngine(se)), hs.URL, video)
	require.Equal(t, http.StatusCreated, bad.post("/cam/whep").StatusCode)
	bad.waitFirstAU()
	eventually(t, "two readers", func() bool { return h.Lookup("cam").Stream().ReaderCount() == 2 })

	n := good.videoPkts.Load()
	hole.dead.Store(true)
	eventually(t, "the vanished viewer's session to end", func() bool {
		st, _ := s.Status("cam")
		return st.Viewers == 1
	})
	assert.Equal(t, 1, logs.Count("WebRTC viewer left", "the peer stayed disconnected"), "logged once")
	assert.Equal(t, 1, h.Lookup("cam").Stream().ReaderCount(), "its reader left the stream")
	assert.Zero(t, h.Lookup("cam").Stream().ReaderDrops(), "nobody lost a unit")
	eventually(t, "more video for the good viewer", func() bool { return good.videoPkts.Load() > n+50 })
}
