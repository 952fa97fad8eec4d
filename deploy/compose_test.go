package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// composeFile is the part of docker-compose.yml the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build       any      `yaml:"build"`       // "dir" or {context, dockerfile}
	Image       string   `yaml:"image"`       //
	Command     any      `yaml:"command"`     // string or list
	Volumes     []string `yaml:"volumes"`     // short syntax
	Ports       []any    `yaml:"ports"`       // short syntax or long maps
	Environment any      `yaml:"environment"` // list of K=V or map
	Networks    any      `yaml:"networks"`    // list or map with aliases
	NetworkMode string   `yaml:"network_mode"`
}

// portProto is a port number with its protocol ("tcp" or "udp").
type portProto struct {
	Port  int
	Proto string
}

func (p portProto) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Proto) }

// published is one published port: host side and container side.
type published struct {
	Host      int
	Container portProto
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(data, &cf), "docker-compose.yml")
	require.NotEmpty(t, cf.Services)
	return cf
}

func (s composeService) buildContext() (string, string, bool) {
	switch b := s.Build.(type) {
	case string:
		return b, "Dockerfile", true
	case map[string]any:
		ctx, _ := b["context"].(string)
		df, _ := b["dockerfile"].(string)
		if ctx == "" {
			ctx = "."
		}
		if df == "" {
			df = "Dockerfile"
		}
		return ctx, df, true
	}
	return "", "", false
}

func (s composeService) command() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, a := range c {
			out = append(out, fmt.Sprint(a))
		}
		return out
	}
	return nil
}

func (s composeService) env() []string {
	switch e := s.Environment.(type) {
	case []any:
		var out []string
		for _, v := range e {
			out = append(out, fmt.Sprint(v))
		}
		return out
	case map[string]any:
		var out []string
		for k, v := range e {
			out = append(out, k+"="+fmt.Sprint(v))
		}
		return out
	}
	return nil
}

func (s composeService) aliases() []string {
	var out []string
	if m, ok := s.Networks.(map[string]any); ok {
		for _, n := range m {
			if nm, ok := n.(map[string]any); ok {
				if al, ok := nm["aliases"].([]any); ok {
					for _, a := range al {
						out = append(out, fmt.Sprint(a))
					}
				}
			}
		}
	}
	return out
}

// volume is a short-syntax bind mount.
type volume struct{ Host, Container string }

func (s composeService) volumes(t *testing.T) []volume {
	t.Helper()
	var out []volume
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, "volume %q: expected host:container[:mode]", v)
		out = append(out, volume{Host: parts[0], Container: parts[1]})
	}
	return out
}

// ports parses the service's published ports: "[ip:]host:container[/proto]"
// (ranges allowed) or the long syntax.
func (s composeService) ports(t *testing.T) []published {
	t.Helper()
	var out []published
	for _, p := range s.Ports {
		switch v := p.(type) {
		case map[string]any:
			proto, _ := v["protocol"].(string)
			if proto == "" {
				proto = "tcp"
			}
			target, err := strconv.Atoi(fmt.Sprint(v["target"]))
			require.NoError(t, err, "port %v", v)
			host, err := strconv.Atoi(fmt.Sprint(v["published"]))
			require.NoError(t, err, "port %v", v)
			out = append(out, published{Host: host, Container: portProto{target, proto}})
		default:
			spec := fmt.Sprint(v)
			proto := "tcp"
			if i := strings.LastIndex(spec, "/"); i >= 0 {
				spec, proto = spec[:i], spec[i+1:]
			}
			parts := strings.Split(spec, ":")
			cont := parts[len(parts)-1]
			host := cont
			if len(parts) >= 2 {
				host = parts[len(parts)-2]
			}
			hs, he := portRange(t, host)
			cs, ce := portRange(t, cont)
			require.Equal(t, he-hs, ce-cs, "port %q: host and container ranges differ in size", p)
			for i := 0; i <= ce-cs; i++ {
				out = append(out, published{Host: hs + i, Container: portProto{cs + i, proto}})
			}
		}
	}
	return out
}

func portRange(t *testing.T, s string) (int, int) {
	t.Helper()
	a, b, isRange := strings.Cut(s, "-")
	start, err := strconv.Atoi(a)
	require.NoError(t, err, "port %q", s)
	if !isRange {
		return start, start
	}
	end, err := strconv.Atoi(b)
	require.NoError(t, err, "port %q", s)
	return start, end
}

