package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/ice/v4"
	pwebrtc "github.com/pion/webrtc/v4"
)

const (
	// whepTimeout bounds every WHEP request, and the ICE gathering of an offer.
	whepTimeout = 10 * time.Second
	// whepDeleteBudget bounds the teardown of all sessions at the end.
	whepDeleteBudget = 30 * time.Second
	// contentSDP is the WHEP offer and answer content type.
	contentSDP = "application/sdp"
)

// loopbackV4 is the only address the WHEP viewers gather candidates on.
var loopbackV4 = net.IPv4(127, 0, 0, 1)

// newWHEPAPI is a pion API for WHEP viewers: default codecs and
// interceptors (NACK, RTCP reports, TWCC), like a browser, but ICE host
// candidates on 127.0.0.1 over UDP only, no mDNS and no STUN or TURN, so no
// packet leaves the machine. With mux, the viewer's ICE runs on that
// socket (one the tool bound on 127.0.0.1, with a larger receive buffer);
// without, pion opens its own sockets.
func newWHEPAPI(mux ice.UDPMux) *pwebrtc.API {
	se := pwebrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool {
		ifi, err := net.InterfaceByName(name)
		return err == nil && ifi.Flags&net.FlagLoopback != 0
	})
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopbackV4) })
	if mux != nil {
		se.SetICEUDPMux(mux)
	}
	return pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se))
}

// newViewerMux binds a viewer's own UDP socket on 127.0.0.1 with a receive
// buffer of size bytes (capped by net.core.rmem_max) and wraps it for ICE.
func newViewerMux(size int) (ice.UDPMux, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: loopbackV4})
	if err != nil {
		return nil, err
	}
	if err := conn.SetReadBuffer(size); err != nil {
		conn.Close()
		return nil, fmt.Errorf("-udp-buffer %d: %w", size, err)
	}
	return pwebrtc.NewICEUDPMux(nil, conn), nil
}

// loopbackCandidatesOnly drops the answer's ICE candidates that are not on
// loopback (unless allowRemote), so that the viewers never check a remote
// address even if the gateway announces one. It returns how many it dropped.
func loopbackCandidatesOnly(sdp string, allowRemote bool) (string, int) {
	if allowRemote {
		return sdp, 0
	}
	lines := strings.SplitAfter(sdp, "\n")
	out := make([]string, 0, len(lines))
	dropped := 0
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a=candidate:"); ok {
			// foundation component transport priority address port typ ...
			f := strings.Fields(rest)
			if len(f) < 6 {
				dropped++
				continue
			}
			if ip := net.ParseIP(f[4]); ip == nil || !ip.IsLoopback() {
				dropped++
				continue
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, ""), dropped
}

// whepViewer is one pion peer connection reading the gateway over WHEP.
type whepViewer struct {
	id        int
	pc        *pwebrtc.PeerConnection
	measuring *atomic.Bool
	closing   *atomic.Bool
	location  string     // the session URL to DELETE
	mux       ice.UDPMux // the viewer's own ICE socket (-udp-buffer), or nil

	postSent  atomic.Int64 // unix ns of sending the POST that succeeded
	firstKey  atomic.Int64 // unix ns of the first keyframe packet
	connected atomic.Int64 // unix ns of the peer connection state "connected"
	died      atomic.Bool  // failed, disconnected or closed by the other side

	packets, lost, reordered, bytes, decodeErrs atomic.Uint64
	firstDecodeErr                              atomic.Pointer[error]

	mu  sync.Mutex
	lat []float64
}

// close closes the peer connection, then the viewer's own socket.
func (v *whepViewer) close() {
	_ = v.pc.Close()
	if v.mux != nil {
		_ = v.mux.Close()
	}
}

func (v *whepViewer) counters() readerCounters {
	return readerCounters{v.packets.Load(), v.lost.Load(), v.reordered.Load(), v.bytes.Load()}
}

func (v *whepViewer) latencies() []float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]float64(nil), v.lat...)
}

