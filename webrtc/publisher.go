package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

// remoteTrack is a track a WHIP client sends, with when it began.
type remoteTrack struct {
	track    *pwebrtc.TrackRemote
	receiver *pwebrtc.RTPReceiver
	at       time.Time
}

// publisher is one WHIP client publishing into a hub path.
type publisher struct {
	srv      *Server
	id       string
	path     string
	hp       *hub.Path
	pc       *pwebrtc.PeerConnection
	etag     string
	logger   *slog.Logger
	expected int
	remote   string    // the HTTP client, for the API (sessions.go)
	since    time.Time // creation, for the API

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	notify chan struct{}
	state  atomic.Int32
	tracks chan remoteTrack

	pub   *hub.Publisher // owned by run
	video []pwebrtc.SSRC // owned by run
	wg    sync.WaitGroup
}

// onTrack hands a track to run; pion calls it when the track's first packet arrives.
func (p *publisher) onTrack(t *pwebrtc.TrackRemote, r *pwebrtc.RTPReceiver) {
	select {
	case p.tracks <- remoteTrack{track: t, receiver: r, at: time.Now()}:
	default:
		p.logger.Warn("too many tracks: one is ignored", "codec", t.Codec().MimeType)
	}
}

func (p *publisher) start() { go p.run() }

func (p *publisher) run() {
	defer p.srv.wg.Done()
	reason := p.loop()
	_ = p.pc.Close()
	p.wg.Wait()
	if p.pub != nil {
		p.pub.Close()
	}
	p.srv.removePublisher(p)
	p.hp.Release()
	p.logger.Info("WHIP publisher left", "reason", reason)
	close(p.done)
}

// loop collects the tracks, publishes them and waits for the end.
func (p *publisher) loop() string {
	// Until media flows, the connect timer bounds the wait.
	connect := time.NewTimer(p.srv.ConnectTimeout)
	defer connect.Stop()
	var wait *time.Timer
	var waitC <-chan time.Time
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	var disc *time.Timer
	var discC <-chan time.Time
	defer func() {
		if disc != nil {
			disc.Stop()
		}
	}()
	var pli *time.Ticker
	var pliC <-chan time.Time
	defer func() {
		if pli != nil {
			pli.Stop()
		}
	}()
	var pubDone <-chan struct{}
	var got []remoteTrack

	publish := func() string {
		if err := p.publish(got); err != nil {
			return err.Error()
		}
		connect.Stop()
		pubDone = p.pub.Done()
		p.requestKeyframes()
		if p.srv.KeyframeInterval > 0 && len(p.video) > 0 {
			pli = time.NewTicker(p.srv.KeyframeInterval)
			pliC = pli.C
		}
		return ""
	}
	for {
		select {
		case <-p.ctx.Done():
			return "closed"
		case rt := <-p.tracks:
			if p.pub != nil {
				p.logger.Warn("a track arrived after publishing began: ignored", "codec", rt.track.Codec().MimeType)
				continue
			}
			got = append(got, rt)
			if len(got) >= p.expected {
				if reason := publish(); reason != "" {
					return reason
				}
			} else if wait == nil {
				wait = time.NewTimer(p.srv.TrackWait)
				waitC = wait.C
			}
		case <-waitC:
			waitC = nil
			if p.pub == nil {
				p.logger.Info("publishing without the missing tracks", "expected", p.expected, "got", len(got))
				if reason := publish(); reason != "" {
					return reason
				}
			}
		case <-pubDone:
			return fmt.Sprintf("the hub ended the publication: %v", p.pub.Err())
		case <-pliC:
			p.requestKeyframes()
		case <-connect.C:
			return "no media arrived in time"
		case <-discC:
			return "the peer stayed disconnected"
		case <-p.notify:
			switch pwebrtc.PeerConnectionState(p.state.Load()) {
			case pwebrtc.PeerConnectionStateConnected:
				if disc != nil {
					disc.Stop()
					disc, discC = nil, nil
				}
			case pwebrtc.PeerConnectionStateDisconnected:
				if disc == nil {
					disc = time.NewTimer(p.srv.DisconnectTimeout)
					discC = disc.C
				}
			case pwebrtc.PeerConnectionStateFailed:
				return "ICE failed"
			case pwebrtc.PeerConnectionStateClosed:
				return "the peer closed the connection"
			}
		}
	}
}

// publish makes the tracks the path's source and starts reading them.
func (p *publisher) publish(got []remoteTrack) error {
	// Video first, as cameras describe their streams.
	sort.SliceStable(got, func(i, j int) bool {
		return got[i].track.Kind() == pwebrtc.RTPCodecTypeVideo && got[j].track.Kind() != pwebrtc.RTPCodecTypeVideo
	})
	desc := &description.Session{Title: "WHIP"}
	var used []remoteTrack
	for _, rt := range got {
		f, mt, err := formatFor(rt.track.Codec())
		if err != nil {
			p.logger.Warn("track ignored", "error", err)
			continue
		}
		desc.Medias = append(desc.Medias, &description.Media{Type: mt, Formats: []format.Format{f}})
		used = append(used, rt)
	}
	if len(used) == 0 {
		return fmt.Errorf("no track can be published")
	}
	pub, err := p.hp.Publish(desc)
	if err != nil {
		return fmt.Errorf("cannot publish: %w", err)
	}
	p.pub = pub
	p.srv.mu.Lock()
	p.srv.infoLocked(p.path, pub.Stream())
	p.srv.mu.Unlock()

	base := used[0].at
	for _, rt := range used {
		if rt.at.Before(base) {
			base = rt.at
		}
	}
	for i, rt := range used {
		if rt.track.Kind() == pwebrtc.RTPCodecTypeVideo {
			p.video = append(p.video, rt.track.SSRC())
		}
		p.wg.Add(2)
		go p.readTrack(rt, desc.Medias[i], base)
		go p.drainRTCP(rt.receiver)
	}
	codecs := make([]string, len(used))
	for i, rt := range used {
		codecs[i] = rt.track.Codec().MimeType
	}
	p.logger.Info("WHIP publisher is publishing", "codecs", codecs)
	return nil
}

// readTrack hands the track's packets to the hub with presentation times
// from the RTP timestamps (unwrapped, relative to the first packet, offset
// by when the track began so tracks stay in sync).
func (p *publisher) readTrack(rt remoteTrack, media *description.Media, base time.Time) {
	defer p.wg.Done()
	rate := int64(rt.track.Codec().ClockRate)
	pts := int64(rt.at.Sub(base)) * rate / int64(time.Second)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var last uint32
	first := true
	for {
		n, _, err := rt.track.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if first {
			first = false
		} else {
			pts += int64(int32(pkt.Timestamp - last))
		}
		last = pkt.Timestamp
		p.pub.WriteRTP(media, &pkt, pts, time.Time{})
	}
}

// drainRTCP reads the receiver's RTCP so pion's interceptors keep working.
func (p *publisher) drainRTCP(r *pwebrtc.RTPReceiver) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// requestKeyframes asks the client's video encoders for a keyframe, so
// viewers that join start soon (browsers send keyframes only when asked).
func (p *publisher) requestKeyframes() {
	if len(p.video) == 0 {
		return
	}
	pkts := make([]rtcp.Packet, len(p.video))
	for i, ssrc := range p.video {
		pkts[i] = &rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}
	}
	_ = p.pc.WriteRTCP(pkts)
}
