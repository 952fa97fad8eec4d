package webrtc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// clientAPI is a pion API like a browser's on loopback: default codecs and
// interceptors, loopback candidates only, no mDNS.
func clientAPI(t testing.TB) *pwebrtc.API {
	t.Helper()
	me := &pwebrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	se := pwebrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	return pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me), pwebrtc.WithSettingEngine(se))
}

// whepClient is an in-process WHEP viewer.
type whepClient struct {
	t        testing.TB
	pc       *pwebrtc.PeerConnection
	base     string
	location string
	etag     string

	videoPkts atomic.Int64
	videoSSRC atomic.Uint32
	audioPkts atomic.Int64
	// onVideo, if set before the offer, sees every video packet.
	onVideo func(pkt *rtp.Packet, at time.Time)

	firstMu       sync.Mutex
	firstAt       time.Time
	firstAU       [][]byte
	firstAUErr    error
	firstAUDone   chan struct{}
	firstAUClosed bool

	wg     sync.WaitGroup
	closed bool
}

// newWHEPClient makes a client with recvonly transceivers of the given kinds.
func newWHEPClient(t testing.TB, base string, kinds ...pwebrtc.RTPCodecType) *whepClient {
	t.Helper()
	return newWHEPClientWith(t, clientAPI(t), base, kinds...)
}

// newWHEPClientWith is newWHEPClient on a pion API of the caller's.
func newWHEPClientWith(t testing.TB, api *pwebrtc.API, base string, kinds ...pwebrtc.RTPCodecType) *whepClient {
	t.Helper()
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	c := &whepClient{t: t, pc: pc, base: base, firstAUDone: make(chan struct{})}
	t.Cleanup(c.close)
	for _, k := range kinds {
		_, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly})
		require.NoError(t, err)
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		c.wg.Add(1)
		defer c.wg.Done()
		c.read(tr)
	})
	return c
}

func (c *whepClient) read(tr *pwebrtc.TrackRemote) {
	video := tr.Kind() == pwebrtc.RTPCodecTypeVideo
	if video {
		c.videoSSRC.Store(uint32(tr.SSRC()))
	}
	var dec *rtph264.Decoder
	if video {
		dec = &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			panic(err)
		}
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		if !video {
			c.audioPkts.Add(1)
			continue
		}
		c.videoPkts.Add(1)
		if c.onVideo != nil {
			c.onVideo(pkt, now)
		}
		c.firstMu.Lock()
		if c.firstAt.IsZero() {
			c.firstAt = now
		}
		if !c.firstAUClosed {
			au, err := dec.Decode(pkt)
			switch {
			case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			case err != nil:
				c.firstAUErr = err
				c.firstAUClosed = true
				close(c.firstAUDone)
			default:
				c.firstAU = au
				c.firstAUClosed = true
				close(c.firstAUDone)
			}
		}
		c.firstMu.Unlock()
	}
}

// offer creates the offer, waits for gathering and returns the SDP.
func (c *whepClient) offer() string {
	offer, err := c.pc.CreateOffer(nil)
	require.NoError(c.t, err)
	gathered := pwebrtc.GatheringCompletePromise(c.pc)
	require.NoError(c.t, c.pc.SetLocalDescription(offer))
	<-gathered
	return c.pc.LocalDescription().SDP
}

// post sends the offer to url and applies a 201 answer.
func (c *whepClient) post(url string) *http.Response {
	c.t.Helper()
	resp, body := request(c.t, http.MethodPost, c.base+url, contentSDP, c.offer(), nil)
	if resp.StatusCode == http.StatusCreated {
		c.location = resp.Header.Get("Location")
		c.etag = resp.Header.Get("ETag")
		require.NoError(c.t, c.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: body}))
	}
	return resp
}

// waitFirstAU returns the first access unit the client decoded.
func (c *whepClient) waitFirstAU() ([][]byte, time.Time) {
	c.t.Helper()
	select {
	case <-c.firstAUDone:
	case <-time.After(testDeadline):
		c.t.Fatal("timed out waiting for the first video frame")
	}
	c.firstMu.Lock()
	defer c.firstMu.Unlock()
	require.NoError(c.t, c.firstAUErr, "the first video packet does not start a frame")
	return c.firstAU, c.firstAt
}

func (c *whepClient) close() {
	if c.closed {
		return
	}
	c.closed = true
	_ = c.pc.Close()
	c.wg.Wait()
}

// request runs one HTTP request and returns the response and its body.
func request(t testing.TB, method, url, contentType, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Close = true // no idle connections left to count as goroutines
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}
