// Command streamgate-bench loads a streamgate gateway and measures it: RTSP
// readers (loss, latency, CPU per reader), the time a new viewer waits for
// its first picture, HLS viewers (requests, errors, LL-HLS latency, CPU per
// viewer) and WebRTC viewers over WHEP (loss, latency, first keyframe, CPU
// and memory per viewer). It can run a built-in test camera and start the gateway
// itself. It talks only to loopback unless given -allow-remote.
//
//	streamgate-bench -scenario rtsp -readers 200 -duration 30s -camera -cmd "/tmp/sg {config}"
//	streamgate-bench -scenario first-frame -samples 20 -pid 1234
//	streamgate-bench -scenario hls -readers 100 -json hls.json -pid 1234
//	streamgate-bench -scenario webrtc -readers 100 -camera -cmd "/tmp/sg {config}"
//	streamgate-bench -scenario soak -readers 30 -camera -cmd "/tmp/sg {config}"
//
// See docs/BENCHMARKS.md for the method and results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Bounds of the command line: every load loop is bounded in count and time.
const (
	maxDuration = 10 * time.Minute
	maxReaders  = 2000
	maxSamples  = 500
	maxSettle   = time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	scenario, rtspURL, httpURL, path, samplePath, transport   string
	readers, samples, pid, gop, udpBuffer, rtpPort, warmPaths int
	webrtcPort                                                int
	duration, settle, connectTimeout, part, segment, jitter   time.Duration
	soakInterval, dropEvery                                   time.Duration
	cmd, cameraAddr, cameraClip, jsonFile, logLevel           string
	camera, allowRemote                                       bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("streamgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "", "what to measure: rtsp, first-frame, hls, webrtc or soak (required)")
	fs.StringVar(&o.rtspURL, "rtsp-url", "rtsp://127.0.0.1:8554/{path}", "RTSP URL `template` of the gateway; {path} is replaced")
	fs.StringVar(&o.httpURL, "http-url", "http://127.0.0.1:8888/{path}/", "HTTP URL `template` of a path's folder; {path} is replaced")
	fs.StringVar(&o.path, "path", "bench", "the gateway path to read")
	fs.StringVar(&o.samplePath, "sample-path", "{path}/{n}", "first-frame: path `template` of each HLS sample ({n} is unique per run and sample, {i} is the sample index), so each sample gets a fresh muxer")
	fs.DurationVar(&o.jitter, "sample-jitter", 2*time.Second, "first-frame: largest random pause between HLS samples (at least the camera's GOP, so samples do not lock onto its phase)")
	fs.IntVar(&o.warmPaths, "warm-paths", 0, "also write this many always-on paths {path}-w0, {path}-w1 … into the generated config (first-frame with -sample-path '{path}-w{i}': a fresh muxer on a running source)")
	fs.IntVar(&o.rtpPort, "rtp-port", 8000, "rtsp.rtpAddress port written into the generated config (RTCP uses the next one)")
	fs.IntVar(&o.webrtcPort, "webrtc-port", 0, "webrtc with -cmd -camera: ICE port (UDP and TCP) of the generated config, on 127.0.0.1 (0 = a free one)")
	fs.IntVar(&o.udpBuffer, "udp-buffer", 0, "receive buffer `bytes` of each UDP reader's sockets (0 = OS default, capped by net.core.rmem_max)")
	fs.StringVar(&o.transport, "transport", "tcp", "RTSP transport: tcp or udp")
	fs.IntVar(&o.readers, "readers", 10, "rtsp: RTSP readers; hls: HLS viewers; webrtc: WHEP viewers")
	fs.IntVar(&o.samples, "samples", 20, "first-frame: sequential new readers (and as many HLS samples)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured window (at most 10m; soak: defaults to 10m, at most 4h)")
	fs.DurationVar(&o.soakInterval, "soak-interval", defaultSoakInterval, "soak: time between samples of the gateway")
	fs.DurationVar(&o.dropEvery, "soak-drop-every", defaultSoakDropEvery, "soak: the built-in camera ends the gateway's pull this often (0 = never)")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after the clients connected, before the window (catch-up bursts end)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 20*time.Second, "how long a client retries while the path comes up")
	fs.IntVar(&o.pid, "pid", 0, "`PID` of the gateway, for its CPU and memory (Linux /proc)")
	fs.StringVar(&o.cmd, "cmd", "", "start the gateway with this `command line`, measure it and stop it at the end; {config} is replaced by the generated config file (with -camera; appended as -config FILE when absent)")
	fs.BoolVar(&o.camera, "camera", false, "run the built-in test camera (720p30 H.264, 4 Mbit/s, every frame stamped) for the gateway to pull")
	fs.StringVar(&o.cameraAddr, "camera-addr", "127.0.0.1:0", "RTSP listener of the built-in camera")
	fs.StringVar(&o.cameraClip, "camera-clip", "ffmpeg", "camera clip: ffmpeg (generated once, cached) or demo (streamgate's 640x360 demo clip)")
	fs.IntVar(&o.gop, "gop", 30, "keyframe interval of the camera clip in frames (30 = 1 s)")
	fs.DurationVar(&o.part, "part-duration", 200*time.Millisecond, "hls.partDuration written into the generated config")
	fs.DurationVar(&o.segment, "segment-duration", time.Second, "hls.segmentDuration written into the generated config")
	fs.StringVar(&o.jsonFile, "json", "", "also write the figures to this JSON `file`")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level of the tool: debug, info, warn, error")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow targets that are not loopback (load only what you own)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.scenario == "soak" {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "duration" })
		if !set {
			o.duration = defaultSoakDuration
		}
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	if !slices.Contains([]string{"rtsp", "first-frame", "hls", "webrtc", "soak"}, o.scenario) {
		errs = append(errs, fmt.Errorf("-scenario %q: want rtsp, first-frame, hls, webrtc or soak", o.scenario))
	}
	if o.webrtcPort < 0 || o.webrtcPort > 65535 || (o.webrtcPort != 0 && o.webrtcPort < 1024) {
		errs = append(errs, fmt.Errorf("-webrtc-port %d: want 0 (a free port) or 1024 to 65535", o.webrtcPort))
	}
	maxD := maxDuration
	if o.scenario == "soak" {
		maxD = maxSoakDuration
		if o.soakInterval < time.Second || o.soakInterval > o.duration/(2*soakWindow+1) {
			errs = append(errs, fmt.Errorf("-soak-interval %s: want at least 1s and at most a seventh of -duration", o.soakInterval))
		}
		if o.dropEvery < 0 {
			errs = append(errs, fmt.Errorf("-soak-drop-every %s: want 0 (never) or more", o.dropEvery))
		}
	}
	if o.duration <= 0 || o.duration > maxD {
		errs = append(errs, fmt.Errorf("-duration %s: want more than 0 and at most %s", o.duration, maxD))
	}
	if o.settle < 0 || o.settle > maxSettle {
		errs = append(errs, fmt.Errorf("-settle %s: want 0 to %s", o.settle, maxSettle))
	}
	if o.connectTimeout <= 0 || o.connectTimeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("-connect-timeout %s: want more than 0 and at most 2m", o.connectTimeout))
	}
	if o.readers < 1 || o.readers > maxReaders {
		errs = append(errs, fmt.Errorf("-readers %d: want 1 to %d", o.readers, maxReaders))
	}
	if o.samples < 1 || o.samples > maxSamples {
		errs = append(errs, fmt.Errorf("-samples %d: want 1 to %d", o.samples, maxSamples))
	}
	if o.rtpPort < 1024 || o.rtpPort > 65534 || o.rtpPort%2 != 0 {
		errs = append(errs, fmt.Errorf("-rtp-port %d: want an even port from 1024 to 65534", o.rtpPort))
	}
	if o.udpBuffer < 0 || o.udpBuffer > 64<<20 {
		errs = append(errs, fmt.Errorf("-udp-buffer %d: want 0 to 64 MiB", o.udpBuffer))
	}
	if o.jitter < 0 || o.jitter > time.Minute {
		errs = append(errs, fmt.Errorf("-sample-jitter %s: want 0 to 1m", o.jitter))
	}
	if o.transport != "tcp" && o.transport != "udp" {
		errs = append(errs, fmt.Errorf("-transport %q: want tcp or udp", o.transport))
	}
	if o.pid != 0 && o.cmd != "" {
		errs = append(errs, errors.New("-pid and -cmd exclude each other"))
	}
	if o.gop < 1 || o.gop > 600 {
		errs = append(errs, fmt.Errorf("-gop %d: want 1 to 600 frames", o.gop))
	}
	if o.cameraClip != "ffmpeg" && o.cameraClip != "demo" {
		errs = append(errs, fmt.Errorf("-camera-clip %q: want ffmpeg or demo", o.cameraClip))
	}
	for _, t := range []struct{ flag, v string }{{"-rtsp-url", o.rtspURL}, {"-http-url", o.httpURL}} {
		if !strings.Contains(t.v, "{path}") {
			errs = append(errs, fmt.Errorf("%s %q: the template needs {path}", t.flag, t.v))
		}
	}
	if !strings.Contains(o.samplePath, "{n}") && !strings.Contains(o.samplePath, "{i}") {
		errs = append(errs, fmt.Errorf("-sample-path %q: the template needs {n} (unique per run and sample) or {i} (the sample index)", o.samplePath))
	}
	if o.warmPaths < 0 || o.warmPaths > maxSamples {
		errs = append(errs, fmt.Errorf("-warm-paths %d: want 0 to %d", o.warmPaths, maxSamples))
	}
	return errors.Join(errs...)
}

