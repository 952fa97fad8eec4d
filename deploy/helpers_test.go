package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module root, where the deployment files live.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "go.mod"))
	require.NoError(t, err, "the deploy package must sit directly under the module root")
	return dir
}

// inCI reports whether the tests run in CI, where missing tools are failures.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireTool returns the path of a command-line tool; when it is missing
// the test skips, or fails under CI=true.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not installed (scripts/install-test-deps.sh installs it)", name)
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// proc is a child process whose output lines are collected.
type proc struct {
	name   string
	cmd    *exec.Cmd
	notify chan struct{}
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, set before exited is closed

	mu    sync.Mutex
	lines []string
}

// startProc starts name with args and env (nil: the test's environment) in
// a process group of its own. When the test ends it gets SIGTERM, then
// SIGKILL (for the whole group) if it has not exited within 5 s.
func startProc(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{name: filepath.Base(name), cmd: cmd, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
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
		p.stop()
		if t.Failed() {
			t.Logf("%s output (last 60 lines):\n%s", p.name, p.tail(60))
		}
	})
	return p
}

// stop ends the process (SIGTERM, then SIGKILL to its group after 5 s) and
// waits for it.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

func (p *proc) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *proc) output() string { return strings.Join(p.snapshot(), "\n") }

func (p *proc) tail(n int) string {
	l := p.snapshot()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

var errExited = errors.New("process exited")

// awaitLine waits for an output line matching re and returns its submatches.
func (p *proc) awaitLine(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for seen := 0; ; {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m, nil
			}
		}
		select {
		case <-p.notify:
		case <-p.exited:
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				return nil, fmt.Errorf("%s: %w (%v) before printing %q", p.name, errExited, p.err, re)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: timed out waiting for %q", p.name, re)
		}
	}
}

// freeTCPPort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// nginxConfig rewrites configs/nginx.conf for a test run: it listens on
// 127.0.0.1:listenPort, proxies to upstream (host:port), keeps its pid,
// logs and cache under dir, and logs errors to stderr. It fails the test
// when a line it rewrites is no longer in the file, so the file and the
// tests stay in step.
func nginxConfig(t testing.TB, dir string, listenPort int, upstream string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "nginx.conf"))
	require.NoError(t, err)
	conf := string(data)
	user := "" // nginx ignores `user` when not root
	if os.Geteuid() == 0 {
		user = "user root;" // the temp dir is private to root
	}
	for _, r := range []struct{ old, new string }{
		{"user nginx;", user},
		{"listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", listenPort)},
		{"server streamgate:8888;", "server " + upstream + ";"},
		{"error_log /var/log/nginx/error.log warn;", "error_log stderr warn;"},
		{"/var/run/nginx.pid", filepath.Join(dir, "nginx.pid")},
		{"/var/log/nginx/", dir + "/log/"},
		{"/var/cache/nginx/", dir + "/cache/"},
	} {
		require.Contains(t, conf, r.old, "configs/nginx.conf no longer has %q; update deploy/helpers_test.go", r.old)
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	for _, sub := range []string{"log", "cache"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	return writeFile(t, dir, "nginx.conf", conf)
}
