package rtspserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/conn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// exchange is one request a client sent through rtspTap and the status the
// server answered it with.
type exchange struct {
	method base.Method
	status base.StatusCode
}

// rtspTap is a TCP proxy in front of the server that reads both directions
// of every connection as RTSP, so a test sees exactly which requests a
// third-party client sent and what the server answered, without a hook in
// the server.
type rtspTap struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu        sync.Mutex
	exchanges []tapResponse
}

func startTap(t *testing.T, target string) *rtspTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tp := &rtspTap{ln: ln, target: target}
	tp.wg.Add(1)
	go tp.accept()
	t.Cleanup(func() {
		ln.Close()
		tp.wg.Wait()
	})
	return tp
}

func (tp *rtspTap) host() string { return tp.ln.Addr().String() }

func (tp *rtspTap) accept() {
	defer tp.wg.Done()
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", tp.target)
		if err != nil {
			c.Close()
			continue
		}
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			tp.serve(c, s)
		}()
	}
}

// serve copies both ways; each direction is also parsed as RTSP. Requests
// and responses are matched by CSeq when seen() is called, since a response
// may be parsed before the request it answers.
func (tp *rtspTap) serve(c, s net.Conn) {
	methods := make(map[string]base.Method) // CSeq → method, guarded by tp.mu
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn, parse func(*conn.Conn) error) {
		defer wg.Done()
		pr, pw := io.Pipe()
		parsed := make(chan struct{})
		go func() {
			defer close(parsed)
			rc := conn.NewConn(bufio.NewReader(pr), io.Discard)
			for parse(rc) == nil {
			}
			io.Copy(io.Discard, pr) //nolint:errcheck // drain after a parse error
		}()
		io.Copy(dst, io.TeeReader(src, pw)) //nolint:errcheck // ends with either side
		pw.Close()
		<-parsed
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go pipe(s, c, func(rc *conn.Conn) error {
		v, err := rc.Read()
		if req, ok := v.(*base.Request); ok {
			tp.mu.Lock()
			methods[strings.Join(req.Header["CSeq"], "")] = req.Method
			tp.mu.Unlock()
		}
		return err
	})
	go pipe(c, s, func(rc *conn.Conn) error {
		v, err := rc.Read()
		if res, ok := v.(*base.Response); ok {
			tp.mu.Lock()
			tp.exchanges = append(tp.exchanges, tapResponse{
				methods: methods, cseq: strings.Join(res.Header["CSeq"], ""), status: res.StatusCode,
			})
			tp.mu.Unlock()
		}
		return err
	})
	wg.Wait()
}

// tapResponse is a response waiting to be matched with its request.
type tapResponse struct {
	methods map[string]base.Method
	cseq    string
	status  base.StatusCode
}

// seen lists the exchanges so far, in the order of the responses.
func (tp *rtspTap) seen() []exchange {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]exchange, len(tp.exchanges))
	for i, r := range tp.exchanges {
		out[i] = exchange{method: r.methods[r.cseq], status: r.status}
	}
	return out
}

// gstEvent is one JSON line of testdata/gst_pause.py.
type gstEvent struct {
	Event       string `json:"event"`
	Buffers     int    `json:"buffers"`
	Settled     int    `json:"settled"`
	End         int    `json:"end"`
	During      int    `json:"during"`
	Window      float64
	StateChange string `json:"state_change"`
	Message     string `json:"message"`
}

// TestGStreamerPause plays a path with rtspsrc over TCP, pauses it (rtspsrc
// sends PAUSE), checks that no buffer arrives while paused, and resumes it
// (rtspsrc sends PLAY on the same session). A tap between GStreamer and the
// server checks that PAUSE and both PLAYs were answered 200.
func TestGStreamerPause(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import gi; gi.require_version('Gst', '1.0')").Run(); err != nil {
		t.Skipf("%s has no GStreamer bindings: %v", python, err)
	}
	env := newEnv(t, envConfig{paths: map[string]hub.PathConf{"gst": {AcceptPublishers: true}}})
	startFFmpegPublisher(t, env, "gst")
	tap := startTap(t, env.host)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, python, "testdata/gst_pause.py", "rtsp://"+tap.host()+"/gst", "2.0", "0.3")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	require.NoError(t, cmd.Start())
	waited := false
	t.Cleanup(func() {
		cancel()
		if !waited {
			cmd.Wait() //nolint:errcheck // killed on purpose
		}
	})

	events := make(map[string]gstEvent)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev gstEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Logf("gst_pause.py: %s", sc.Text())
			continue
		}
		t.Logf("gst_pause.py: %s", sc.Text())
		events[ev.Event] = ev
		if ev.Event == "paused" {
			// The server detached the session when it answered PAUSE.
			assert.Equal(t, 1, env.logs.count("reader paused"), "server-side detach on PAUSE")
		}
	}
	waited = true
	err = cmd.Wait()
	require.NoError(t, err, "gst_pause.py failed; stderr:\n%s", stderr.String())
	require.NotContains(t, events, "error")

	paused := events["paused"]
	require.Contains(t, events, "paused")
	assert.Zero(t, paused.During, "no buffers may arrive while paused (%d at settle, %d at the end)", paused.Settled, paused.End)
	require.Contains(t, events, "resumed")
	assert.Greater(t, events["resumed"].Buffers, paused.End)

	// rtspsrc sends PLAY, PAUSE, PLAY for the steps, then PAUSE again
	// on its way to NULL before TEARDOWN.
	var seq []exchange
	for _, ex := range tap.seen() {
		if ex.method == base.Pause || ex.method == base.Play {
			seq = append(seq, ex)
		}
	}
	t.Logf("rtspsrc requests and answers: %v", tap.seen())
	require.GreaterOrEqual(t, len(seq), 3)
	assert.Equal(t, []exchange{
		{base.Play, base.StatusOK}, {base.Pause, base.StatusOK}, {base.Play, base.StatusOK},
	}, seq[:3], "PLAY, PAUSE and the second PLAY answered 200")
	assert.Equal(t, 2, env.logs.count("reader playing"), "the second PLAY re-attached the same session")
	env.logs.waitCount(t, 1, "session closed")
	assert.Equal(t, 1, env.logs.count("session closed"), "one session for the whole run")
}