// totalBudget bounds a whole run, whatever happens.
func (o *options) totalBudget() time.Duration {
	d := o.duration + o.settle + 2*o.connectTimeout + 2*time.Minute
	if o.scenario == "first-frame" {
		d += time.Duration(o.samples) * (45*time.Second + o.jitter)
	}
	return d
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamgate-bench:", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel))
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.totalBudget())
	defer cancel()

	rep, err := execute(ctx, o, logger)
	if err != nil && ctx.Err() != nil {
		// Say why the run ended early: a signal, or the whole-run budget.
		err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
	}
	if rep != nil {
		if werr := rep.writeTable(stdout); werr != nil && err == nil {
			err = werr
		}
		if o.jsonFile != "" {
			if werr := rep.writeJSON(o.jsonFile); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamgate-bench:", err)
		return 1
	}
	return 0
}

// execute sets up the camera and gateway the options ask for and runs the scenario.
func execute(ctx context.Context, o *options, logger *slog.Logger) (*Report, error) {
	// The WHEP endpoint is under the HTTP URL: checked again by the scenario.
	for _, u := range []string{o.rtspURL, o.httpURL, o.httpURL + "whep"} {
		if err := checkLoopbackURL(ctx, strings.ReplaceAll(u, "{path}", o.path), o.allowRemote); err != nil {
			return nil, err
		}
	}
	b := &bench{
		RTSPURL: o.rtspURL, HTTPURL: o.httpURL, Path: o.path, SamplePath: o.samplePath,
		SampleJitter: o.jitter, UDPBuffer: o.udpBuffer, Transport: o.transport, Readers: o.readers, Samples: o.samples,
		Duration: o.duration, Settle: o.settle, ConnectTimeout: o.connectTimeout,
		SoakInterval: o.soakInterval, DropEvery: o.dropEvery,
		Logger: logger, Params: map[string]string{}, allowRemote: o.allowRemote,
	}
	b.dialer = newDialer(o.allowRemote)

	var cam *Camera
	if o.camera {
		host, _, err := net.SplitHostPort(o.cameraAddr)
		if err != nil {
			return nil, fmt.Errorf("-camera-addr %q: %w", o.cameraAddr, err)
		}
		if !o.allowRemote {
			if err := checkLoopbackHost(ctx, host); err != nil {
				return nil, fmt.Errorf("-camera-addr: %w", err)
			}
		}
		cam = &Camera{Address: o.cameraAddr, Clip: o.cameraClip, GOP: o.gop, Logger: logger}
		if err := cam.Start(); err != nil {
			return nil, err
		}
		defer cam.Close()
		b.Camera = cam
		b.Params["camera"] = cam.URL() + " (" + cam.Description() + ")"
		logger.Info("camera ready", "url", cam.URL(), "stream", cam.Description())
	}

	switch {
	case o.cmd != "":
		gw := &gatewayProc{Command: o.cmd, Logger: logger}
		if cam != nil {
			conf, err := benchConfig(o, cam.URL())
			if err != nil {
				return nil, err
			}
			gw.Config = conf
		}
		if err := gw.Start(ctx, o); err != nil {
			return nil, err
		}
		defer gw.Stop()
		b.Proc = &procWatch{PID: gw.PID()}
		b.Params["gateway"] = fmt.Sprintf("%s (pid %d, log %s)", gw.CommandLine(), gw.PID(), gw.LogFile())
	case o.pid != 0:
		b.Proc = &procWatch{PID: o.pid}
		b.Params["gateway"] = fmt.Sprintf("pid %d", o.pid)
		if cam != nil {
			logger.Info("point the gateway at the camera", "path", o.path, "source", cam.URL(), "pattern", o.path+"/{n}")
		}
	default:
		if cam != nil {
			logger.Info("point the gateway at the camera", "path", o.path, "source", cam.URL(), "pattern", o.path+"/{n}")
		}
	}
	if b.Proc != nil {
		if _, err := b.Proc.sample(); err != nil {
			return nil, err
		}
	}
	return b.run(ctx, o.scenario)
}

