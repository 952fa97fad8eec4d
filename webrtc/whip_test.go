package webrtc

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// whipClient is an in-process WHIP publisher sending H.264 and Opus samples.
type whipClient struct {
	pc     *pwebrtc.PeerConnection
	video  *pwebrtc.TrackLocalStaticSample
	audio  *pwebrtc.TrackLocalStaticSample
	plis   atomic.Int64
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func newWHIPClient(t *testing.T) *whipClient {
	pc, err := clientAPI(t).NewPeerConnection(pwebrtc.Configuration{})
	require.NoError(t, err)
	c := &whipClient{pc: pc}
	c.video, err = pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264}, "video", "whip")
	require.NoError(t, err)
	c.audio, err = pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus}, "audio", "whip")
	require.NoError(t, err)
	for _, tr := range []pwebrtc.TrackLocal{c.video, c.audio} {
		sender, err := pc.AddTransceiverFromTrack(tr, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionSendonly})
		require.NoError(t, err)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				pkts, _, err := sender.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for range pkts {
					c.plis.Add(1)
				}
			}
		}()
	}
	t.Cleanup(c.close)
	return c
}

// send writes the clip's frames and 20 ms Opus packets at real-time pace.
func (c *whipClient) send(clip *testClip) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		vi, ai := 0, 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			el := time.Since(start)
			for time.Duration(vi)*time.Second/clipFPS <= el {
				var annexB []byte
				for _, n := range clip.Video[vi%len(clip.Video)] {
					annexB = append(append(annexB, 0, 0, 0, 1), n...)
				}
				_ = c.video.WriteSample(media.Sample{Data: annexB, Duration: time.Second / clipFPS})
				vi++
			}
			for time.Duration(ai)*20*time.Millisecond <= el {
				_ = c.audio.WriteSample(media.Sample{Data: []byte{0xFC, 0xFF, 0xFE}, Duration: 20 * time.Millisecond})
				ai++
			}
		}
	}()
}

func (c *whipClient) close() {
	if c.cancel != nil {
		c.cancel()
	}
	_ = c.pc.Close()
	c.wg.Wait()
}

func TestWHIPPublish(t *testing.T) {
	h := newTestHub(t)
	s, base := newTestServer(t, h)
	clip := clips.Get(t, 2*clipFPS)

	c := newWHIPClient(t)
	offer, err := c.pc.CreateOffer(nil)
	require.NoError(t, err)
	gathered := pwebrtc.GatheringCompletePromise(c.pc)
	require.NoError(t, c.pc.SetLocalDescription(offer))
	<-gathered
	resp, body := request(t, http.MethodPost, base+"/door/whip", contentSDP, c.pc.LocalDescription().SDP, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	location := resp.Header.Get("Location")
	require.NoError(t, c.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: body}))
	c.send(clip)

	p, err := h.Acquire("door")
	require.NoError(t, err)
	defer p.Release()
	var st *hub.Stream
	eventually(t, "the WHIP stream", func() bool {
		st = p.Stream()
		return st != nil
	})
	var codecs []string
	for _, tr := range st.Tracks {
		codecs = append(codecs, tr.CodecName())
	}
	assert.Equal(t, []string{"H264", "Opus"}, codecs)

	var videoUnits, audioUnits, keyframes atomic.Int64
	r, err := st.AddReader(hub.ReaderConfig{Name: "test", Start: hub.StartNextKeyframe, OnUnit: func(u *hub.Unit, _ bool) error {
		if u.Track.IsVideo() {
			videoUnits.Add(1)
			if u.AUStart {
				if au, err := u.AccessUnit(); err == nil && h264.IsRandomAccess(au.Payloads) {
					keyframes.Add(1)
				}
			}
		} else {
			audioUnits.Add(1)
		}
		return nil
	}})
	require.NoError(t, err)
	defer r.Close()
	eventually(t, "units of both tracks", func() bool {
		return videoUnits.Load() >= 50 && audioUnits.Load() >= 25 && keyframes.Load() >= 1
	})
	assert.Positive(t, c.plis.Load(), "the publisher is asked for keyframes")
	ps, ok := s.Status("door")
	require.True(t, ok)
	assert.Equal(t, 1, ps.Publishers)

	// A second publisher is refused while the first one publishes.
	c2 := newWHIPClient(t)
	offer2, err := c2.pc.CreateOffer(nil)
	require.NoError(t, err)
	resp, _ = request(t, http.MethodPost, base+"/door/whip", contentSDP, offer2.SDP, nil)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp, _ = request(t, http.MethodPost, base+"/closedpath/whip", contentSDP, offer2.SDP, nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = request(t, http.MethodDelete, base+location, "", "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case <-r.Done():
	case <-time.After(testDeadline):
		t.Fatal("the reader did not end with the publisher")
	}
	resp, _ = request(t, http.MethodDelete, base+location, "", "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
