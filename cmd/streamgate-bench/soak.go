package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// The soak scenario keeps a mix of RTSP, WebRTC and HLS readers on one
// path for a long time while the built-in camera drops the gateway's pull
// every DropEvery, samples the gateway (RSS, goroutines, open files) and
// the readers' trouble every SoakInterval, and fails on sustained growth.
//
// Growth is judged after a warm-up (the first fifth of the run, at least
// one sample): the start is the median of the first three samples after
// it, the end the median of the last three, so one spike (a GC cycle, a
// reconnect in flight) neither passes nor fails a run. The run fails when
// at the end
//
//	RSS        > start × 1.25 + 32 MiB
//	goroutines > start × 1.25 + 25
//	open files > start × 1.25 + 10
const (
	soakGrowthFactor     = 1.25
	soakRSSMargin        = 32 << 20
	soakGoroutineMargin  = 25
	soakFDMargin         = 10
	soakWindow           = 3 // samples in the start and end medians
	defaultSoakDuration  = 10 * time.Minute
	defaultSoakInterval  = 10 * time.Second
	defaultSoakDropEvery = time.Minute
	maxSoakDuration      = 4 * time.Hour
)

// SoakSample is the state of the gateway and the readers at one instant.
type SoakSample struct {
	At         float64 `json:"atSeconds"` // since the readers started
	RSSMiB     float64 `json:"rssMiB"`
	Goroutines int     `json:"goroutines"` // -1 when /metrics could not be read
	OpenFiles  int     `json:"openFiles"`
	// Readers counts readers that are receiving (RTSP and WebRTC: connected;
	// HLS: running).
	Readers int `json:"readers"`
	// Reconnects counts, since the start, readers that lost their session
	// and connected again (RTSP, WebRTC) or HLS requests that failed.
	RTSPReconnects   uint64 `json:"rtspReconnects"`
	WebRTCReconnects uint64 `json:"webrtcReconnects"`
	HLSErrors        uint64 `json:"hlsErrors"`
	// UnitDrops are the units the gateway dropped for slow readers
	// (streamgate_path_reader_drops_total, current streams only).
	UnitDrops   float64 `json:"unitDrops"`
	CameraDrops uint64  `json:"cameraDrops"`
	Packets     uint64  `json:"packets"` // RTSP and WebRTC packets received in total
}

// soakState is what the soak's readers share with the sampler.
type soakState struct {
	rtspReconnects, webrtcReconnects atomic.Uint64
	connected                        atomic.Int64
	packets                          atomic.Uint64 // of readers that ended
	mu                               sync.Mutex
	rtsp                             map[int]*rtspReader
	whep                             map[int]*whepViewer
	hls                              []*hlsViewer
}

func (st *soakState) livePackets() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := st.packets.Load()
	for _, r := range st.rtsp {
		n += r.packets.Load()
	}
	for _, v := range st.whep {
		n += v.packets.Load()
	}
	return n
}

func (st *soakState) hlsErrors() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	var n uint64
	for _, v := range st.hls {
		c := v.counters()
		n += c.errors + c.timeouts
	}
	return n
}

// soakSplit divides n readers into RTSP, WebRTC and HLS, RTSP first.
func soakSplit(n int) (rtsp, webrtc, hls int) {
	rtsp = (n + 2) / 3
	webrtc = (n + 1) / 3
	return rtsp, webrtc, n - rtsp - webrtc
}

