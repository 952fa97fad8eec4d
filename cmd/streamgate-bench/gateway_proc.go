package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gatewayReadyTimeout bounds the wait for a started gateway to listen.
const gatewayReadyTimeout = 60 * time.Second

// benchConfig is the gateway config of a -cmd run with the built-in camera:
// path pulls the camera over TCP all the time, and path/{n} pulls it on
// demand (one fresh pull and muxer per first-frame HLS sample). WebRTC is
// on only for the webrtc scenario, on 127.0.0.1 and -webrtc-port (or a
// free port).
func benchConfig(o *options, cameraURL string) (string, error) {
	rtspAddr, err := hostPort(o.rtspURL, "rtsp", "554")
	if err != nil {
		return "", fmt.Errorf("-rtsp-url: %w", err)
	}
	httpAddr, err := hostPort(o.httpURL, "http", "80")
	if err != nil {
		return "", fmt.Errorf("-http-url: %w", err)
	}
	host, _, _ := net.SplitHostPort(rtspAddr)
	webrtcAddr := ""
	if o.scenario == "webrtc" || o.scenario == "soak" {
		port := o.webrtcPort
		if port == 0 {
			if port, err = freeICEPort("127.0.0.1"); err != nil {
				return "", fmt.Errorf("a free WebRTC port: %w", err)
			}
		}
		webrtcAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	}
	return gatewayYAML(rtspAddr, httpAddr,
		net.JoinHostPort(host, fmt.Sprint(o.rtpPort)), net.JoinHostPort(host, fmt.Sprint(o.rtpPort+1)),
		webrtcAddr, o.path, cameraURL, o.part, o.segment, o.warmPaths), nil
}

// freeICEPort finds a port free for both UDP and TCP on host (the gateway
// binds its ICE port with both). The gateway binds it a moment later, so
// another program could take it first: the gateway would then fail to start.
func freeICEPort(host string) (int, error) {
	var lastErr error
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(host), Port: port})
		u.Close()
		if err != nil {
			lastErr = err
			continue
		}
		t.Close()
		return port, nil
	}
	return 0, lastErr
}

// gatewayYAML writes a streamgate config; empty rtp/rtcp addresses disable
// UDP, and an empty webrtcAddr disables WebRTC. warm > 0 adds always-on
// paths path-w0 … path-w{warm-1}: a source that is
// already up, for first-frame HLS samples that measure only a fresh muxer.
func gatewayYAML(rtspAddr, httpAddr, rtpAddr, rtcpAddr, webrtcAddr, path, cameraURL string, part, segment time.Duration, warm int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by streamgate-bench\nlog:\n  level: info\n")
	// Every client of the tool comes from one address: the session caps and
	// the per-address offer rate would measure the limits, not the gateway.
	fmt.Fprintf(&b, "rtsp:\n  address: %q\n  rtpAddress: %q\n  rtcpAddress: %q\n  multicastIPRange: \"\"\n  maxSessions: 0\n", rtspAddr, rtpAddr, rtcpAddr)
	fmt.Fprintf(&b, "http:\n  address: %q\n", httpAddr)
	// Unless WebRTC is measured, keep its ICE port out of the way.
	fmt.Fprintf(&b, "webrtc:\n  address: %q\n  maxSessions: 0\n  offersPerSecond: 0\n", webrtcAddr)
	fmt.Fprintf(&b, "hls:\n  segmentDuration: %s\n  partDuration: %s\n", segment, part)
	fmt.Fprintf(&b, "paths:\n  %q:\n    source: %s\n    sourceProtocol: tcp\n", path, cameraURL)
	fmt.Fprintf(&b, "  %q:\n    source: %s\n    sourceProtocol: tcp\n", path+"/{n}", cameraURL)
	for i := range warm {
		fmt.Fprintf(&b, "  %q:\n    source: %s\n    sourceProtocol: tcp\n", fmt.Sprintf("%s-w%d", path, i), cameraURL)
	}
	return b.String()
}

// gatewayProc is a gateway the tool starts and stops.
type gatewayProc struct {
	// Command is the command line; {config} is replaced by the config file.
	Command string
	// Config is the YAML to write to a temporary file ("" = none).
	Config string
	// Logger receives lifecycle logs.
	Logger *slog.Logger

	dir     string
	argv    []string
	cmd     *exec.Cmd
	pid     int
	logFile string
	exited  chan struct{}
	waitErr error
}

