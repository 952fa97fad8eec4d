package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

const (
	// replayInterval rate-limits keyframe replays per viewer.
	replayInterval = time.Second
	// maxGOPFrames bounds the frames a viewer keeps for replays; a longer
	// group of pictures is not replayed (the viewer waits for the next keyframe).
	maxGOPFrames = 1024
)

// errBadOffer marks offers pion refuses (400 rather than 500).
var errBadOffer = errors.New("the offer cannot be accepted")

// session is one WHEP viewer: a PeerConnection, its tracks and a hub reader.
type session struct {
	srv    *Server
	id     string
	path   string
	hp     *hub.Path
	stream *hub.Stream
	pc     *pwebrtc.PeerConnection
	etag   string
	logger *slog.Logger
	remote string    // the HTTP client, for the API (sessions.go)
	since  time.Time // creation, for the API
	video  *outTrack
	audio  *outTrack

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	notify chan struct{} // the connection state changed
	state  atomic.Int32
	pli    atomic.Bool
	// bytesSent counts the RTP bytes (header and payload) written to the
	// session's tracks.
	bytesSent atomic.Uint64
	rtcpWG    sync.WaitGroup
	reader    *hub.Reader // owned by run

	// Owned by the reader goroutine.
	gop        []*hub.Unit
	gopFull    bool
	lastReplay time.Time
	lastPTS    int64
	lastGen    uint32
	haveLast   bool
}