// runSoak is the soak scenario.
func (b *bench) runSoak(ctx context.Context) (*Report, error) {
	rep := b.newReport("soak")
	if b.Proc == nil {
		return rep, errors.New("soak needs the gateway's process: give -cmd or -pid")
	}
	nR, nW, nH := soakSplit(b.Readers)
	rep.Params["readers"] = fmt.Sprintf("%d RTSP (%s), %d WebRTC, %d HLS", nR, b.Transport, nW, nH)
	rep.Params["interval"] = b.SoakInterval.String()
	rep.Params["camera drops"] = "none"
	if b.Camera != nil && b.DropEvery > 0 {
		rep.Params["camera drops"] = "every " + b.DropEvery.String()
	}
	rep.Params["growth rule"] = fmt.Sprintf("fail when, after a warm-up of a fifth of the run, the median of the last %d samples exceeds the median of the first %d by: RSS ×%.2f + %d MiB, goroutines ×%.2f + %d, open files ×%.2f + %d",
		soakWindow, soakWindow, soakGrowthFactor, soakRSSMargin>>20, soakGrowthFactor, soakGoroutineMargin, soakGrowthFactor, soakFDMargin)
	metricsURL, err := b.metricsURL()
	if err != nil {
		return rep, err
	}
	proto, err := parseTransport(b.Transport)
	if err != nil {
		return rep, err
	}

	st := &soakState{rtsp: map[int]*rtspReader{}, whep: map[int]*whepViewer{}}
	pool := &whepPool{b: b, api: newWHEPAPI(nil), url: b.whepURL(b.Path)}
	pool.client = b.newHTTPClient(nW + 4)
	pool.client.Timeout = whepTimeout
	defer pool.client.CloseIdleConnections()
	metricsClient := b.newHTTPClient(1)
	defer metricsClient.CloseIdleConnections()

	// The readers run on rctx, which ends after the last sample, so that
	// sample still sees them; sctx is the sampled window.
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	sctx, stop := context.WithTimeout(ctx, b.Duration)
	defer stop()
	var wg sync.WaitGroup
	var measuring atomic.Bool // latency samples are not kept
	for i := range nR {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.soakRTSP(rctx, st, i, proto, &measuring)
		}()
	}
	for i := range nW {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.soakWHEP(rctx, st, pool, nR+i)
		}()
	}
	hlsClient := b.newHTTPClient(nH*2 + 2)
	defer hlsClient.CloseIdleConnections()
	for i := range nH {
		v := &hlsViewer{id: nR + nW + i, client: hlsClient, measuring: &measuring}
		st.mu.Lock()
		st.hls = append(st.hls, v)
		st.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.run(rctx, b.httpURLFor(b.Path)+"index.m3u8")
		}()
	}
	if b.Camera != nil && b.DropEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(b.DropEvery)
			defer t.Stop()
			for {
				select {
				case <-sctx.Done():
					return
				case <-t.C:
					b.Logger.Info("camera drops the gateway", "sessions", b.Camera.Drop())
				}
			}
		}()
	}

	start := time.Now()
	var samples []SoakSample
	sample := func() {
		s := SoakSample{At: math.Round(time.Since(start).Seconds()*10) / 10, Goroutines: -1, OpenFiles: -1, HLSErrors: st.hlsErrors()}
		if ps, err := b.Proc.sample(); err == nil {
			s.RSSMiB = math.Round(float64(ps.RSS)/(1<<20)*10) / 10
		}
		if n, err := openFiles(b.Proc.PID, b.Proc.ProcDir); err == nil {
			s.OpenFiles = n
		}
		if m, err := scrape(ctx, metricsClient, metricsURL); err == nil {
			if v, ok := m["go_goroutines"]; ok {
				s.Goroutines = int(v)
			}
			s.UnitDrops = m["streamgate_path_reader_drops_total"]
		} else {
			b.Logger.Warn("cannot read the gateway's metrics", "url", metricsURL, "error", err)
		}
		s.RTSPReconnects, s.WebRTCReconnects = st.rtspReconnects.Load(), st.webrtcReconnects.Load()
		s.Readers = int(st.connected.Load()) + nH
		if b.Camera != nil {
			s.CameraDrops = b.Camera.drops.Load()
		}
		s.Packets = st.livePackets()
		samples = append(samples, s)
		b.Logger.Info("soak sample", "at", s.At, "rssMiB", s.RSSMiB, "goroutines", s.Goroutines, "fds", s.OpenFiles,
			"readers", s.Readers, "reconnects", s.RTSPReconnects+s.WebRTCReconnects, "hlsErrors", s.HLSErrors)
	}
	tick := time.NewTicker(b.SoakInterval)
	func() {
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	if n := len(samples); ctx.Err() == nil && (n == 0 || time.Since(start).Seconds()-samples[n-1].At > b.SoakInterval.Seconds()/2) {
		sample() // the end of the run, unless the last tick was it
	}
	stopReaders()
	wg.Wait()
	pool.teardown(ctx, nil) // every viewer is closed: wait for their track readers
	rep.Samples = samples
	return rep, judgeSoak(rep, samples, b.Readers)
}