// Start writes the config, starts the command and waits until its RTSP
// and HTTP listeners answer.
func (g *gatewayProc) Start(ctx context.Context, o *options) error {
	argv, err := splitCommand(g.Command)
	if err != nil {
		return fmt.Errorf("-cmd: %w", err)
	}
	if len(argv) == 0 {
		return errors.New("-cmd is empty")
	}
	g.dir, err = os.MkdirTemp("", "streamgate-bench-")
	if err != nil {
		return err
	}
	if g.Config != "" {
		conf := filepath.Join(g.dir, "bench.yml")
		if err := os.WriteFile(conf, []byte(g.Config), 0o644); err != nil {
			return err
		}
		replaced := false
		var out []string
		for i, a := range argv {
			if !strings.Contains(a, "{config}") {
				out = append(out, a)
				continue
			}
			replaced = true
			if a == "{config}" && (i == 0 || (argv[i-1] != "-config" && argv[i-1] != "--config")) {
				out = append(out, "-config") // a bare {config} means the config file
			}
			out = append(out, strings.ReplaceAll(a, "{config}", conf))
		}
		argv = out
		if !replaced {
			if slices.Contains(argv, "-config") || slices.Contains(argv, "--config") {
				return errors.New("-cmd has its own -config while -camera generates one: use {config} in -cmd, or drop -camera")
			}
			argv = append(argv, "-config", conf)
		}
		g.Logger.Info("gateway config written", "file", conf)
	}
	g.argv = argv
	g.logFile = filepath.Join(g.dir, "gateway.log")
	logf, err := os.Create(g.logFile)
	if err != nil {
		return err
	}
	g.cmd = exec.Command(argv[0], argv[1:]...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	// A group of its own, so that Stop reaches a `go run` child too.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("-cmd: %w", err)
	}
	g.pid = g.cmd.Process.Pid
	g.exited = make(chan struct{})
	go func() {
		g.waitErr = g.cmd.Wait()
		logf.Close()
		close(g.exited)
	}()
	g.Logger.Info("gateway started", "pid", g.pid, "argv", strings.Join(argv, " "), "log", g.logFile)

	if err := g.waitReady(ctx, o); err != nil {
		g.Stop()
		return fmt.Errorf("gateway: %w; its log: %s\n%s", err, g.logFile, g.logTail())
	}
	if filepath.Base(argv[0]) == "go" {
		// `go run` builds and runs a child: measure the child, not the go tool.
		if child, ok := onlyChild(g.pid); ok {
			g.Logger.Warn("-cmd runs `go run`: measuring its child process; build the binary first for clean figures", "child", child)
			g.pid = child
		}
	}
	return nil
}

func (g *gatewayProc) waitReady(ctx context.Context, o *options) error {
	rtspAddr, err := hostPort(o.rtspURL, "rtsp", "554")
	if err != nil {
		return err
	}
	httpAddr, err := hostPort(o.httpURL, "http", "80")
	if err != nil {
		return err
	}
	d := newDialer(o.allowRemote)
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(gatewayReadyTimeout)
	for {
		select {
		case <-g.exited:
			return fmt.Errorf("exited before it was ready: %v", g.waitErr)
		default:
		}
		if ready(ctx, d, client, rtspAddr, "http://"+httpAddr+"/readyz") {
			// Another server on the same ports answers too: make sure ours
			// is the one still running.
			select {
			case <-g.exited:
				return fmt.Errorf("exited at start (is another server on %s or %s?): %v", rtspAddr, httpAddr, g.waitErr)
			case <-time.After(500 * time.Millisecond):
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s and %s after %s", rtspAddr, httpAddr, gatewayReadyTimeout)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func ready(ctx context.Context, d *net.Dialer, client *http.Client, rtspAddr, readyz string) bool {
	c, err := d.DialContext(ctx, "tcp", rtspAddr)
	if err != nil {
		return false
	}
	c.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID is the measured process.
func (g *gatewayProc) PID() int { return g.pid }

// CommandLine is the command as started, the config file substituted.
func (g *gatewayProc) CommandLine() string { return strings.Join(g.argv, " ") }

// LogFile is where the gateway's output goes.
func (g *gatewayProc) LogFile() string { return g.logFile }

// Stop sends SIGTERM to the process group it started, then SIGKILL after 10 s.
func (g *gatewayProc) Stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	pgid := g.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-g.exited:
		g.Logger.Info("gateway stopped", "exit", g.waitErr)
	case <-time.After(10 * time.Second):
		g.Logger.Warn("gateway did not stop within 10s of SIGTERM: killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-g.exited
	}
}

func (g *gatewayProc) logTail() string {
	data, _ := os.ReadFile(g.logFile)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// onlyChild returns the single child of pid, from /proc.
func onlyChild(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 1 {
		return 0, false
	}
	c, err := strconv.Atoi(f[0])
	return c, err == nil
}

// splitCommand splits a command line on spaces, honouring '…' and "…" quotes
// and backslash escapes outside single quotes. No other shell syntax.
func splitCommand(s string) ([]string, error) {
	var out []string
	var cur bytes.Buffer
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
