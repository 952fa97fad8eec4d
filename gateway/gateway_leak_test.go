package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// Leak tests: many cycles of connect, play and disconnect per protocol,
// run in bounded concurrent batches, then the process's goroutines must
// come back to where they were before the cycles and the live heap may not
// have grown by more than leakHeapBound. The gateway's own goroutines (the
// demo source, listeners, the hub) are part of the baseline; goleak in
// TestMain checks that the rest disappear with the gateway.

const (
	leakCycles = 1000
	// leakBatch cycles run at once: enough to overlap joins and leaves,
	// few enough for a shared 2-core machine.
	leakBatch = 8
	// leakHeapBound is the live-heap growth allowed after all the cycles:
	// 4 KiB kept per cycle would exceed it, while the demo's GOP cache and
	// the unit pool move by about 1 MiB. (3,000 cycles of each protocol
	// grew the heap by 0.2 to 0.5 MiB.)
	leakHeapBound = 4 << 20
	// leakGoroutineSlack covers goroutines of the runtime and of the test
	// (timers of closed HTTP transports) that end on their own schedule.
	leakGoroutineSlack = 2
)

// lineCounter is a log sink for leak tests: it counts the lines that hold
// one of its patterns and keeps nothing else, so the test's own memory
// does not grow with the cycles (a kept log would: pion warns per session).
type lineCounter struct {
	patterns []string
	mu       sync.Mutex
	counts   map[string]int
}

func newLineCounter(patterns ...string) *lineCounter {
	return &lineCounter{patterns: patterns, counts: map[string]int{}}
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, pat := range l.patterns {
		l.counts[pat] += bytes.Count(p, []byte(pat))
	}
	return len(p), nil
}

func (l *lineCounter) count(pattern string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[pattern]
}

// startLeakGateway starts a gateway whose log is only counted.
func startLeakGateway(t *testing.T, lc *lineCounter, section, line string, extra ...string) *e2eGateway {
	t.Helper()
	return startGatewayLog(t, lc, &e2eLog{}, section, line, extra...)
}

// leakBaseline is the process state before the cycles.
type leakBaseline struct {
	goroutines int
	heap       uint64
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func takeBaseline() leakBaseline {
	heap := liveHeap()
	return leakBaseline{goroutines: runtime.NumGoroutine(), heap: heap}
}

// check waits (bounded by ctx) for the goroutines to come back to the
// baseline, then compares the live heap, and logs both.
func (b leakBaseline) check(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	for runtime.NumGoroutine() > b.goroutines+leakGoroutineSlack {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d before the cycles:\n%s", what, runtime.NumGoroutine(), b.goroutines,
				buf[:runtime.Stack(buf, true)])
		case <-time.After(50 * time.Millisecond): // goroutines end without an event to wait on
		}
	}
	heap := liveHeap()
	grown := int64(heap) - int64(b.heap)
	t.Logf("%s: goroutines %d -> %d, live heap %.1f -> %.1f MiB (%+.1f MiB, bound %d MiB)", what,
		b.goroutines, runtime.NumGoroutine(), float64(b.heap)/(1<<20), float64(heap)/(1<<20),
		float64(grown)/(1<<20), leakHeapBound>>20)
	require.LessOrEqual(t, grown, int64(leakHeapBound), "%s: the live heap grew by %d bytes", what, grown)
}

// runCycles runs n cycles, batch at a time, and fails on the first error.
func runCycles(t *testing.T, n, batch int, cycle func(i int) error) {
	t.Helper()
	sem := make(chan struct{}, batch)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := cycle(i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("cycle %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, first)
}

// leakCtx bounds a whole leak test, which runs longer than one e2e wait.
func leakCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rtspCycle connects to the demo, plays it until the first video packet,
// and disconnects (TEARDOWN and close).
func rtspCycle(ctx context.Context, url string) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	proto := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 10 * time.Second}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return err
	}
	got := make(chan struct{}, 1)
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, _ *rtp.Packet) {
		if m.Type == description.MediaTypeVideo {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no video packet: %w", ctx.Err())
	}
}

func TestLeakRTSP(t *testing.T) {
	ctx := leakCtx(t)
	g := startLeakGateway(t, newLineCounter(), "", "")
	require.NoError(t, rtspCycle(ctx, g.url("demo"))) // warm up pools and the GOP cache
	base := takeBaseline()
	runCycles(t, leakCycles, leakBatch, func(int) error { return rtspCycle(ctx, g.url("demo")) })
	base.check(t, ctx, fmt.Sprintf("%d RTSP cycles", leakCycles))
}

// whepSignal posts offer to the demo's WHEP endpoint and deletes the
// session it creates: the gateway builds and ends a PeerConnection, a hub
// path reference and the session's goroutines.
func whepSignal(ctx context.Context, client *http.Client, base, offer string) (answer, loc string, err error) {
	code, answer, loc, err := httpDo(ctx, client, http.MethodPost, base+"/demo/whep", "application/sdp", offer)
	if err != nil {
		return "", "", err
	}
	if code != http.StatusCreated {
		return "", "", fmt.Errorf("offer: %d %s", code, answer)
	}
	return answer, loc, nil
}

