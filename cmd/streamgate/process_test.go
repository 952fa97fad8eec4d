package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// procTimeout bounds each process test.
const procTimeout = 20 * time.Second

// shutdownBound is the contract: streamgate exits within a few seconds of
// SIGINT or SIGTERM (gateway.ShutdownTimeout is 5s).
const shutdownBound = 5 * time.Second

// The built binary runs like an operator runs it: it serves the demo on the
// configured ports, real clients read it, and SIGTERM or SIGINT stops it
// with exit code 0 within the shutdown bound, ending attached readers.
func TestProcess(t *testing.T) {
	for _, tool := range []string{"go", "ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	bin := streamgateBinary(t)

	t.Run("SIGTERM", func(t *testing.T) {
		ctx := procCtx(t)
		p := startWithConfig(t, ctx, bin)
		requireDemo(t, ctx, p.url("demo"))
		p.stop(t, syscall.SIGTERM)
	})

	t.Run("SIGINT with a reader attached", func(t *testing.T) {
		ctx := procCtx(t)
		p := startWithConfig(t, ctx, bin)
		ff := startProc(t, ctx, nil, "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
			"-i", p.url("demo"), "-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-")
		p.waitLine(t, ctx, `msg="reader playing"`)
		p.stop(t, syscall.SIGINT)
		// The reader sees the end of the stream and exits by itself.
		select {
		case <-ff.exited:
			t.Logf("ffmpeg exited after the gateway stopped: %v; stderr: %q", ff.err, strings.TrimSpace(ff.output()))
		case <-ctx.Done():
			t.Fatal("ffmpeg kept running after the gateway stopped")
		}
	})

	// `streamgate` with no -config serves the demo on :8554; tests never use
	// default ports, so the same run is made with every listener moved by
	// STREAMGATE_* variables, which checks the env naming rule end to end.
	t.Run("no config, env overrides", func(t *testing.T) {
		ctx := procCtx(t)
		var p *gatewayProc
		for attempt := 0; p == nil; attempt++ {
			rtsp, rtp := freeTCPPort(t), freeUDPPair(t)
			env := append(cleanEnv(),
				"STREAMGATE_RTSP_ADDRESS=127.0.0.1:"+strconv.Itoa(rtsp),
				"STREAMGATE_RTSP_RTPADDRESS=127.0.0.1:"+strconv.Itoa(rtp),
				"STREAMGATE_RTSP_RTCPADDRESS=127.0.0.1:"+strconv.Itoa(rtp+1),
				"STREAMGATE_RTSP_MULTICASTIPRANGE=",
				"STREAMGATE_HTTP_ADDRESS=127.0.0.1:0",
				"STREAMGATE_WEBRTC_ADDRESS=127.0.0.1:0",
			)
			p = tryStart(t, ctx, bin, env, rtsp, attempt)
		}
		requireDemo(t, ctx, p.url("demo"))
		p.stop(t, syscall.SIGTERM)
	})
}

func procCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	t.Cleanup(cancel)
	return ctx
}

// proc is a child process whose stderr (and stdout) lines are collected.
type proc struct {
	cmd    *exec.Cmd
	notify chan struct{}
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, set before exited is closed

	mu    sync.Mutex
	lines []string
}

// startProc starts name with args and env (nil: the test's environment);
// it is killed and waited for when the test ends.
func startProc(t *testing.T, ctx context.Context, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = time.Second
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		pr.Close()
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for an output line containing s and returns it; it fails
// the test if the process exits first.
func (p *proc) waitLine(t *testing.T, ctx context.Context, s string) string {
	t.Helper()
	line, err := p.awaitLine(ctx, s)
	require.NoError(t, err)
	return line
}

var errExited = errors.New("process exited")

func (p *proc) awaitLine(ctx context.Context, s string) (string, error) {
	for seen := 0; ; {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, s) {
				return l, nil
			}
		}
		select {
		case <-p.notify:
		case <-p.exited:
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				return "", fmt.Errorf("%w (%v) before printing %q", errExited, p.err, s)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("timed out waiting for %q", s)
		}
	}
}

// gatewayProc is a running streamgate.
type gatewayProc struct {
	*proc
	addr string // the RTSP address it reported
}

func (g *gatewayProc) url(path string) string { return "rtsp://" + g.addr + "/" + path }

var readyRe = regexp.MustCompile(`msg="RTSP listener ready".* address=(\S+)`)

// tryStart starts bin and waits for its RTSP listener; it returns nil when
// the port it was given was taken meanwhile (the caller retries), and fails
// the test on any other early exit.
func tryStart(t *testing.T, ctx context.Context, bin string, env []string, rtspPort, attempt int, args ...string) *gatewayProc {
	t.Helper()
	p := startProc(t, ctx, env, bin, args...)
	line, err := p.awaitLine(ctx, `msg="RTSP listener ready"`)
	if errors.Is(err, errExited) && strings.Contains(p.output(), "address already in use") && attempt < 3 {
		return nil
	}
	require.NoError(t, err, "streamgate output:\n%s", p.output())
	m := readyRe.FindStringSubmatch(line)
	require.NotNil(t, m, "ready line %q", line)
	require.Equal(t, "127.0.0.1:"+strconv.Itoa(rtspPort), m[1], "listens where it was told")
	return &gatewayProc{proc: p, addr: m[1]}
}

// startWithConfig runs bin with a config file on free test ports that lists the demo path.
func startWithConfig(t *testing.T, ctx context.Context, bin string) *gatewayProc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		rtsp, rtp := freeTCPPort(t), freeUDPPair(t)
		conf := writeFile(t, "streamgate.yml", fmt.Sprintf(`log: {level: info, format: text}
http:
  address: "127.0.0.1:0"
webrtc:
  address: "127.0.0.1:0"
rtsp:
  address: "127.0.0.1:%d"
  rtpAddress: "127.0.0.1:%d"
  rtcpAddress: "127.0.0.1:%d"
  multicastIPRange: ""
paths:
  demo:
    source: demo
`, rtsp, rtp, rtp+1))
		if p := tryStart(t, ctx, bin, cleanEnv(), rtsp, attempt, "-config", conf); p != nil {
			return p
		}
	}
}

// stop sends sig and requires exit code 0 within shutdownBound.
func (g *gatewayProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	start := time.Now()
	require.NoError(t, g.cmd.Process.Signal(sig))
	bound := time.NewTimer(shutdownBound)
	defer bound.Stop()
	select {
	case <-g.exited:
	case <-bound.C:
		t.Fatalf("streamgate still running %v after %v", shutdownBound, sig)
	}
	took := time.Since(start)
	t.Logf("shutdown after %v took %v", sig, took.Round(time.Millisecond))
	require.NoError(t, g.err, "exit status after %v", sig)
	require.Contains(t, g.output(), `msg="shutting down"`)
}

// requireDemo checks with ffprobe that url serves H.264 and AAC.
func requireDemo(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffprobe: %s", stderr.String())
	require.Equal(t, []string{"h264", "aac"}, strings.Fields(string(out)))
}

// cleanEnv is the test's environment without STREAMGATE_* variables.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "STREAMGATE_") {
			env = append(env, e)
		}
	}
	return env
}

// freeTCPPort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPair finds an even port p in 20000–60000 where p and p+1 are both
// free on 127.0.0.1, and releases them for the caller.
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := 20000 + 2*rand.IntN(20000)
		a, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	t.Fatal("no free UDP port pair found")
	return 0
}
