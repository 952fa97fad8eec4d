package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	hlsClients  = 50               // concurrent HLS viewers behind the cache
	rtspReaders = 5                // RTSP readers on the edge
	loadFor     = 10 * time.Second // how long the viewers watch
	pollEvery   = 500 * time.Millisecond
)

// buildStreamgate builds the real binary once for the test.
func buildStreamgate(t *testing.T) string {
	t.Helper()
	requireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "streamgate")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/streamgate")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	t.Logf("go build took %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// gatewayProc is a running streamgate with the addresses it bound.
type gatewayProc struct {
	*proc
	rtsp, http string
}

var (
	rtspReadyRe = regexp.MustCompile(`msg="RTSP listener ready".* address=(\S+)`)
	httpReadyRe = regexp.MustCompile(`msg="HTTP listener ready".* address=(\S+)`)
)

// startGateway runs bin with conf (listeners on 127.0.0.1:0, so no port can
// be taken meanwhile) and waits for both listeners.
func startGateway(t *testing.T, ctx context.Context, bin, name, conf string) *gatewayProc {
	t.Helper()
	file := writeFile(t, t.TempDir(), name+".yml", conf)
	p := startProc(t, cleanEnv(), bin, "-config", file)
	p.name = name
	m, err := p.awaitLine(ctx, rtspReadyRe)
	require.NoError(t, err, "%s output:\n%s", name, p.output())
	h, err := p.awaitLine(ctx, httpReadyRe)
	require.NoError(t, err, "%s output:\n%s", name, p.output())
	return &gatewayProc{proc: p, rtsp: m[1], http: h[1]}
}

// startNginx runs configs/nginx.conf in front of upstream on a free port.
func startNginx(t *testing.T, ctx context.Context, bin, upstream string) (*proc, string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		port := freeTCPPort(t)
		dir := t.TempDir()
		conf := nginxConfig(t, dir, port, upstream)
		p := startProc(t, nil, bin, "-p", dir, "-c", conf, "-g", "daemon off;")
		p.name = "nginx"
		addr := "127.0.0.1:" + strconv.Itoa(port)
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return p, addr
			}
			select {
			case <-p.exited:
				if strings.Contains(p.output(), "Address already in use") && attempt < 3 {
					break
				}
				t.Fatalf("nginx exited: %v\n%s", p.err, p.output())
			case <-ctx.Done():
				t.Fatalf("nginx not listening on %s: %s", addr, p.output())
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
	}
}