// readTrack counts one remote track's packets until the connection closes;
// for H.264 it also rebuilds frames to read their send-time stamps.
func (v *whepViewer) readTrack(tr *pwebrtc.TrackRemote) {
	var dec *rtph264.Decoder
	if strings.EqualFold(tr.Codec().MimeType, pwebrtc.MimeTypeH264) {
		dec = &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			dec = nil
		}
	}
	var s seqState // one goroutine per track
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		at := time.Now()
		switch d := int16(pkt.SequenceNumber - s.next); {
		case !s.have || d == 0:
			s.have, s.next = true, pkt.SequenceNumber+1
		case d > 0:
			v.lost.Add(uint64(d))
			s.next = pkt.SequenceNumber + 1
		default:
			v.reordered.Add(1)
		}
		v.packets.Add(1)
		v.bytes.Add(uint64(len(pkt.Payload)))
		if dec == nil {
			continue
		}
		if v.firstKey.Load() == 0 && isKeyframePacket(pkt.Payload) {
			v.firstKey.CompareAndSwap(0, at.UnixNano())
		}
		au, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			continue
		case err != nil:
			if v.decodeErrs.Add(1) == 1 {
				v.firstDecodeErr.Store(&err)
			}
			continue
		}
		if !v.measuring.Load() {
			continue
		}
		// The frame is complete (decodable) with this packet.
		for _, n := range au {
			if sent, ok := parseStampSEI(n); ok {
				v.mu.Lock()
				if len(v.lat) < maxLatencySamples {
					v.lat = append(v.lat, ms(at.Sub(sent)))
				}
				v.mu.Unlock()
				break
			}
		}
	}
}

// whepPool holds what the viewers share.
type whepPool struct {
	b         *bench
	api       *pwebrtc.API
	client    *http.Client
	url       string // the WHEP endpoint
	measuring atomic.Bool
	closing   atomic.Bool
	dropped   atomic.Int64 // non-loopback candidates removed from answers
	readers   atomic.Int64 // running track and RTCP readers
}

// dial makes one viewer: a peer connection with recvonly video and audio
// transceivers, a complete offer (non-trickle), POST, and the answer.
func (p *whepPool) dial(ctx context.Context, id int) (*whepViewer, error) {
	api := p.api
	var mux ice.UDPMux
	if p.b.UDPBuffer > 0 {
		var err error
		if mux, err = newViewerMux(p.b.UDPBuffer); err != nil {
			return nil, err
		}
		api = newWHEPAPI(mux)
	}
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		if mux != nil {
			_ = mux.Close()
		}
		return nil, err
	}
	v := &whepViewer{id: id, pc: pc, mux: mux, measuring: &p.measuring, closing: &p.closing}
	ok := false
	defer func() {
		if !ok {
			v.close()
		}
	}()
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, rcv *pwebrtc.RTPReceiver) {
		p.readers.Add(2)
		go func() {
			// Drain RTCP (sender reports) so the interceptors see it.
			defer p.readers.Add(-1)
			for {
				if _, _, err := rcv.ReadRTCP(); err != nil {
					return
				}
			}
		}()
		defer p.readers.Add(-1)
		v.readTrack(tr)
	})
	pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		switch s {
		case pwebrtc.PeerConnectionStateConnected:
			v.connected.CompareAndSwap(0, time.Now().UnixNano())
		case pwebrtc.PeerConnectionStateFailed, pwebrtc.PeerConnectionStateDisconnected, pwebrtc.PeerConnectionStateClosed:
			if !v.closing.Load() {
				v.died.Store(true)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-time.After(whepTimeout):
		return nil, errors.New("ICE gathering did not complete within 10s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !strings.Contains(pc.LocalDescription().SDP, "a=candidate:") {
		return nil, errors.New("the offer has no ICE candidate on 127.0.0.1")
	}

	rctx, cancel := context.WithTimeout(ctx, whepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentSDP)
	sent := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", p.url, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", p.url, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST %s: HTTP %d: %s", p.url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		v.location = resolveURL(p.url, loc)
	}
	answer, dropped := loopbackCandidatesOnly(string(body), p.b.allowRemote)
	p.dropped.Add(int64(dropped))
	v.postSent.Store(sent.UnixNano())
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		p.deleteSession(ctx, v)
		return nil, fmt.Errorf("the answer: %w", err)
	}
	ok = true
	return v, nil
}