// newSession negotiates a viewer's PeerConnection and returns it with the answer.
func (s *Server) newSession(path string, hp *hub.Path, st *hub.Stream, plan trackPlan, offer string) (*session, string, error) {
	pc, err := s.viewerAPI.NewPeerConnection(s.iceConfig())
	if err != nil {
		return nil, "", err
	}
	id := newID()
	se := &session{
		srv: s, id: id, path: path, hp: hp, stream: st, pc: pc, etag: `"` + newID() + `"`,
		logger: s.logger().With("path", path, "session", id[:8], "component", "whep"),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	se.ctx, se.cancel = context.WithCancel(s.ctx)
	answer, err := se.negotiate(plan, offer)
	if err != nil {
		se.cancel()
		_ = pc.Close()
		return nil, "", err
	}
	return se, answer, nil
}

func (se *session) negotiate(plan trackPlan, offer string) (string, error) {
	pc := se.pc
	pc.OnConnectionStateChange(func(st pwebrtc.PeerConnectionState) {
		se.state.Store(int32(st))
		select {
		case se.notify <- struct{}{}:
		default:
		}
	})
	for _, spec := range plan.specs() {
		ot, err := newOutTrack(spec)
		if err != nil {
			return "", err
		}
		ot.bytes = &se.bytesSent
		sender, err := pc.AddTrack(ot.local)
		if err != nil {
			return "", fmt.Errorf("add track: %w", err)
		}
		ot.sender = sender
		for _, tr := range pc.GetTransceivers() {
			if tr.Sender() == sender {
				// Answer only the codec we send, with the offer's payload type.
				if err := tr.SetCodecPreferences([]pwebrtc.RTPCodecParameters{spec.codec}); err != nil {
					return "", fmt.Errorf("codec preferences: %w", err)
				}
			}
		}
		if spec.kind == pwebrtc.RTPCodecTypeVideo {
			se.video = ot
		} else {
			se.audio = ot
		}
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", errBadOffer, err)
	}
	return answer(se.srv, pc)
}

// answer creates and sets the local answer and waits for ICE gathering.
func answer(s *Server, pc *pwebrtc.PeerConnection) (string, error) {
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errBadOffer, err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	t := time.NewTimer(s.GatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C: // answer with what was gathered; the client's checks find us anyway
	case <-s.ctx.Done():
		return "", ErrClosed
	}
	return pc.LocalDescription().SDP, nil
}

// start runs the session's goroutines; the server's wait group counts run.
func (se *session) start() {
	for _, ot := range []*outTrack{se.video, se.audio} {
		if ot == nil {
			continue
		}
		se.rtcpWG.Add(1)
		go se.readRTCP(ot.sender, ot == se.video)
	}
	go se.run()
}

func (se *session) run() {
	defer se.srv.wg.Done()
	reason := se.loop()
	if se.reader != nil {
		se.reader.Close()
	}
	_ = se.pc.Close()
	se.rtcpWG.Wait()
	for _, u := range se.gop {
		u.Release()
	}
	se.gop = nil
	se.srv.removeViewer(se)
	se.hp.Release()
	var sent uint64
	for _, ot := range []*outTrack{se.video, se.audio} {
		if ot != nil {
			sent += ot.sent
		}
	}
	se.logger.Info("WebRTC viewer left", "reason", reason, "packets", sent)
	close(se.done)
}

// loop waits for the end of the session and returns why it ended.
func (se *session) loop() string {
	connect := time.NewTimer(se.srv.ConnectTimeout)
	defer connect.Stop()
	var disc *time.Timer
	var discC <-chan time.Time
	defer func() {
		if disc != nil {
			disc.Stop()
		}
	}()
	var readerDone <-chan struct{}
	for {
		select {
		case <-se.ctx.Done():
			return "closed"
		case <-se.stream.Done():
			return "the stream ended"
		case <-readerDone:
			return fmt.Sprintf("reader ended: %v", se.reader.Err())
		case <-connect.C:
			return "the peer did not connect in time"
		case <-discC:
			return "the peer stayed disconnected"
		case <-se.notify:
		}
		switch pwebrtc.PeerConnectionState(se.state.Load()) {
		case pwebrtc.PeerConnectionStateConnected:
			connect.Stop()
			if disc != nil {
				disc.Stop()
				disc, discC = nil, nil
			}
			if se.reader == nil {
				r, err := se.stream.AddReader(se.readerConfig())
				if err != nil {
					return fmt.Sprintf("cannot read the stream: %v", err)
				}
				se.reader, readerDone = r, r.Done()
				se.logger.Info("WebRTC viewer connected")
			}
		case pwebrtc.PeerConnectionStateDisconnected:
			if disc == nil {
				disc = time.NewTimer(se.srv.DisconnectTimeout)
				discC = disc.C
			}
		case pwebrtc.PeerConnectionStateFailed:
			return "ICE failed"
		case pwebrtc.PeerConnectionStateClosed:
			return "the peer closed the connection"
		}
	}
}

func (se *session) readerConfig() hub.ReaderConfig {
	return hub.ReaderConfig{
		Name:  "webrtc " + se.id[:8],
		Start: hub.StartLatestGOP,
		Want: func(t *hub.Track) bool {
			return (se.video != nil && t == se.video.spec.track) || (se.audio != nil && t == se.audio.spec.track)
		},
		OnUnit: se.onUnit,
	}
}

// onUnit sends one unit; it runs in the reader's goroutine. Write errors
// are not fatal: a closed connection ends the session through its state.
func (se *session) onUnit(u *hub.Unit, cached bool) error {
	now := time.Now()
	switch {
	case se.video != nil && u.Track == se.video.spec.track:
		se.onVideo(u, cached, now)
	case se.audio != nil && u.Track == se.audio.spec.track:
		if cached {
			return nil // stale audio would play late; live audio follows at once
		}
		_ = se.audio.writePacket(u, se.audio.clock.live(u.PTS, u.Gen, now))
	}
	return nil
}

func (se *session) onVideo(u *hub.Unit, cached bool, now time.Time) {
	ot := se.video
	if !ot.packetise {
		_ = ot.writePacket(u, ot.clock.live(u.PTS, u.Gen, now))
		return
	}
	if !u.AUStart {
		return
	}
	au, err := u.AccessUnit()
	if err != nil {
		return // incomplete frame: the browser asks for a keyframe
	}
	if u.RandomAccess {
		se.clearGOP()
		se.pli.Store(false)
	} else if !cached && now.Sub(se.lastReplay) >= replayInterval && se.pli.Swap(false) {
		se.replay(now)
	}
	se.keepGOP(u)
	sf := framePackets(u, au, ot.spec.send)
	if cached {
		_ = ot.writeFrame(sf, ot.clock.burst(au.PTS, u.Gen, now))
		return
	}
	// B-frames step back a few frames; a step back of seconds is the
	// camera's clock jumping, which the clock smooths over.
	if se.haveLast && u.Gen == se.lastGen && au.PTS < se.lastPTS &&
		se.lastPTS-au.PTS < int64(u.Track.ClockRate()) {
		se.srv.warnOnce(se.path, se.stream, warnBFrames)
	}
	se.lastPTS, se.lastGen, se.haveLast = au.PTS, u.Gen, true
	_ = ot.writeFrame(sf, ot.clock.live(au.PTS, u.Gen, now))
}

// replay re-sends the current group of pictures squeezed in time, so a
// viewer that lost a picture (PLI/FIR) decodes again without waiting for
// the camera's next keyframe, which RTSP cannot ask for.
func (se *session) replay(now time.Time) {
	if len(se.gop) == 0 {
		return
	}
	se.lastReplay = now
	for _, g := range se.gop {
		au, err := g.AccessUnit()
		if err != nil {
			continue
		}
		_ = se.video.writeFrame(framePackets(g, au, se.video.spec.send), se.video.clock.burst(au.PTS, g.Gen, now))
	}
}

func (se *session) keepGOP(u *hub.Unit) {
	if se.gopFull {
		return
	}
	if len(se.gop) >= maxGOPFrames {
		se.clearGOP()
		se.gopFull = true
		return
	}
	u.Retain()
	se.gop = append(se.gop, u)
}

func (se *session) clearGOP() {
	for i, u := range se.gop {
		u.Release()
		se.gop[i] = nil
	}
	se.gop = se.gop[:0]
	se.gopFull = false
}

// readRTCP drains a sender's RTCP (the NACK and report interceptors need
// it) and notes keyframe requests.
func (se *session) readRTCP(sender *pwebrtc.RTPSender, video bool) {
	defer se.rtcpWG.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if !video {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				se.pli.Store(true)
			}
		}
	}
}