// judgeSoak adds the start and end figures to rep and returns an error
// when a figure grew beyond the rule, or when no reader received anything.
func judgeSoak(rep *Report, samples []SoakSample, readers int) error {
	warm := max(1, len(samples)/5)
	if len(samples) < warm+2*soakWindow {
		rep.warn("only %d samples: too few to judge growth (need %d); use a longer -duration or a shorter -soak-interval", len(samples), warm+2*soakWindow)
		return fmt.Errorf("soak: %d samples, too few to judge growth", len(samples))
	}
	head := samples[warm : warm+soakWindow]
	tail := samples[len(samples)-soakWindow:]
	med := func(ss []SoakSample, f func(SoakSample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var errs []error
	for _, c := range []struct {
		name, unit string
		f          func(SoakSample) float64
		margin     float64
	}{
		{"RSS", "MiB", func(s SoakSample) float64 { return s.RSSMiB }, soakRSSMargin >> 20},
		{"goroutines", "", func(s SoakSample) float64 { return float64(s.Goroutines) }, soakGoroutineMargin},
		{"open files", "", func(s SoakSample) float64 { return float64(s.OpenFiles) }, soakFDMargin},
	} {
		a, z := med(head, c.f), med(tail, c.f)
		rep.add(c.name+" at start (after warm-up)", a, c.unit)
		rep.add(c.name+" at end", z, c.unit)
		if a < 0 || z < 0 {
			rep.warn("%s could not be read", c.name)
			continue
		}
		if limit := a*soakGrowthFactor + c.margin; z > limit {
			errs = append(errs, fmt.Errorf("soak: %s grew from %.1f to %.1f (limit %.1f)", c.name, a, z, limit))
		}
	}
	last := samples[len(samples)-1]
	rep.add("RTSP reader reconnects", float64(last.RTSPReconnects), "")
	rep.add("WebRTC viewer reconnects", float64(last.WebRTCReconnects), "")
	rep.add("HLS failed requests", float64(last.HLSErrors), "")
	rep.add("units dropped for slow readers (current streams)", last.UnitDrops, "")
	rep.add("camera drops", float64(last.CameraDrops), "sessions")
	rep.add("packets received (RTSP and WebRTC)", float64(last.Packets), "")
	if last.Packets == 0 && readers > 0 {
		errs = append(errs, errors.New("soak: the RTSP and WebRTC readers received nothing"))
	}
	return errors.Join(errs...)
}

// soakRTSP keeps one RTSP reader playing until ctx ends, reconnecting
// whenever its session ends.
func (b *bench) soakRTSP(ctx context.Context, st *soakState, id int, proto gortsplib.Protocol, measuring *atomic.Bool) {
	for ctx.Err() == nil {
		r, err := b.dialRetry(ctx, id, b.Path, proto, measuring)
		if err != nil {
			if ctx.Err() == nil {
				b.Logger.Warn("soak RTSP reader cannot connect", "id", id, "error", err)
				_ = sleepCtx(ctx, time.Second)
			}
			continue
		}
		st.mu.Lock()
		st.rtsp[id] = r
		st.mu.Unlock()
		st.connected.Add(1)
		for ctx.Err() == nil && r.failed.Load() == nil {
			_ = sleepCtx(ctx, 250*time.Millisecond) // the client has no done channel to wait on
		}
		st.connected.Add(-1)
		r.c.Close()
		st.mu.Lock()
		delete(st.rtsp, id)
		st.packets.Add(r.packets.Load())
		st.mu.Unlock()
		if ctx.Err() == nil {
			st.rtspReconnects.Add(1)
			b.Logger.Info("soak RTSP reader lost its session; reconnecting", "id", id, "error", *r.failed.Load())
		}
	}
}

// soakWHEP keeps one WHEP viewer until ctx ends, reconnecting whenever its
// peer connection fails or is closed by the gateway.
func (b *bench) soakWHEP(ctx context.Context, st *soakState, p *whepPool, id int) {
	for ctx.Err() == nil {
		v, err := p.dialRetry(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				b.Logger.Warn("soak WebRTC viewer cannot connect", "id", id, "error", err)
				_ = sleepCtx(ctx, time.Second)
			}
			continue
		}
		st.mu.Lock()
		st.whep[id] = v
		st.mu.Unlock()
		st.connected.Add(1)
		for ctx.Err() == nil && !v.died.Load() {
			_ = sleepCtx(ctx, 250*time.Millisecond)
		}
		st.connected.Add(-1)
		died := v.died.Load() && ctx.Err() == nil
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), whepTimeout)
		p.deleteSession(dctx, v)
		cancel()
		v.close()
		st.mu.Lock()
		delete(st.whep, id)
		st.packets.Add(v.packets.Load())
		st.mu.Unlock()
		if died {
			st.webrtcReconnects.Add(1)
			b.Logger.Info("soak WebRTC viewer lost its session; reconnecting", "id", id)
		}
	}
}

// metricsURL is the gateway's /metrics on the host of the HTTP URL.
func (b *bench) metricsURL() (string, error) {
	u, err := url.Parse(b.httpURLFor(b.Path))
	if err != nil {
		return "", fmt.Errorf("-http-url: %w", err)
	}
	return u.Scheme + "://" + u.Host + "/metrics", nil
}

// scrape reads a Prometheus text exposition and sums each metric's samples
// over their labels.
func scrape(ctx context.Context, client *http.Client, u string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// parseMetrics sums the samples of each metric name in a Prometheus text
// exposition (comments skipped, labels ignored).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = line[:i]
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			rest = strings.TrimSpace(line[j+1:])
		}
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// openFiles counts the entries of /proc/PID/fd.
func openFiles(pid int, procDir string) (int, error) {
	if procDir == "" {
		procDir = "/proc"
	}
	ents, err := os.ReadDir(fmt.Sprintf("%s/%d/fd", procDir, pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// writeSamples prints the soak's samples as a table (nothing without any).
func writeSamples(b *strings.Builder, samples []SoakSample) {
	if len(samples) == 0 {
		return
	}
	fmt.Fprintf(b, "\n  %8s %8s %10s %5s %7s %7s %9s %7s %8s %7s %10s\n",
		"at s", "RSS MiB", "goroutines", "fds", "readers", "rtsp-rc", "webrtc-rc", "hls-err", "drops", "camera", "packets")
	for _, s := range samples {
		fmt.Fprintf(b, "  %8.1f %8.1f %10d %5d %7d %7d %9d %7d %8.0f %7d %10d\n",
			s.At, s.RSSMiB, s.Goroutines, s.OpenFiles, s.Readers, s.RTSPReconnects, s.WebRTCReconnects,
			s.HLSErrors, s.UnitDrops, s.CameraDrops, s.Packets)
	}
}