// dockerfile is what the checks need from the Dockerfile.
type dockerfile struct {
	GoImage string // the golang builder image tag, ARGs substituted
	Expose  map[portProto]bool
	Cmd     []string
	Entry   []string
	Copies  map[string]string // destination in the image -> source in the context
	User    string            // of the last stage
}

func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	df := dockerfile{Expose: map[portProto]bool{}, Copies: map[string]string{}}
	args := map[string]string{}
	// Join continuation lines, drop comments.
	var lines []string
	cur := ""
	for l := range strings.SplitSeq(string(data), "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "#") || (tl == "" && cur == "") {
			continue
		}
		if s, ok := strings.CutSuffix(tl, "\\"); ok {
			cur += s + " "
			continue
		}
		lines = append(lines, cur+tl)
		cur = ""
	}
	subst := func(s string) string {
		return os.Expand(s, func(k string) string { return args[k] })
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			for _, a := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(a, "="); ok {
					args[k] = v
				}
			}
		case "FROM":
			for f := range strings.FieldsSeq(subst(rest)) {
				if strings.HasPrefix(f, "golang:") {
					df.GoImage = f
				}
			}
			df.User = ""
		case "EXPOSE":
			for _, e := range strings.Fields(rest) {
				port, proto, ok := strings.Cut(e, "/")
				if !ok {
					proto = "tcp"
				}
				n, err := strconv.Atoi(port)
				require.NoError(t, err, "EXPOSE %q", e)
				df.Expose[portProto{n, proto}] = true
			}
		case "CMD", "ENTRYPOINT":
			var v []string
			require.NoError(t, json.Unmarshal([]byte(rest), &v), "%s must use the exec (JSON) form: %s", instr, rest)
			if strings.EqualFold(instr, "CMD") {
				df.Cmd = v
			} else {
				df.Entry = v
			}
		case "COPY":
			f := strings.Fields(rest)
			if len(f) == 2 && !strings.HasPrefix(f[0], "--") {
				df.Copies[f[1]] = f[0]
			}
		case "USER":
			df.User = rest
		}
	}
	return df
}

// configArg returns the -config argument of a streamgate command line.
func configArg(args []string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "-config="); ok {
			return v, true
		}
		if (a == "-config" || a == "--config") && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// gatewayService is a compose service running the streamgate image, with
// the config it runs.
type gatewayService struct {
	name     string
	svc      composeService
	confFile string // on the host, relative to the repo root
	conf     *gateway.Config
	webrtc   string // webrtc.address, from the raw YAML
}

// listens is what the service's config binds: the container ports a
// publish may target.
func (g *gatewayService) listens(t *testing.T) map[portProto]string {
	t.Helper()
	c := g.conf
	m := map[portProto]string{
		{portOf(t, c.RTSP.Address), "tcp"}: "rtsp.address",
		{portOf(t, c.HTTP.Address), "tcp"}: "http.address",
		{portOf(t, g.webrtc), "udp"}:       "webrtc.address (ICE UDP)",
		{portOf(t, g.webrtc), "tcp"}:       "webrtc.address (ICE-TCP)",
	}
	if c.RTSP.UDPEnabled() {
		m[portProto{portOf(t, c.RTSP.RTPAddress), "udp"}] = "rtsp.rtpAddress"
		m[portProto{portOf(t, c.RTSP.RTCPAddress), "udp"}] = "rtsp.rtcpAddress"
	}
	if c.RTSP.TLSEnabled() {
		m[portProto{portOf(t, c.RTSP.RTSPSAddress), "tcp"}] = "rtsp.rtspsAddress"
	}
	return m
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, "address %q", addr)
	return n
}

// hostPath maps a file inside a container to the repo: through the
// service's bind mounts first, then the Dockerfile's COPYs.
func hostPath(t *testing.T, svc composeService, df dockerfile, inContainer string) (string, bool) {
	t.Helper()
	best := volume{}
	for _, v := range svc.volumes(t) {
		if (inContainer == v.Container || strings.HasPrefix(inContainer, v.Container+"/")) && len(v.Container) > len(best.Container) {
			best = v
		}
	}
	if best.Container != "" {
		return filepath.Clean(best.Host + strings.TrimPrefix(inContainer, best.Container)), true
	}
	if src, ok := df.Copies[inContainer]; ok {
		return filepath.Clean(src), true
	}
	return "", false
}

