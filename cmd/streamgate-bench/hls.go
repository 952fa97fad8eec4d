package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// hlsRequestTimeout bounds every HLS request, blocking reloads included.
const hlsRequestTimeout = 15 * time.Second

// hlsViewer is one simulated HLS player.
type hlsViewer struct {
	id        int
	client    *http.Client
	measuring *atomic.Bool

	requests, bytes, errors, timeouts atomic.Uint64
	lastErr                           atomic.Pointer[error]

	mu  sync.Mutex
	lat []float64
}

type viewerCounters struct{ requests, bytes, errors, timeouts uint64 }

func (v *hlsViewer) counters() viewerCounters {
	return viewerCounters{v.requests.Load(), v.bytes.Load(), v.errors.Load(), v.timeouts.Load()}
}

func (v *hlsViewer) latencies() []float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]float64(nil), v.lat...)
}

// errStatus is a non-2xx answer.
type errStatus struct {
	url  string
	code int
}

func (e *errStatus) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.url, e.code) }

// get fetches u into buf and counts the request.
func (v *hlsViewer) get(ctx context.Context, u string, buf *bytes.Buffer) error {
	buf.Reset()
	ctx, cancel := context.WithTimeout(ctx, hlsRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	v.requests.Add(1)
	err = func() error {
		resp, err := v.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := buf.ReadFrom(resp.Body)
		v.bytes.Add(uint64(n))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return &errStatus{url: u, code: resp.StatusCode}
		}
		return err
	}()
	if err != nil && ctx.Err() != context.Canceled {
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			v.timeouts.Add(1)
		} else {
			v.errors.Add(1)
		}
		v.lastErr.Store(&err)
	}
	return err
}

// run plays indexURL until ctx ends, starting over after an error.
func (v *hlsViewer) run(ctx context.Context, indexURL string) {
	for ctx.Err() == nil {
		if err := v.session(ctx, indexURL); err != nil && ctx.Err() == nil {
			_ = sleepCtx(ctx, 500*time.Millisecond)
		}
	}
}

func (v *hlsViewer) session(ctx context.Context, indexURL string) error {
	var buf bytes.Buffer
	if err := v.get(ctx, indexURL, &buf); err != nil {
		return err
	}
	video, audio, err := parseMultivariant(buf.String())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range audio {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = v.follow(ctx, resolveURL(indexURL, a), false)
			cancel()
		}()
	}
	err = v.follow(ctx, resolveURL(indexURL, video), true)
	cancel()
	wg.Wait()
	return err
}

// follow reloads one media playlist and downloads every new part (or
// segment without Low-Latency HLS) once, until ctx ends or an error.
func (v *hlsViewer) follow(ctx context.Context, plURL string, video bool) error {
	var buf, media bytes.Buffer
	if err := v.get(ctx, plURL, &buf); err != nil {
		return err
	}
	pl, err := parseMediaPlaylist(buf.String())
	if err != nil {
		return err
	}
	if pl.Map != "" {
		if err := v.get(ctx, resolveURL(plURL, pl.Map), &media); err != nil {
			return err
		}
	}
	// What the first playlist lists is history: start at the live edge.
	seen := map[string]bool{}
	markSeen(seen, pl)
	for ctx.Err() == nil {
		if !pl.lowLatency() {
			if err := sleepCtx(ctx, time.Duration(pl.TargetDuration*float64(time.Second)/2)); err != nil {
				return nil
			}
			if err := v.get(ctx, plURL, &buf); err != nil {
				return err
			}
			if pl, err = parseMediaPlaylist(buf.String()); err != nil {
				return err
			}
			for _, s := range pl.complete() {
				if !s.Gap && !seen[s.URI] {
					seen[s.URI] = true
					if err := v.get(ctx, resolveURL(plURL, s.URI), &media); err != nil {
						return err
					}
				}
			}
			continue
		}

		msn, part := pl.nextPart()
		if err := v.get(ctx, withQuery(plURL, msn, part), &buf); err != nil {
			return err
		}
		listed := time.Now()
		if pl, err = parseMediaPlaylist(buf.String()); err != nil {
			return err
		}
		var fresh []hlsPart
		for _, s := range pl.Segments {
			for _, p := range s.Parts {
				if !seen[p.URI] {
					seen[p.URI] = true
					fresh = append(fresh, p)
				}
			}
		}
		for _, p := range fresh {
			if err := v.get(ctx, resolveURL(plURL, p.URI), &media); err != nil {
				return err
			}
			// Only a reload that listed exactly one new part tells when that
			// part became downloadable.
			if video && len(fresh) == 1 && v.measuring.Load() {
				if sent, ok := stampFromFMP4(media.Bytes()); ok {
					v.mu.Lock()
					if len(v.lat) < maxLatencySamples {
						v.lat = append(v.lat, ms(listed.Sub(sent)))
					}
					v.mu.Unlock()
				}
			}
		}
		if len(seen) > 1000 {
			clear(seen)
			markSeen(seen, pl)
		}
	}
	return nil
}