// dialRetry dials until it succeeds, ctx ends or the connect timeout passes.
func (p *whepPool) dialRetry(ctx context.Context, id int) (*whepViewer, error) {
	deadline := time.Now().Add(p.b.ConnectTimeout)
	for {
		v, err := p.dial(ctx, id)
		if err == nil {
			return v, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// deleteSession ends the viewer's session on the gateway; it reports success.
func (p *whepPool) deleteSession(ctx context.Context, v *whepViewer) bool {
	if v.location == "" {
		return false
	}
	if err := checkLoopbackURL(ctx, v.location, p.b.allowRemote); err != nil {
		p.b.Logger.Warn("not deleting the WHEP session", "url", v.location, "error", err)
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, whepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodDelete, v.location, nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.b.Logger.Debug("DELETE failed", "url", v.location, "error", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// teardown deletes every session (16 at a time, within whepDeleteBudget)
// and closes every peer connection. It returns how many DELETEs succeeded.
func (p *whepPool) teardown(ctx context.Context, viewers []*whepViewer) int {
	p.closing.Store(true)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), whepDeleteBudget)
	defer cancel()
	var deleted atomic.Int64
	sem := make(chan struct{}, connectConcurrency)
	var wg sync.WaitGroup
	for _, v := range viewers {
		if v == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if dctx.Err() == nil && p.deleteSession(dctx, v) {
				deleted.Add(1)
			}
			v.close()
		}()
	}
	wg.Wait()
	// The track readers end with their connections; do not wait forever.
	for deadline := time.Now().Add(10 * time.Second); p.readers.Load() > 0; {
		if time.Now().After(deadline) {
			p.b.Logger.Warn("WebRTC track readers still running 10s after closing", "readers", p.readers.Load())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return int(deleted.Load())
}

// whepURL is the WHEP endpoint of path.
func (b *bench) whepURL(path string) string { return b.httpURLFor(path) + "whep" }

// runWebRTC is the webrtc scenario: N WHEP viewers for the duration.
func (b *bench) runWebRTC(ctx context.Context) (*Report, error) {
	rep := b.newReport("webrtc")
	rep.Params["viewers"] = fmt.Sprint(b.Readers)
	rep.Params["whep-url"] = b.whepURL(b.Path)
	p := &whepPool{b: b, api: newWHEPAPI(nil), url: b.whepURL(b.Path)}
	if b.UDPBuffer > 0 {
		rep.Params["udp-buffer"] = fmt.Sprintf("%d bytes per viewer socket (one socket per viewer, bound by the tool)", b.UDPBuffer)
	}
	if err := checkLoopbackURL(ctx, p.url, b.allowRemote); err != nil {
		return rep, err
	}
	p.client = b.newHTTPClient(connectConcurrency + 4)
	p.client.Timeout = whepTimeout
	defer p.client.CloseIdleConnections()

	// The gateway's memory before any viewer: the baseline of RSS per viewer.
	baseProc, baseErr := b.procSample()

	cctx, ccancel := context.WithTimeout(ctx, b.ConnectTimeout)
	defer ccancel()
	viewers := make([]*whepViewer, b.Readers)
	errs := make([]error, b.Readers)
	defer func() {
		deleted := p.teardown(ctx, viewers)
		b.Logger.Info("WHEP sessions deleted", "deleted", deleted)
	}()
	connectStart := time.Now()
	// Viewer 0 probes first: it waits for the path (a gateway that has just
	// started has no keyframe cached yet) and is left out of the
	// first-keyframe figures when others follow.
	viewers[0], errs[0] = p.dialRetry(cctx, 0)
	if viewers[0] == nil {
		return rep, fmt.Errorf("no viewer could connect to %s: %w", p.url, errs[0])
	}
	for viewers[0].firstKey.Load() == 0 && cctx.Err() == nil {
		_ = sleepCtx(cctx, 20*time.Millisecond)
	}
	if viewers[0].firstKey.Load() == 0 {
		return rep, fmt.Errorf("the first viewer got no keyframe within -connect-timeout %s", b.ConnectTimeout)
	}
	sem := make(chan struct{}, connectConcurrency)
	var wg sync.WaitGroup
	for i := 1; i < len(viewers); i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := cctx.Err(); err != nil {
				errs[i] = fmt.Errorf("connect phase over (-connect-timeout %s): %w", b.ConnectTimeout, err)
				return
			}
			viewers[i], errs[i] = p.dialRetry(cctx, i)
		}()
	}
	wg.Wait()
	posted := 0
	for i, v := range viewers {
		if v != nil {
			posted++
		} else {
			b.Logger.Warn("viewer failed to connect", "viewer", i, "error", errs[i])
		}
	}
	if posted == 0 {
		return rep, fmt.Errorf("no viewer could connect to %s: %w", p.url, errs[0])
	}
	// Wait (within the connect timeout) for ICE and DTLS to finish.
	for {
		n := 0
		for _, v := range viewers {
			if v != nil && v.connected.Load() != 0 {
				n++
			}
		}
		if n == posted || cctx.Err() != nil {
			break
		}
		_ = sleepCtx(cctx, 50*time.Millisecond)
	}
	connected := 0
	var toConnect []float64
	for i, v := range viewers {
		if v == nil {
			continue
		}
		if c := v.connected.Load(); c != 0 {
			connected++
			toConnect = append(toConnect, ms(time.Duration(c-v.postSent.Load())))
		} else {
			errs[i] = errors.New("the peer connection did not reach the connected state")
		}
	}
	rep.add("viewers connected", float64(connected), "")
	rep.add("time to connect all", time.Since(connectStart).Seconds(), "s")
	rep.addPercentiles("POST to peer connection connected", toConnect)
	if connected < b.Readers {
		rep.warn("%d of %d viewers failed to connect; first error: %v", b.Readers-connected, b.Readers, firstErr(errs))
	}
	if d := p.dropped.Load(); d > 0 {
		rep.warn("%d non-loopback ICE candidates were removed from the gateway's answers", d)
	}
	if connected == 0 {
		return rep, fmt.Errorf("no viewer reached the connected state: %v", firstErr(errs))
	}

	if err := sleepCtx(ctx, b.Settle); err != nil {
		return rep, err
	}
	startProc, procErr := b.procSample()
	startSelf, selfErr := b.selfSample()
	camDrops, camStalls := b.cameraTrouble()
	hostStart, hostOK := hostCPU(startSelf.ticks)
	before := make([]readerCounters, len(viewers))
	for i, v := range viewers {
		if v != nil {
			before[i] = v.counters()
		}
	}
	rcvErrStart, rcvOK := udpRcvbufErrors()
	p.measuring.Store(true)
	windowStart := time.Now()
	err := sleepCtx(ctx, b.Duration)
	rcvErrEnd, rcvOK2 := udpRcvbufErrors()
	p.measuring.Store(false)
	window := time.Since(windowStart)
	endProc, procErr2 := b.procSample()
	endSelf, selfErr2 := b.selfSample()
	hostEnd, hostOK2 := hostCPU(startSelf.ticks)
	if err != nil {
		return rep, err
	}

	var total readerCounters
	var lat, firstKey []float64
	var maxLost, decodeErrs uint64
	var decodeErr error
	lossy, died, noKey := 0, 0, 0
	pkts := make([]float64, 0, connected)
	for i, v := range viewers {
		if v == nil || v.connected.Load() == 0 {
			rep.Readers = append(rep.Readers, ReaderStats{ID: i, Err: errs[i].Error()})
			continue
		}
		a := v.counters()
		d := readerCounters{a.packets - before[i].packets, a.lost - before[i].lost,
			a.reordered - before[i].reordered, a.bytes - before[i].bytes}
		total.packets += d.packets
		total.lost += d.lost
		total.reordered += d.reordered
		total.bytes += d.bytes
		maxLost = max(maxLost, d.lost)
		decodeErrs += v.decodeErrs.Load()
		if e := v.firstDecodeErr.Load(); e != nil && decodeErr == nil {
			decodeErr = *e
		}
		if d.lost > 0 {
			lossy++
		}
		pkts = append(pkts, float64(d.packets))
		l := v.latencies()
		lat = append(lat, l...)
		st := ReaderStats{ID: i, Packets: d.packets, Lost: d.lost, Reordered: d.reordered, Bytes: d.bytes,
			LatP50ms: finite(medianOf(l))}
		if k := v.firstKey.Load(); k != 0 {
			st.FirstKeyMs = ms(time.Duration(k - v.postSent.Load()))
			if i > 0 || len(viewers) == 1 {
				firstKey = append(firstKey, st.FirstKeyMs)
			}
		} else {
			noKey++
		}
		if v.died.Load() {
			died++
			st.Err = "the peer connection failed or was closed"
		}
		rep.Readers = append(rep.Readers, st)
	}
	rep.add("measured window", window.Seconds(), "s")
	rep.add("packets received (all viewers)", float64(total.packets), "")
	rep.add("packets per viewer, avg", float64(total.packets)/float64(max(connected, 1)), "")
	rep.add("packets per viewer, min", minOf(pkts), "")
	rep.add("lost (sequence gaps)", float64(total.lost), "packets")
	rep.add("loss", 100*float64(total.lost)/float64(max(total.packets+total.lost, 1)), "%")
	rep.add("lost per viewer, max", float64(maxLost), "packets")
	rep.add("viewers with loss", float64(lossy), "")
	if rcvOK && rcvOK2 {
		// Loss in the viewers' own sockets (a busy bench host), not in the gateway.
		rep.add("host UDP receive-buffer drops", float64(rcvErrEnd-rcvErrStart), "packets")
	}
	rep.add("reordered (or retransmitted)", float64(total.reordered), "packets")
	rep.add("H.264 depacketisation errors (whole run)", float64(decodeErrs), "")
	rep.add("viewers that died", float64(died), "")
	rep.add("throughput (all viewers)", float64(total.bytes)*8/window.Seconds()/1e6, "Mbit/s")
	rep.addPercentiles("camera-to-viewer latency", lat)
	rep.addPercentiles("POST to first keyframe packet", firstKey)
	if len(viewers) > 1 {
		rep.Params["first keyframe"] = "viewers 1 to N-1 (viewer 0 probed the path first)"
	}
	b.addCameraTrouble(rep, camDrops, camStalls)
	if selfErr == nil && selfErr2 == nil {
		self := usageBetween(startSelf, endSelf)
		rep.addHost(self, hostEnd-hostStart, hostOK && hostOK2, startProc, endProc, b.Proc != nil && procErr == nil && procErr2 == nil)
		rep.add("bench tool CPU per viewer-second", self.perClientSecond(connected), "ms")
	}
	if procErr == nil && procErr2 == nil && b.Proc != nil {
		u := usageBetween(startProc, endProc)
		rep.addUsage(&u, connected, "viewer")
		if baseErr == nil {
			rep.add("gateway RSS before the viewers", float64(baseProc.RSS)/(1<<20), "MiB")
			rep.add("gateway RSS per viewer (end - before) / viewers", float64(endProc.RSS-baseProc.RSS)/float64(connected)/(1<<10), "KiB")
		}
	} else {
		if b.Proc != nil {
			rep.warn("cannot read the gateway's CPU: %v", errors.Join(procErr, procErr2))
		}
		rep.addUsage(nil, connected, "viewer")
	}
	rep.warn("the viewers decrypt SRTP and run pion's interceptors on this host: the bench tool's CPU is of the same order as the gateway's, and on a small host they compete")
	if len(lat) == 0 {
		rep.warn("no latency samples: frames carry no stamp (camera not the built-in one?)")
	}
	if decodeErr != nil {
		rep.warn("H.264 depacketisation errors (frames not rebuilt, no latency sample); the first: %v", decodeErr)
	}
	if noKey > 0 {
		rep.warn("%d viewers received no keyframe packet", noKey)
	}
	if died > 0 {
		rep.warn("%d viewers' peer connections failed or were closed", died)
	}
	return rep, nil
}