// bench runs the scenarios against one gateway.
type bench struct {
	// RTSPURL and HTTPURL are templates with {path}.
	RTSPURL, HTTPURL string
	// Path is the path read by rtsp, hls and the RTSP half of first-frame.
	Path string
	// SamplePath is the template ({path}, {n}) of first-frame's HLS samples.
	SamplePath string
	// SampleJitter is the largest random pause between first-frame HLS
	// samples; make it at least the camera's GOP.
	SampleJitter time.Duration
	// UDPBuffer is the socket receive buffer of UDP readers; 0 = the OS default.
	UDPBuffer int
	// Transport is tcp or udp.
	Transport string
	// Readers is the number of RTSP readers or HLS viewers.
	Readers int
	// Samples is the number of first-frame samples of each kind.
	Samples int
	// Duration is the measured window; Settle the wait before it.
	Duration, Settle time.Duration
	// ConnectTimeout bounds retries while a path comes up.
	ConnectTimeout time.Duration
	// SoakInterval is the time between soak samples; DropEvery how often
	// the built-in camera ends the gateway's pull during a soak (0 = never).
	SoakInterval, DropEvery time.Duration
	// Camera is the built-in camera when it runs, for its trouble counters.
	Camera *Camera
	// Proc reads the gateway's CPU and RSS; nil leaves those figures out.
	Proc *procWatch
	// Params go into every report.
	Params map[string]string
	// Logger receives progress and trouble.
	Logger *slog.Logger

	dialer      *net.Dialer
	allowRemote bool
}

