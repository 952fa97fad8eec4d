package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

const (
	// maxLatencySamples bounds the latency samples one reader keeps (10 min at 30 fps).
	maxLatencySamples = 30 * 600
	// connectConcurrency is how many readers connect at once.
	connectConcurrency = 16
	// rtspTimeout bounds every RTSP request and read.
	rtspTimeout = 10 * time.Second
)

// seqState follows the RTP sequence numbers of one media.
type seqState struct {
	have bool
	next uint16
}

// rtspReader is one gortsplib client reading the gateway.
type rtspReader struct {
	id        int
	c         *gortsplib.Client
	medias    []*description.Media
	video     *description.Media
	seq       []seqState // by media index; each media's packets come from one goroutine
	measuring *atomic.Bool

	playSent  atomic.Int64 // unix ns of sending PLAY
	firstKey  atomic.Int64 // unix ns of the first keyframe packet
	keyNotify chan struct{}

	packets, lost, reordered, bytes atomic.Uint64
	failed                          atomic.Pointer[error]

	mu  sync.Mutex
	lat []float64
}

// readerCounters is a snapshot of a reader's counters.
type readerCounters struct{ packets, lost, reordered, bytes uint64 }

func (r *rtspReader) counters() readerCounters {
	return readerCounters{r.packets.Load(), r.lost.Load(), r.reordered.Load(), r.bytes.Load()}
}

func (r *rtspReader) latencies() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.lat...)
}

// dialRTSP connects a reader to path: DESCRIBE, SETUP of every media, PLAY.
func (b *bench) dialRTSP(id int, path string, proto gortsplib.Protocol, measuring *atomic.Bool) (*rtspReader, error) {
	raw := b.rtspURLFor(path)
	u, err := base.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("RTSP URL %q: %w", raw, err)
	}
	r := &rtspReader{id: id, measuring: measuring, keyNotify: make(chan struct{})}
	r.c = &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Protocol:     &proto,
		ReadTimeout:  rtspTimeout,
		WriteTimeout: rtspTimeout,
		DialContext:  b.dialer.DialContext,
		OnRequest: func(req *base.Request) {
			if req.Method == base.Play {
				r.playSent.CompareAndSwap(0, time.Now().UnixNano())
			}
		},
		UDPReadBufferSize: b.UDPBuffer,
	}
	if err := r.c.Start(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.c.Close()
		}
	}()
	desc, _, err := r.c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("DESCRIBE %s: %w", raw, err)
	}
	r.medias = desc.Medias
	r.seq = make([]seqState, len(desc.Medias))
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeVideo && r.video == nil {
			r.video = m
		}
	}
	if r.video == nil {
		return nil, fmt.Errorf("%s has no video track", raw)
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return nil, fmt.Errorf("SETUP %s: %w", raw, err)
	}
	r.c.OnPacketRTPAny(r.onPacket)
	if _, err := r.c.Play(nil); err != nil {
		return nil, fmt.Errorf("PLAY %s: %w", raw, err)
	}
	go func() {
		err := r.c.Wait()
		if err != nil {
			r.failed.CompareAndSwap(nil, &err)
		}
	}()
	ok = true
	return r, nil
}

func (r *rtspReader) onPacket(m *description.Media, _ format.Format, pkt *rtp.Packet) {
	at := time.Now()
	idx := 0
	for i, dm := range r.medias {
		if dm == m {
			idx = i
			break
		}
	}
	s := &r.seq[idx]
	switch d := int16(pkt.SequenceNumber - s.next); {
	case !s.have || d == 0:
		s.have, s.next = true, pkt.SequenceNumber+1
	case d > 0:
		r.lost.Add(uint64(d))
		s.next = pkt.SequenceNumber + 1
	default:
		r.reordered.Add(1)
	}
	r.packets.Add(1)
	r.bytes.Add(uint64(len(pkt.Payload)))
	if m != r.video {
		return
	}
	if r.firstKey.Load() == 0 && isKeyframePacket(pkt.Payload) {
		if r.firstKey.CompareAndSwap(0, at.UnixNano()) {
			close(r.keyNotify)
		}
	}
	if !r.measuring.Load() {
		return
	}
	if sent, ok := stampFromRTP(pkt.Payload); ok {
		r.mu.Lock()
		if len(r.lat) < maxLatencySamples {
			r.lat = append(r.lat, ms(at.Sub(sent)))
		}
		r.mu.Unlock()
	}
}