// webrtcAddress reads webrtc.address from the raw YAML and env, ":8189"
// when absent: the gateway's parser may not know the section yet.
func webrtcAddress(t *testing.T, data []byte, env []string) string {
	t.Helper()
	addr := ":8189"
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal(data, &raw))
	if w, ok := raw["webrtc"].(map[string]any); ok {
		if a, ok := w["address"].(string); ok {
			addr = a
		}
	}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "STREAMGATE_WEBRTC_ADDRESS="); ok {
			addr = v
		}
	}
	return addr
}

// gatewayServices returns the services that run the image built from the
// repo, each with its parsed config.
func gatewayServices(t *testing.T, cf composeFile, df dockerfile) map[string]*gatewayService {
	t.Helper()
	root := repoRoot(t)
	images := map[string]bool{}
	for _, s := range cf.Services {
		if ctx, _, ok := s.buildContext(); ok && filepath.Clean(ctx) == "." && s.Image != "" {
			images[s.Image] = true
		}
	}
	out := map[string]*gatewayService{}
	for name, s := range cf.Services {
		ctx, _, built := s.buildContext()
		if !(built && filepath.Clean(ctx) == ".") && !images[s.Image] {
			continue
		}
		args := s.command()
		if args == nil {
			args = df.Cmd
		}
		inContainer, ok := configArg(args)
		require.True(t, ok, "service %s: runs streamgate without -config (command %q); the checks need a config file", name, args)
		file, ok := hostPath(t, s, df, inContainer)
		require.True(t, ok, "service %s: config %s is neither mounted nor copied into the image", name, inContainer)
		data, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err, "service %s: config %s (%s in the container)", name, file, inContainer)
		env := s.env()
		conf, err := gateway.ParseConfig(file, data, env)
		require.NoError(t, err, "service %s: config %s", name, file)
		out[name] = &gatewayService{name: name, svc: s, confFile: file, conf: conf, webrtc: webrtcAddress(t, data, env)}
	}
	return out
}