func (b *bench) run(ctx context.Context, scenario string) (*Report, error) {
	b.Logger.Info("running", "scenario", scenario, "readers", b.Readers, "duration", b.Duration)
	switch scenario {
	case "rtsp":
		return b.runRTSP(ctx)
	case "hls":
		return b.runHLS(ctx)
	case "webrtc":
		return b.runWebRTC(ctx)
	case "soak":
		return b.runSoak(ctx)
	case "first-frame":
		rep := b.newReport("first-frame")
		rep.Params["samples"] = fmt.Sprint(b.Samples)
		if err := b.firstKeyframes(ctx, rep); err != nil {
			return rep, err
		}
		return rep, b.firstSegments(ctx, rep)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

func (b *bench) newReport(scenario string) *Report {
	r := &Report{Scenario: scenario, Started: time.Now(), Params: map[string]string{}}
	for k, v := range b.Params {
		r.Params[k] = v
	}
	r.Params["rtsp-url"] = b.rtspURLFor(b.Path)
	r.Params["http-url"] = b.httpURLFor(b.Path)
	if scenario != "first-frame" {
		r.Params["duration"] = b.Duration.String()
	}
	return r
}

// cameraTrouble snapshots the camera's counters (zero without a camera).
func (b *bench) cameraTrouble() (drops, stalls uint64) {
	if b.Camera == nil {
		return 0, 0
	}
	return b.Camera.Trouble()
}

// addCameraTrouble reports what went wrong upstream of the gateway in the window.
func (b *bench) addCameraTrouble(rep *Report, d0, s0 uint64) {
	if b.Camera == nil {
		return
	}
	d1, s1 := b.Camera.Trouble()
	rep.add("camera packets dropped toward the gateway", float64(d1-d0), "packets")
	rep.add("camera stalls (bench host starved)", float64(s1-s0), "")
	if d1 > d0 || s1 > s0 {
		rep.warn("the camera dropped packets or stalled: loss and latency include trouble upstream of the gateway")
	}
}

func (b *bench) rtspURLFor(path string) string { return strings.ReplaceAll(b.RTSPURL, "{path}", path) }
func (b *bench) httpURLFor(path string) string { return strings.ReplaceAll(b.HTTPURL, "{path}", path) }

// selfSample reads this process (camera and clients share the host with the gateway).
func (b *bench) selfSample() (procSample, error) {
	return (&procWatch{PID: os.Getpid()}).sample()
}

func (b *bench) procSample() (procSample, error) {
	if b.Proc == nil {
		return procSample{}, nil
	}
	return b.Proc.sample()
}

// hostPort returns the host:port of a URL template.
func hostPort(template, scheme, defPort string) (string, error) {
	u, err := url.Parse(strings.ReplaceAll(template, "{path}", "x"))
	if err != nil {
		return "", err
	}
	if u.Scheme != scheme {
		return "", fmt.Errorf("%q: want a %s:// URL", template, scheme)
	}
	port := u.Port()
	if port == "" {
		port = defPort
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return percentile(s, 50)
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Min(v)
}

// finite maps NaN and infinities to 0 (JSON has no NaN).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