// The deployment of docs/DEPLOY.md on loopback: an origin serving a
// camera, an edge pulling it on demand, nginx (configs/nginx.conf) in front
// of the edge. Many HLS viewers through the cache cause one edge request
// per segment; several RTSP readers on the edge cause one pull at the origin.
func TestTopology(t *testing.T) {
	nginx := requireTool(t, "nginx")
	bin := buildStreamgate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	origin := startGateway(t, ctx, bin, "origin", `log: {level: info}
rtsp:
  address: "127.0.0.1:0"
  rtpAddress: ""
  rtcpAddress: ""
  multicastIPRange: ""
http:
  address: "127.0.0.1:0"
webrtc:
  address: "127.0.0.1:0"
paths:
  cams/demo:
    source: demo
`)
	edge := startGateway(t, ctx, bin, "edge", fmt.Sprintf(`log: {level: debug}
rtsp:
  address: "127.0.0.1:0"
  rtpAddress: ""
  rtcpAddress: ""
  multicastIPRange: ""
http:
  address: "127.0.0.1:0"
webrtc:
  address: "127.0.0.1:0"
pathDefaults:
  sourceProtocol: tcp
  hlsVariant: fmp4
paths:
  "cams/{name}":
    source: rtsp://%s/cams/{name}
  "ll/{name}":
    source: rtsp://%s/cams/{name}
    hlsVariant: lowLatency
`, origin.rtsp, origin.rtsp))
	_, cacheAddr := startNginx(t, ctx, nginx, edge.http)
	t.Logf("origin rtsp %s, edge rtsp %s http %s, cache %s", origin.rtsp, edge.rtsp, edge.http, cacheAddr)

	// Cold start: the RTSP readers and the first HLS request reach the edge
	// together; the path is pulled from the origin once.
	base := "http://" + cacheAddr + "/cams/demo/"
	client := &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: hlsClients, MaxConnsPerHost: hlsClients * 2},
	}
	defer client.CloseIdleConnections()
	readers := make([]*rtspReader, rtspReaders)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { readers[i] = dialRTSP(t, "rtsp://"+edge.rtsp+"/cams/demo") })
	}
	var master string
	wg.Go(func() {
		for ctx.Err() == nil {
			body, _, err := get(ctx, client, base+"index.m3u8")
			if err == nil {
				master = string(body)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	wg.Wait()
	require.NotEmpty(t, master, "no playlist through the cache")
	for i, r := range readers {
		require.NotNil(t, r, "RTSP reader %d", i)
	}
	video := videoPlaylist(master)
	require.NotEmpty(t, video, "no video playlist in %q", master)

	// The viewers.
	stats := make([]viewerStats, hlsClients)
	start := time.Now()
	deadline := start.Add(loadFor)
	for i := range stats {
		wg.Go(func() { stats[i] = watch(ctx, client, base, video, deadline) })
	}
	wg.Wait()
	t.Logf("%d viewers watched for %v", hlsClients, time.Since(start).Round(time.Millisecond))

	// The RTSP readers got media all along.
	for i, r := range readers {
		assert.Greater(t, r.packets.Load(), int64(100), "RTSP reader %d got %d packets", i, r.packets.Load())
		r.c.Close()
	}

	// What the viewers got.
	var tot viewerStats
	tot.cache = map[string]int{}
	clientFiles := map[string]bool{}
	for i, s := range stats {
		assert.Empty(t, s.errs, "viewer %d", i)
		assert.GreaterOrEqual(t, s.media, 5, "viewer %d downloaded %d media files", i, s.media)
		tot.media += s.media
		tot.playlists += s.playlists
		tot.bytes += s.bytes
		for k, v := range s.cache {
			tot.cache[k] += v
		}
		for f := range s.files {
			clientFiles[f] = true
		}
		tot.waits = append(tot.waits, s.waits...)
	}

	// What the edge served: one access-log line per request.
	edgeMedia := map[string]int{}
	var edgeFailed []string
	edgePlaylists := 0
	for _, l := range edge.snapshot() {
		m := httpLineRe.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(m[1], "/cams/demo/") {
			continue
		}
		file := strings.TrimPrefix(m[1], "/cams/demo/")
		switch {
		case mediaFileRe.MatchString(file) && m[2] != "200":
			// Error answers are not cached (configs/nginx.conf), so a
			// viewer asking again goes to the edge again: list them.
			edgeFailed = append(edgeFailed, file+" "+m[2])
		case mediaFileRe.MatchString(file):
			edgeMedia[file]++
		case strings.HasSuffix(file, ".m3u8"):
			edgePlaylists++
		}
	}
	var edgeFetches int
	for f, n := range edgeMedia {
		edgeFetches += n
		assert.LessOrEqual(t, n, 1, "the edge served %s %d times: the cache should have collapsed the requests", f, n)
	}
	for f := range clientFiles {
		assert.Contains(t, edgeMedia, f, "a viewer got %s, which the edge never served", f)
	}
	require.NotZero(t, edgeFetches)
	assert.LessOrEqual(t, len(edgeFailed), 2, "media requests the edge failed: %v", edgeFailed)
	if len(edgeFailed) > 0 {
		t.Logf("media requests the edge failed (not cached, asked again): %v", edgeFailed)
	}
	hits := tot.cache["HIT"] + tot.cache["UPDATING"] + tot.cache["STALE"]
	all := 0
	for _, v := range tot.cache {
		all += v
	}
	t.Logf("viewers: %d media files (%.1f MB), %d playlist requests; X-Cache-Status %v", tot.media, float64(tot.bytes)/1e6, tot.playlists, tot.cache)
	t.Logf("edge: %d media requests for %d files, %d playlist requests", edgeFetches, len(edgeMedia), edgePlaylists)
	t.Logf("cache: media %.1fx fan-out (%.1f%% of media requests served without the edge), overall hit ratio %.1f%%",
		float64(tot.media)/float64(edgeFetches), 100*(1-float64(edgeFetches)/float64(tot.media)), 100*float64(hits)/float64(all))
	slices.Sort(tot.waits)
	pct := func(q float64) time.Duration {
		return tot.waits[int(q*float64(len(tot.waits)-1))].Round(time.Millisecond)
	}
	t.Logf("media download time through the cache: p50 %v, p90 %v, p99 %v, max %v", pct(.5), pct(.9), pct(.99), pct(1))
	assert.GreaterOrEqual(t, tot.media, 10*edgeFetches, "the cache carries the viewers: downloads ≫ edge fetches")
	assert.Less(t, edgePlaylists*5, tot.playlists, "playlists are micro-cached")

	// One pull at the origin for everything the edge served, and every RTSP
	// reader on the edge.
	assert.Equal(t, rtspReaders, countLines(edge.snapshot(), `msg="reader playing"`, "path=cams/demo"), "RTSP readers playing at the edge")
	assert.Equal(t, 1, countLines(origin.snapshot(), `msg="reader playing"`, "path=cams/demo"), "RTSP sessions playing at the origin")

	t.Run("low-latency", func(t *testing.T) { lowLatency(t, ctx, client, cacheAddr, edge) })
}

const (
	llClients = 20
	llFor     = 5 * time.Second
)

// lowLatency measures LL-HLS through the cache: viewers follow the stream
// with blocking playlist reloads and download every new part. Each part
// must reach the edge once; the numbers show what the cache lock costs.
func lowLatency(t *testing.T, ctx context.Context, client *http.Client, cacheAddr string, edge *gatewayProc) {
	base := "http://" + cacheAddr + "/ll/demo/"
	var master []byte
	for ctx.Err() == nil {
		var err error
		if master, _, err = get(ctx, client, base+"index.m3u8"); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	video := videoPlaylist(string(master))
	require.NotEmpty(t, video, "no video playlist in %q", master)
	edgeBefore := len(edge.snapshot())

	type llStats struct {
		reloads, parts int
		reloadTimes    []time.Duration
		partTimes      []time.Duration
		errs           []string
	}
	stats := make([]llStats, llClients)
	deadline := time.Now().Add(llFor)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() {
			s := &stats[i]
			seen := map[string]bool{}
			query := ""
			for first := true; time.Now().Before(deadline) && ctx.Err() == nil; first = false {
				t0 := time.Now()
				body, _, err := get(ctx, client, base+video+query)
				if err != nil {
					if len(s.errs) < 5 {
						s.errs = append(s.errs, fmt.Sprintf("%s%s: %v", video, query, err))
					}
					query = ""
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if query != "" {
					s.reloads++
					s.reloadTimes = append(s.reloadTimes, time.Since(t0))
				}
				parts, msn, part := llParts(string(body))
				for j, p := range parts {
					if seen[p.uri] || (first && !p.trailing) {
						seen[p.uri] = true
						continue
					}
					seen[p.uri] = true
					t0 := time.Now()
					if _, _, err := get(ctx, client, base+p.uri); err != nil {
						if len(s.errs) < 5 {
							s.errs = append(s.errs, fmt.Sprintf("part %d %s: %v", j, p.uri, err))
						}
						continue
					}
					s.parts++
					s.partTimes = append(s.partTimes, time.Since(t0))
				}
				query = fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", msn, part)
			}
		})
	}
	wg.Wait()

	var reloads, parts int
	var reloadTimes, partTimes []time.Duration
	for i, s := range stats {
		assert.Empty(t, s.errs, "LL viewer %d", i)
		assert.Greater(t, s.parts, 5, "LL viewer %d downloaded %d parts", i, s.parts)
		reloads += s.reloads
		parts += s.parts
		reloadTimes = append(reloadTimes, s.reloadTimes...)
		partTimes = append(partTimes, s.partTimes...)
	}
	edgeParts := map[string]int{}
	edgePlaylists := 0
	for _, l := range edge.snapshot()[edgeBefore:] {
		m := httpLineRe.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(m[1], "/ll/demo/") {
			continue
		}
		file := strings.TrimPrefix(m[1], "/ll/demo/")
		switch {
		case mediaFileRe.MatchString(file):
			edgeParts[file]++
		case file == video:
			edgePlaylists++
		}
	}
	for f, n := range edgeParts {
		assert.LessOrEqual(t, n, 1, "the edge served %s %d times", f, n)
	}
	t.Logf("LL-HLS, %d viewers for %v: %d blocking reloads and %d part downloads by viewers; the edge saw %d playlist and %d part requests",
		llClients, llFor, reloads, parts, edgePlaylists, len(edgeParts))
	t.Logf("LL-HLS through the cache: blocking reload %s; part download %s", percentiles(reloadTimes), percentiles(partTimes))
	assert.Less(t, edgePlaylists*3, reloads, "blocking reloads are collapsed by the cache")
}

// llPart is one EXT-X-PART of a playlist; trailing parts belong to the
// segment in progress.
type llPart struct {
	uri      string
	trailing bool
}

var (
	partRe = regexp.MustCompile(`^#EXT-X-PART:.*URI="([^"]+)"`)
	seqRe  = regexp.MustCompile(`^#EXT-X-MEDIA-SEQUENCE:(\d+)`)
)

// llParts lists a LL-HLS media playlist's parts and the next part to ask
// for with a blocking reload (_HLS_msn, _HLS_part).
func llParts(pl string) (parts []llPart, msn, part int) {
	segs := 0
	trailing := 0
	for l := range strings.SplitSeq(pl, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case seqRe.MatchString(l):
			msn, _ = strconv.Atoi(seqRe.FindStringSubmatch(l)[1])
		case partRe.MatchString(l):
			parts = append(parts, llPart{uri: partRe.FindStringSubmatch(l)[1]})
			trailing++
		case l != "" && !strings.HasPrefix(l, "#"):
			segs++
			trailing = 0
		}
	}
	for i := len(parts) - trailing; i < len(parts); i++ {
		parts[i].trailing = true
	}
	return parts, msn + segs, trailing
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "(none)"
	}
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", q(.5), q(.9), q(.99), q(1))
}

var (
	httpLineRe  = regexp.MustCompile(`msg="http request" .*\bpath=(\S+) status=(\d+)`)
	mediaFileRe = regexp.MustCompile(`_(init\.mp4|seg\d+\.(mp4|ts)|part\d+\.mp4)$`)
)

func countLines(lines []string, subs ...string) int {
	n := 0
next:
	for _, l := range lines {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		n++
	}
	return n
}

// videoPlaylist picks the variant stream (the video) of a multivariant playlist.
func videoPlaylist(master string) string {
	next := false
	for l := range strings.SplitSeq(master, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#EXT-X-STREAM-INF") {
			next = true
			continue
		}
		if next && l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

var mapRe = regexp.MustCompile(`#EXT-X-MAP:.*URI="([^"]+)"`)

// mediaURIs lists the init section and the segments of a media playlist.
func mediaURIs(pl string) []string {
	var out []string
	for l := range strings.SplitSeq(pl, "\n") {
		l = strings.TrimSpace(l)
		if m := mapRe.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
			continue
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

type viewerStats struct {
	media, playlists int
	bytes            int64
	cache            map[string]int  // X-Cache-Status -> count
	waits            []time.Duration // how long each media download took
	files            map[string]bool
	errs             []string
}

// watch plays like a simple HLS client until deadline: it reloads the
// media playlist every pollEvery and downloads every file it has not yet.
func watch(ctx context.Context, c *http.Client, base, playlist string, deadline time.Time) viewerStats {
	s := viewerStats{cache: map[string]int{}, files: map[string]bool{}}
	fail := func(format string, args ...any) {
		if len(s.errs) < 5 {
			s.errs = append(s.errs, fmt.Sprintf(format, args...))
		}
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		body, h, err := get(ctx, c, base+playlist)
		s.playlists++
		if err != nil {
			fail("%s: %v", playlist, err)
			time.Sleep(pollEvery)
			continue
		}
		s.cache[h.Get("X-Cache-Status")]++
		for _, f := range mediaURIs(string(body)) {
			if s.files[f] {
				continue
			}
			t0 := time.Now()
			b, h, err := get(ctx, c, base+f)
			s.waits = append(s.waits, time.Since(t0))
			if err != nil {
				fail("%s: %v", f, err)
				continue
			}
			s.files[f] = true
			s.media++
			s.bytes += int64(len(b))
			s.cache[h.Get("X-Cache-Status")]++
		}
		time.Sleep(pollEvery)
	}
	return s
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("status %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	return body, res.Header, nil
}

// rtspReader is a gortsplib client playing every track over TCP.
type rtspReader struct {
	c       *gortsplib.Client
	packets atomic.Int64
}

func dialRTSP(t *testing.T, rawURL string) *rtspReader {
	u, err := base.ParseURL(rawURL)
	if !assert.NoError(t, err) {
		return nil
	}
	tcp := gortsplib.ProtocolTCP
	r := &rtspReader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second}}
	if !assert.NoError(t, r.c.Start()) {
		return nil
	}
	t.Cleanup(r.c.Close)
	desc, _, err := r.c.Describe(u)
	if !assert.NoError(t, err, "DESCRIBE %s", rawURL) {
		return nil
	}
	if !assert.NoError(t, r.c.SetupAll(desc.BaseURL, desc.Medias)) {
		return nil
	}
	r.c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { r.packets.Add(1) })
	if _, err := r.c.Play(nil); !assert.NoError(t, err) {
		return nil
	}
	return r
}