// dialRetry dials until it succeeds, ctx ends or the connect timeout passes:
// the path may still be coming up (404 until the camera is pulled).
func (b *bench) dialRetry(ctx context.Context, id int, path string, proto gortsplib.Protocol, measuring *atomic.Bool) (*rtspReader, error) {
	deadline := time.Now().Add(b.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		r, err := b.dialRTSP(id, path, proto, measuring)
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func parseTransport(s string) (gortsplib.Protocol, error) {
	switch s {
	case "tcp":
		return gortsplib.ProtocolTCP, nil
	case "udp":
		return gortsplib.ProtocolUDP, nil
	}
	return 0, fmt.Errorf("-transport %q: want tcp or udp", s)
}

// runRTSP is the rtsp scenario: N readers for the duration.
func (b *bench) runRTSP(ctx context.Context) (*Report, error) {
	proto, err := parseTransport(b.Transport)
	if err != nil {
		return nil, err
	}
	rep := b.newReport("rtsp")
	rep.Params["transport"] = b.Transport
	rep.Params["readers"] = fmt.Sprint(b.Readers)

	measuring := &atomic.Bool{}
	// One deadline for the whole connect phase, however many readers.
	cctx, ccancel := context.WithTimeout(ctx, b.ConnectTimeout)
	defer ccancel()
	readers := make([]*rtspReader, b.Readers)
	errs := make([]error, b.Readers)
	sem := make(chan struct{}, connectConcurrency)
	var wg sync.WaitGroup
	connectStart := time.Now()
	for i := range readers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := cctx.Err(); err != nil {
				errs[i] = fmt.Errorf("connect phase over (-connect-timeout %s): %w", b.ConnectTimeout, err)
				return
			}
			readers[i], errs[i] = b.dialRetry(cctx, i, b.Path, proto, measuring)
		}()
	}
	wg.Wait()
	defer func() {
		for _, r := range readers {
			if r != nil {
				r.c.Close()
			}
		}
	}()
	connected := 0
	for i, r := range readers {
		if r != nil {
			connected++
		} else {
			b.Logger.Warn("reader failed to connect", "reader", i, "error", errs[i])
		}
	}
	rep.add("readers connected", float64(connected), "")
	rep.add("time to connect all", time.Since(connectStart).Seconds(), "s")
	if connected == 0 {
		return rep, fmt.Errorf("no reader could connect to %s: %w", b.rtspURLFor(b.Path), errs[0])
	}
	if connected < b.Readers {
		rep.warn("%d of %d readers failed to connect; first error: %v", b.Readers-connected, b.Readers, firstErr(errs))
	}

	if err := sleepCtx(ctx, b.Settle); err != nil {
		return rep, err
	}
	startProc, procErr := b.procSample()
	startSelf, selfErr := b.selfSample()
	camDrops, camStalls := b.cameraTrouble()
	hostStart, hostOK := hostCPU(startSelf.ticks)
	before := make([]readerCounters, len(readers))
	for i, r := range readers {
		if r != nil {
			before[i] = r.counters()
		}
	}
	rcvErrStart, rcvOK := udpRcvbufErrors()
	measuring.Store(true)
	windowStart := time.Now()
	err = sleepCtx(ctx, b.Duration)
	rcvErrEnd, rcvOK2 := udpRcvbufErrors()
	measuring.Store(false)
	window := time.Since(windowStart)
	endProc, procErr2 := b.procSample()
	endSelf, selfErr2 := b.selfSample()
	hostEnd, hostOK2 := hostCPU(startSelf.ticks)
	if err != nil {
		return rep, err
	}

	var total readerCounters
	var lat []float64
	lossy, died := 0, 0
	pkts := make([]float64, 0, connected)
	for i, r := range readers {
		if r == nil {
			rep.Readers = append(rep.Readers, ReaderStats{ID: i, Err: errs[i].Error()})
			continue
		}
		a := r.counters()
		d := readerCounters{a.packets - before[i].packets, a.lost - before[i].lost,
			a.reordered - before[i].reordered, a.bytes - before[i].bytes}
		total.packets += d.packets
		total.lost += d.lost
		total.reordered += d.reordered
		total.bytes += d.bytes
		if d.lost > 0 {
			lossy++
		}
		pkts = append(pkts, float64(d.packets))
		l := r.latencies()
		lat = append(lat, l...)
		st := ReaderStats{ID: i, Packets: d.packets, Lost: d.lost, Reordered: d.reordered, Bytes: d.bytes,
			LatP50ms: finite(medianOf(l))}
		if e := r.failed.Load(); e != nil {
			died++
			st.Err = (*e).Error()
		}
		rep.Readers = append(rep.Readers, st)
	}
	rep.add("measured window", window.Seconds(), "s")
	rep.add("packets received (all readers)", float64(total.packets), "")
	rep.add("packets per reader, median", medianOf(pkts), "")
	rep.add("packets per reader, min", minOf(pkts), "")
	rep.add("lost (sequence gaps)", float64(total.lost), "packets")
	rep.add("loss", 100*float64(total.lost)/float64(max(total.packets+total.lost, 1)), "%")
	rep.add("readers with loss", float64(lossy), "")
	if proto == gortsplib.ProtocolUDP && rcvOK && rcvOK2 {
		// Loss the readers' own sockets caused (a busy bench host), not the gateway.
		rep.add("host UDP receive-buffer drops", float64(rcvErrEnd-rcvErrStart), "packets")
	}
	rep.add("reordered", float64(total.reordered), "packets")
	rep.add("readers that died", float64(died), "")
	rep.add("throughput (all readers)", float64(total.bytes)*8/window.Seconds()/1e6, "Mbit/s")
	rep.addPercentiles("camera-to-reader latency", lat)
	b.addCameraTrouble(rep, camDrops, camStalls)
	if selfErr == nil && selfErr2 == nil {
		rep.addHost(usageBetween(startSelf, endSelf), hostEnd-hostStart, hostOK && hostOK2, startProc, endProc, b.Proc != nil && procErr == nil && procErr2 == nil)
	}
	if procErr == nil && procErr2 == nil && b.Proc != nil {
		u := usageBetween(startProc, endProc)
		rep.addUsage(&u, connected, "reader")
	} else {
		if b.Proc != nil {
			rep.warn("cannot read the gateway's CPU: %v", errors.Join(procErr, procErr2))
		}
		rep.addUsage(nil, connected, "reader")
	}
	if died > 0 {
		rep.warn("%d readers were disconnected during the window", died)
	}
	return rep, nil
}