func markSeen(seen map[string]bool, pl *mediaPlaylist) {
	for _, s := range pl.Segments {
		if s.URI != "" {
			seen[s.URI] = true
		}
		for _, p := range s.Parts {
			seen[p.URI] = true
		}
	}
}

// stampFromFMP4 returns the send time of the first stamped frame of an fMP4 part or segment.
func stampFromFMP4(data []byte) (time.Time, bool) {
	var parts fmp4.Parts
	if err := parts.Unmarshal(data); err != nil {
		return time.Time{}, false
	}
	for _, p := range parts {
		for _, t := range p.Tracks {
			for _, s := range t.Samples {
				if sent, ok := stampFromAVCC(s.Payload); ok {
					return sent, true
				}
			}
		}
	}
	return time.Time{}, false
}

// withQuery adds the blocking-reload parameters to a media playlist URL.
func withQuery(plURL string, msn uint64, part int) string {
	u, err := url.Parse(plURL)
	if err != nil {
		return plURL
	}
	q := u.Query()
	q.Set("_HLS_msn", fmt.Sprint(msn))
	q.Set("_HLS_part", fmt.Sprint(part))
	u.RawQuery = q.Encode()
	return u.String()
}

// resolveURL resolves ref against base (a playlist's URL).
func resolveURL(base, ref string) string {
	if ref == "" {
		return base
	}
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func (b *bench) newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         b.dialer.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		Timeout: hlsRequestTimeout,
	}
}

// runHLS is the hls scenario: N viewers for the duration.
func (b *bench) runHLS(ctx context.Context) (*Report, error) {
	rep := b.newReport("hls")
	rep.Params["viewers"] = fmt.Sprint(b.Readers)
	indexURL := b.httpURLFor(b.Path) + "index.m3u8"
	client := b.newHTTPClient(3*b.Readers + 10)
	defer client.CloseIdleConnections()

	// The first request creates the path's muxer; wait for it before the crowd.
	probe := &hlsViewer{client: client}
	var buf bytes.Buffer
	deadline := time.Now().Add(b.ConnectTimeout)
	for {
		err := probe.get(ctx, indexURL, &buf)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return rep, fmt.Errorf("HLS is not available at %s: %w", indexURL, err)
		}
		_ = sleepCtx(ctx, 500*time.Millisecond)
	}

	measuring := &atomic.Bool{}
	vctx, stop := context.WithCancel(ctx)
	defer stop()
	viewers := make([]*hlsViewer, b.Readers)
	var wg sync.WaitGroup
	ramp := time.Second / time.Duration(max(b.Readers, 1))
	for i := range viewers {
		viewers[i] = &hlsViewer{id: i, client: client, measuring: measuring}
		wg.Add(1)
		go func() {
			defer wg.Done()
			viewers[i].run(vctx, indexURL)
		}()
		if err := sleepCtx(ctx, ramp); err != nil {
			break
		}
	}
	defer wg.Wait()
	defer stop()

	if err := sleepCtx(ctx, b.Settle); err != nil {
		return rep, err
	}
	startProc, procErr := b.procSample()
	startSelf, selfErr := b.selfSample()
	camDrops, camStalls := b.cameraTrouble()
	hostStart, hostOK := hostCPU(startSelf.ticks)
	before := make([]viewerCounters, len(viewers))
	for i, v := range viewers {
		before[i] = v.counters()
	}
	measuring.Store(true)
	windowStart := time.Now()
	err := sleepCtx(ctx, b.Duration)
	measuring.Store(false)
	window := time.Since(windowStart)
	endProc, procErr2 := b.procSample()
	endSelf, selfErr2 := b.selfSample()
	hostEnd, hostOK2 := hostCPU(startSelf.ticks)
	if err != nil {
		return rep, err
	}
	var total viewerCounters
	var lat []float64
	failing := 0
	for i, v := range viewers {
		a := v.counters()
		d := viewerCounters{a.requests - before[i].requests, a.bytes - before[i].bytes,
			a.errors - before[i].errors, a.timeouts - before[i].timeouts}
		total.requests += d.requests
		total.bytes += d.bytes
		total.errors += d.errors
		total.timeouts += d.timeouts
		l := v.latencies()
		lat = append(lat, l...)
		st := ReaderStats{ID: i, Requests: d.requests, Bytes: d.bytes, Errors: d.errors, Timeouts: d.timeouts, LatP50ms: finite(medianOf(l))}
		if d.errors+d.timeouts > 0 {
			failing++
			if e := v.lastErr.Load(); e != nil {
				st.Err = (*e).Error()
			}
		}
		rep.Readers = append(rep.Readers, st)
	}
	rep.add("measured window", window.Seconds(), "s")
	rep.add("requests (all viewers)", float64(total.requests), "")
	rep.add("requests per second", float64(total.requests)/window.Seconds(), "req/s")
	rep.add("throughput (all viewers)", float64(total.bytes)*8/window.Seconds()/1e6, "Mbit/s")
	rep.add("errors (non-2xx, transport)", float64(total.errors), "")
	rep.add("timeouts", float64(total.timeouts), "")
	rep.add("viewers with errors", float64(failing), "")
	rep.addPercentiles("LL part-ready latency", lat)
	b.addCameraTrouble(rep, camDrops, camStalls)
	if selfErr == nil && selfErr2 == nil {
		rep.addHost(usageBetween(startSelf, endSelf), hostEnd-hostStart, hostOK && hostOK2, startProc, endProc, b.Proc != nil && procErr == nil && procErr2 == nil)
	}
	if procErr == nil && procErr2 == nil && b.Proc != nil {
		u := usageBetween(startProc, endProc)
		rep.addUsage(&u, b.Readers, "viewer")
	} else {
		if b.Proc != nil {
			rep.warn("cannot read the gateway's CPU: %v", errors.Join(procErr, procErr2))
		}
		rep.addUsage(nil, b.Readers, "viewer")
	}
	if len(lat) == 0 {
		rep.warn("no LL latency samples: the playlist offers no blocking reload, or parts carry no stamped frames (camera not the built-in one?)")
	}
	return rep, nil
}