func whepDelete(ctx context.Context, client *http.Client, base, loc string) error {
	code, body, _, err := httpDo(ctx, client, http.MethodDelete, base+loc, "", "")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("DELETE %s: %d %s", loc, code, body)
	}
	return err
}

// whepCycle is a full viewer: a pion peer offers, connects (ICE, DTLS),
// waits for the first video packet and deletes its session.
func whepCycle(ctx context.Context, api *pwebrtc.API, client *http.Client, base string) error {
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	got := make(chan struct{}, 1)
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		if _, _, err := tr.ReadRTP(); err == nil && tr.Kind() == pwebrtc.RTPCodecTypeVideo {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	answer, loc, err := whepSignal(ctx, client, base, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	select {
	case <-got:
	case <-ctx.Done():
		return fmt.Errorf("no video packet: %w", ctx.Err())
	}
	return whepDelete(ctx, client, base, loc)
}

// httpDo runs one request and returns its status, body and Location.
func httpDo(ctx context.Context, client *http.Client, method, url, contentType, body string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location"), err
}

// TestLeakWHEP runs leakCycles WHEP sessions: every tenth a full viewer
// (ICE, DTLS, first video packet, DELETE), the others signalling only
// with one prepared offer (the gateway's PeerConnection, hub path and
// session goroutines are made and ended; no client peer is built, which
// would cost the test, not the gateway). Every connection is fresh.
func TestLeakWHEP(t *testing.T) {
	ctx := leakCtx(t)
	g := startLeakGateway(t, newLineCounter(), "webrtc", "offersPerSecond: 0")
	api := rtcPionAPI(t)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	base := "http://" + g.HTTPAddr().String()
	offer := rtcOffer(t, ctx, newWHEPViewer(t).pc)
	require.NoError(t, whepCycle(ctx, api, client, base))
	b := takeBaseline()
	runCycles(t, leakCycles, leakBatch, func(i int) error {
		if i%10 == 0 {
			return whepCycle(ctx, api, client, base)
		}
		_, loc, err := whepSignal(ctx, client, base, offer)
		if err == nil {
			err = whepDelete(ctx, client, base, loc)
		}
		return err
	})
	b.check(t, ctx, fmt.Sprintf("%d WHEP cycles (%d with media)", leakCycles, leakCycles/10))
}

// hlsCycle fetches the demo's playlist, then the media playlist it
// names, then the first media file that one names, each on a new
// connection (the client keeps none alive).
func hlsCycle(ctx context.Context, client *http.Client, base string) error {
	get := func(url string) (string, error) {
		code, body, _, err := httpDo(ctx, client, http.MethodGet, url, "", "")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET %s: %d %s", url, code, body)
		}
		return body, err
	}
	firstURI := func(playlist string) string {
		for _, line := range strings.Split(playlist, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "#EXT-X-MAP:URI=\""); ok {
				return strings.TrimSuffix(v, "\"")
			}
			if line != "" && !strings.HasPrefix(line, "#") {
				return line
			}
		}
		return ""
	}
	pl, err := get(base + "/demo/index.m3u8")
	if err != nil {
		return err
	}
	uri := firstURI(pl)
	if strings.HasSuffix(uri, ".m3u8") {
		if pl, err = get(base + "/demo/" + uri); err != nil {
			return err
		}
		uri = firstURI(pl)
	}
	if uri == "" {
		return fmt.Errorf("no media file in the playlist:\n%s", pl)
	}
	_, err = get(base + "/demo/" + uri)
	return err
}

// TestLeakHLS fetches the playlists and a media file leakCycles times,
// each on a new connection, from one muxer; then, a few times, lets the
// muxer close for being idle and starts it again with a fetch.
func TestLeakHLS(t *testing.T) {
	ctx := leakCtx(t)
	lc := newLineCounter("HLS muxer started", "HLS muxer closed")
	g := startLeakGateway(t, lc, "", "", "hls:\n  idleClose: 1s\n")
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	base := "http://" + g.HTTPAddr().String()
	require.NoError(t, hlsCycle(ctx, client, base))
	b := takeBaseline()
	runCycles(t, leakCycles, leakBatch, func(int) error { return hlsCycle(ctx, client, base) })
	const restarts = 3
	for i := 1; i <= restarts; i++ {
		waitCount(t, ctx, lc, i, "HLS muxer closed")
		require.NoError(t, hlsCycle(ctx, client, base))
		waitCount(t, ctx, lc, i+1, "HLS muxer started")
	}
	waitCount(t, ctx, lc, restarts+1, "HLS muxer closed")
	b.check(t, ctx, fmt.Sprintf("%d HLS fetch cycles and %d muxer restarts", leakCycles, restarts))
}

// waitCount waits until the gateway logged pattern n times.
func waitCount(t *testing.T, ctx context.Context, lc *lineCounter, n int, pattern string) {
	t.Helper()
	for lc.count(pattern) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d log lines with %q (have %d)", n, pattern, lc.count(pattern))
		case <-time.After(50 * time.Millisecond): // the log has no change notification
		}
	}
}