// firstKeyframes is the RTSP half of the first-frame scenario: sequential
// new readers, each timed from sending PLAY to its first keyframe packet.
func (b *bench) firstKeyframes(ctx context.Context, rep *Report) error {
	proto, err := parseTransport(b.Transport)
	if err != nil {
		return err
	}
	// A gateway started a moment ago has no keyframe cached yet.
	if err := sleepCtx(ctx, b.Settle); err != nil {
		return err
	}
	var samples []float64
	failures := 0
	var firstFailure error
	for i := 0; i < b.Samples; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d, err := b.oneFirstKeyframe(ctx, i, proto)
		if err != nil {
			failures++
			if firstFailure == nil {
				firstFailure = err
			}
			continue
		}
		samples = append(samples, ms(d))
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	rep.addPercentiles("RTSP PLAY to first keyframe packet", samples)
	if failures > 0 {
		rep.add("RTSP samples failed", float64(failures), "")
		rep.warn("%d RTSP first-keyframe samples failed; first error: %v", failures, firstFailure)
	}
	return nil
}

func (b *bench) oneFirstKeyframe(ctx context.Context, id int, proto gortsplib.Protocol) (time.Duration, error) {
	r, err := b.dialRetry(ctx, id, b.Path, proto, &atomic.Bool{})
	if err != nil {
		return 0, err
	}
	defer r.c.Close()
	select {
	case <-r.keyNotify:
	case <-time.After(rtspTimeout):
		return 0, errors.New("no keyframe within 10s of PLAY")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return time.Duration(r.firstKey.Load() - r.playSent.Load()), nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