// The compose file, the Dockerfile and the configs they use agree: files
// exist, published ports are ports the mounted config listens on (with the
// same number outside where the protocol announces it), the image exposes
// them, sources name services of the compose file, and the cache proxies to
// the gateway's HTTP port.
func TestCompose(t *testing.T) {
	root := repoRoot(t)
	cf := loadCompose(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	names := map[string]string{} // service name or alias -> service
	for name, s := range cf.Services {
		names[name] = name
		for _, a := range s.aliases() {
			names[a] = name
		}
		if ctx, dfile, ok := s.buildContext(); ok {
			st, err := os.Stat(filepath.Join(root, ctx))
			if assert.NoError(t, err, "service %s: build context", name) {
				assert.True(t, st.IsDir(), "service %s: build context %s is not a directory", name, ctx)
			}
			_, err = os.Stat(filepath.Join(root, ctx, dfile))
			assert.NoError(t, err, "service %s: Dockerfile", name)
		}
		for _, v := range s.volumes(t) {
			if !strings.HasPrefix(v.Host, ".") && !strings.HasPrefix(v.Host, "/") {
				continue // a named volume
			}
			_, err := os.Stat(filepath.Join(root, v.Host))
			assert.NoError(t, err, "service %s: mounted %s", name, v.Host)
		}
		assert.Empty(t, s.NetworkMode, "service %s: the file publishes ports; network_mode is documented as the alternative", name)
	}

	gws := gatewayServices(t, cf, df)
	require.Contains(t, gws, "streamgate", "the gateway service is called streamgate")
	require.Contains(t, gws, "camera", "the simulated camera is a streamgate serving its demo")

	for name, g := range gws {
		t.Logf("service %s runs %s", name, g.confFile)
		listens := g.listens(t)
		for _, p := range g.svc.ports(t) {
			what, ok := listens[p.Container]
			if !assert.True(t, ok, "service %s publishes %s, which %s does not listen on (it listens on %v)", name, p.Container, g.confFile, keys(listens)) {
				continue
			}
			assert.True(t, df.Expose[p.Container], "service %s publishes %s (%s) but the Dockerfile does not EXPOSE it", name, p.Container, what)
			// RTP/RTCP ports are sent to clients in SETUP, ICE ports in
			// candidates: the number outside must be the number inside.
			if p.Container.Proto == "udp" || strings.HasPrefix(what, "webrtc") {
				assert.Equal(t, p.Container.Port, p.Host, "service %s: %s (%s) must be published on the same host port", name, p.Container, what)
			}
		}
		// Every RTSP source points at a service of this file, on its RTSP
		// port, at a path that service has.
		for _, key := range g.conf.PathOrder {
			pc := g.conf.Paths[key]
			if !pc.Pulled() {
				continue
			}
			src := strings.NewReplacer("{name}", "demo").Replace(pc.Source)
			u, err := url.Parse(src)
			if !assert.NoError(t, err, "service %s: paths.%s.source", name, key) {
				continue
			}
			if net.ParseIP(u.Hostname()) != nil {
				continue // a camera's address
			}
			target, ok := names[u.Hostname()]
			if !assert.True(t, ok, "service %s: paths.%s.source %s: host %q is no service or alias of docker-compose.yml", name, key, pc.Source, u.Hostname()) {
				continue
			}
			tg, ok := gws[target]
			if !assert.True(t, ok, "service %s: paths.%s.source: %s does not run streamgate", name, key, target) {
				continue
			}
			assert.Equal(t, strconv.Itoa(portOf(t, tg.conf.RTSP.Address)), u.Port(), "service %s: paths.%s.source %s: port of %s's RTSP listener", name, key, pc.Source, target)
			_, ok = tg.conf.MatchPath(strings.TrimPrefix(u.Path, "/"))
			assert.True(t, ok, "service %s: paths.%s.source %s: %s (%s) has no path %s", name, key, pc.Source, target, tg.confFile, u.Path)
		}
	}

	// The gateway publishes RTSP, the RTP/RTCP pair, HTTP and WebRTC (UDP and TCP).
	g := gws["streamgate"]
	var pub []portProto
	for _, p := range g.svc.ports(t) {
		pub = append(pub, p.Container)
	}
	for p, what := range g.listens(t) {
		if strings.HasPrefix(what, "rtsp.rtsps") {
			continue
		}
		assert.Contains(t, pub, p, "service streamgate does not publish %s (%s of %s)", p, what, g.confFile)
	}

	// The cache listens where it is published and proxies to a gateway's HTTP port.
	cache, ok := cf.Services["cache"]
	require.True(t, ok, "no service cache")
	require.True(t, strings.HasPrefix(cache.Image, "nginx"), "the cache is nginx")
	confFile, ok := hostPath(t, cache, dockerfile{}, "/etc/nginx/nginx.conf")
	require.True(t, ok, "the cache mounts no /etc/nginx/nginx.conf")
	data, err := os.ReadFile(filepath.Join(root, confFile))
	require.NoError(t, err)
	conf := string(data)
	listen := regexp.MustCompile(`(?m)^\s*listen\s+(\d+)\s*;`).FindAllStringSubmatch(conf, -1)
	require.Len(t, listen, 1, "%s: one `listen PORT;`", confFile)
	var cachePorts []int
	for _, p := range cache.ports(t) {
		cachePorts = append(cachePorts, p.Container.Port)
	}
	assert.Equal(t, []int{atoi(t, listen[0][1])}, cachePorts, "the cache publishes the port nginx listens on")
	up := regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+):(\d+)\b`).FindAllStringSubmatch(conf, -1)
	require.NotEmpty(t, up, "%s: no upstream server", confFile)
	for _, m := range up {
		target, ok := gws[names[m[1]]]
		if assert.True(t, ok, "%s: upstream %s is no streamgate service", confFile, m[1]) {
			assert.Equal(t, portOf(t, target.conf.HTTP.Address), atoi(t, m[2]), "%s: upstream %s: port of %s's http.address", confFile, m[1], target.name)
		}
	}

	t.Run("docker-compose config", func(t *testing.T) {
		bin := requireTool(t, "docker-compose")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-f", "docker-compose.yml", "--profile", "edge", "config", "-q")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "docker-compose config: %s", out)
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func keys(m map[portProto]string) []string {
	var out []string
	for k := range m {
		out = append(out, k.String())
	}
	slices.Sort(out)
	return out
}

// Every config under configs/ parses with the gateway's own parser; the
// origin and edge files have the shape docs/DEPLOY.md describes.
func TestConfigs(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "configs", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	confs := map[string]*gateway.Config{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		c, err := gateway.ParseConfig(filepath.Base(f), data, nil)
		require.NoError(t, err)
		confs[filepath.Base(f)] = c
	}
	edge := confs["edge.yml"]
	require.NotNil(t, edge, "configs/edge.yml")
	p, ok := edge.MatchPath("cams/lobby")
	require.True(t, ok, "the edge matches any cams/<name>")
	assert.True(t, p.OnDemand, "the edge pulls on demand")
	assert.Equal(t, "rtsp://origin:8554/cams/lobby", p.Source)
	p, ok = edge.MatchPath("demo")
	require.True(t, ok, "the edge passes demo through")
	assert.True(t, p.Pulled() && p.OnDemand, "demo on the edge is pulled on demand")

	origin := confs["origin.yml"]
	require.NotNil(t, origin, "configs/origin.yml")
	p, ok = origin.MatchPath("cams/demo")
	require.True(t, ok, "the origin serves cams/demo")
	assert.False(t, p.OnDemand, "the origin keeps its camera connected")
	_, ok = origin.MatchPath("demo")
	assert.True(t, ok, "the origin serves demo for the edge's passthrough")
}

// The Dockerfile builds a static binary with a new enough Go, runs as
// non-root with the default config, and .dockerignore keeps everything the
// build needs.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	text := string(data)

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(gomod))
	require.NotNil(t, m, "go.mod has no go line")
	img := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(df.GoImage)
	require.NotNil(t, img, "builder image %q: expected golang:MAJOR.MINOR", df.GoImage)
	assert.GreaterOrEqual(t, atoi(t, img[1])*1000+atoi(t, img[2]), atoi(t, m[1])*1000+atoi(t, m[2]),
		"builder %s is older than go.mod's go %s.%s", df.GoImage, m[1], m[2])
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/streamgate"} {
		assert.Contains(t, text, s)
	}
	assert.Equal(t, []string{"/streamgate"}, df.Entry)
	assert.NotEmpty(t, df.User, "the runtime stage sets USER")
	assert.NotContains(t, []string{"root", "0", "0:0"}, df.User)
	for _, p := range []string{"8554/tcp", "8000/udp", "8001/udp", "8888/tcp", "8189/udp", "8189/tcp", "8322/tcp"} {
		port, proto, _ := strings.Cut(p, "/")
		assert.True(t, df.Expose[portProto{atoi(t, port), proto}], "EXPOSE %s", p)
	}
	conf, ok := configArg(df.Cmd)
	require.True(t, ok, "CMD passes -config")
	src, ok := df.Copies[conf]
	require.True(t, ok, "CMD's config %s is copied into the image", conf)
	data, err = os.ReadFile(filepath.Join(root, src))
	require.NoError(t, err)
	c, err := gateway.ParseConfig(src, data, nil)
	require.NoError(t, err)
	_, ok = c.MatchPath(gateway.DemoPathName)
	assert.True(t, ok, "the image's default config serves the demo (the compose camera relies on it)")

	// .dockerignore must not drop go.mod, go.sum, a source file of the
	// binary, an embedded file or a COPY source.
	ign, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	var patterns []string
	sc := bufio.NewScanner(strings.NewReader(string(ign)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(l, "!"), ".dockerignore: exceptions are not checked here")
		patterns = append(patterns, strings.TrimPrefix(path.Clean(l), "/"))
	}
	needed := []string{"go.mod", "go.sum"}
	for _, src := range df.Copies {
		if !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "--") && src != "." {
			needed = append(needed, src)
		}
	}
	for _, dir := range []string{"cmd", "gateway", "ingest", "hls", "web", "webrtc", "internal"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			needed = append(needed, filepath.ToSlash(rel))
			return nil
		})
	}
	for _, f := range needed {
		for _, pat := range patterns {
			assert.False(t, ignored(pat, f), ".dockerignore pattern %q excludes %s, which the image build needs", pat, f)
		}
	}
}

// ignored reports whether a .dockerignore pattern excludes file: the
// pattern matches the file or one of its parent directories.
func ignored(pattern, file string) bool {
	parts := strings.Split(file, "/")
	for i := 1; i <= len(parts); i++ {
		if ok, _ := path.Match(pattern, strings.Join(parts[:i], "/")); ok {
			return true
		}
	}
	return false
}

// configs/nginx.conf is valid for the nginx the tests run (nginx -t), with
// the test's port, upstream and paths substituted.
func TestNginxConfig(t *testing.T) {
	bin := requireTool(t, "nginx")
	dir := t.TempDir()
	conf := nginxConfig(t, dir, 8080, "127.0.0.1:8888")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-p", dir, "-c", conf).CombinedOutput()
	require.NoError(t, err, "nginx -t: %s", out)
	t.Logf("nginx -t: %s", strings.TrimSpace(string(out)))
}