// firstSegments is the HLS half of the first-frame scenario: for each
// sample a path nobody watched yet (so a fresh muxer, and for pattern paths
// a fresh pull), timed from the first GET index.m3u8 to the first segment
// (or part) downloaded.
func (b *bench) firstSegments(ctx context.Context, rep *Report) error {
	client := b.newHTTPClient(4)
	defer client.CloseIdleConnections()
	run := time.Now().Format("150405")
	var playlist, playable []float64
	failures := 0
	var firstFailure error
	for i := 0; i < b.Samples; i++ {
		// A random pause, so samples do not lock onto the camera's GOP phase
		// (each sample ends just after a keyframe).
		if err := sleepCtx(ctx, 100*time.Millisecond+rand.N(b.SampleJitter+1)); err != nil {
			return err
		}
		path := strings.NewReplacer("{path}", b.Path, "{n}", fmt.Sprintf("%s-%d", run, i), "{i}", fmt.Sprint(i)).Replace(b.SamplePath)
		tList, tPlay, err := b.oneFirstSegment(ctx, client, path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failures++
			if firstFailure == nil {
				firstFailure = err
			}
			continue
		}
		playlist = append(playlist, ms(tList))
		playable = append(playable, ms(tPlay))
	}
	rep.Params["hls sample path"] = b.SamplePath
	rep.Params["sample jitter"] = b.SampleJitter.String()
	rep.addPercentiles("HLS first playlist with a segment", playlist)
	rep.addPercentiles("HLS first segment playable", playable)
	if failures > 0 {
		rep.add("HLS samples failed", float64(failures), "")
		rep.warn("%d HLS samples failed; first error: %v", failures, firstFailure)
	}
	return nil
}

func (b *bench) oneFirstSegment(ctx context.Context, client *http.Client, path string) (tList, tPlay time.Duration, err error) {
	v := &hlsViewer{client: client}
	indexURL := b.httpURLFor(path) + "index.m3u8"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var buf, media bytes.Buffer
	t0 := time.Now()
	if err := v.get(ctx, indexURL, &buf); err != nil {
		return 0, 0, err
	}
	video, _, err := parseMultivariant(buf.String())
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w: %.200q", indexURL, err, buf.String())
	}
	plURL := resolveURL(indexURL, video)
	var pl *mediaPlaylist
	for {
		if err := v.get(ctx, plURL, &buf); err != nil {
			return 0, 0, err
		}
		if pl, err = parseMediaPlaylist(buf.String()); err != nil {
			return 0, 0, err
		}
		if _, ok := pl.firstMedia(); ok {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	tList = time.Since(t0)
	if pl.Map != "" {
		if err := v.get(ctx, resolveURL(plURL, pl.Map), &media); err != nil {
			return 0, 0, err
		}
	}
	first, _ := pl.firstMedia()
	if err := v.get(ctx, resolveURL(plURL, first), &media); err != nil {
		return 0, 0, err
	}
	if media.Len() == 0 {
		return 0, 0, errors.New("empty first segment")
	}
	return tList, time.Since(t0), nil
}
