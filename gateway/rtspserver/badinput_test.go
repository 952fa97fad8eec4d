package rtspserver

import (
	"encoding/base64"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

const (
	testUser = "viewer"
	testPass = "s3cret"
)

// announceBody is the SDP a raw publisher announces, with explicit controls.
func announceBody(t testing.TB) []byte {
	t.Helper()
	d := avDesc(testSPS)
	d.Medias[0].Control = "trackID=0"
	d.Medias[1].Control = "trackID=1"
	b, err := d.Marshal()
	require.NoError(t, err)
	return b
}

// requireClosedOr400 accepts either a 400 response or a connection the
// server closed without answering.
func requireClosedOr400(t *testing.T, rc *rawConn) string {
	t.Helper()
	res, err := rc.readResponse()
	if err != nil {
		// The server must close the connection, not leave it hanging
		// until our deadline.
		require.NotContains(t, err.Error(), "timeout", "the server must answer or close")
		return "connection closed (" + err.Error() + ")"
	}
	require.Equal(t, base.StatusBadRequest, res.StatusCode)
	return strconv.Itoa(int(res.StatusCode))
}

// TestBadInput sends malformed and refused requests while a reader of the
// same server keeps receiving packets: after each case its packet count must
// still rise.
func TestBadInput(t *testing.T) {
	env := newEnv(t, envConfig{
		paths: map[string]hub.PathConf{
			"live":   {AcceptPublishers: true},
			"rec":    {AcceptPublishers: true},
			"nopub":  {HasSource: true, OnDemand: true, Extra: &synthConf{gop: 10, fps: 25}},
			"secret": {HasSource: true, OnDemand: true, Extra: &synthConf{gop: 10, fps: 25}},
		},
		credentials: func(path string) (read, publish Credentials) {
			if path == "secret" {
				return Credentials{User: testUser, Pass: testPass}, Credentials{User: "admin", Pass: "admin"}
			}
			return Credentials{}, Credentials{}
		},
	})
	pub, err := startPublisher(t, env.url("live"), pubConfig{gop: 25})
	require.NoError(t, err)
	pub.pace(25)
	pub.waitFrames(t, 2)
	watcher := startReader(t, env.url("live"), gortsplib.ProtocolTCP)
	watcher.waitCount(t, 10)

	cases := []struct {
		name string
		run  func(t *testing.T) string // returns what the server answered, for the log
	}{
		{"garbage bytes, then a request", func(t *testing.T) string {
			// gortsplib skips bytes that cannot start an RTSP message and
			// resynchronises on the next request: the connection survives.
			rc := dialRaw(t, env.host)
			_, err := rc.nc.Write([]byte("\x00\x01\x02\xff garbage \x7f\r\nnot rtsp at all\r\n\r\n"))
			require.NoError(t, err)
			res := rc.mustDo(t, base.Options, env.url("live"), nil, nil)
			require.Equal(t, base.StatusOK, res.StatusCode)
			return "garbage skipped, then OPTIONS " + strconv.Itoa(int(res.StatusCode))
		}},
		{"garbage that looks like a response", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			_, err := rc.nc.Write([]byte("RT\x00\x01 nonsense\r\n\r\n"))
			require.NoError(t, err)
			return requireClosedOr400(t, rc)
		}},
		{"1 MB header", func(t *testing.T) string {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rc := dialRaw(t, env.host)
			big := "OPTIONS " + env.url("live") + " RTSP/1.0\r\nCSeq: 1\r\nX-Big: " +
				strings.Repeat("a", 1<<20) + "\r\n\r\n"
			writeErr := make(chan error, 1)
			go func() {
				_, err := io.WriteString(rc.nc, big)
				writeErr <- err
			}()
			got := requireClosedOr400(t, rc)
			// The write ends with the connection (a reset) or completes.
			waitFor(t, writeErr, "the 1 MB write to end")
			runtime.ReadMemStats(&after)
			grown := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, grown, uint64(64<<20), "the server must not buffer a huge header")
			t.Logf("allocated %d KiB in the whole process while the 1 MB header was refused", grown>>10)
			return got
		}},
		{"unknown method FOO", func(t *testing.T) string {
			// A method whose first two letters start no RTSP method is
			// skipped as noise until "RTSP/1.0", which is then read as a
			// malformed response: gortsplib closes the connection unanswered.
			rc := dialRaw(t, env.host)
			_, err := rc.do(base.Method("FOO"), env.url("live"), nil, nil)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "timeout", "the server must close, not hang")
			return "connection closed, no response (" + err.Error() + ")"
		}},
		{"unknown method REGISTER", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Method("REGISTER"), env.url("live"), nil, nil)
			require.Equal(t, base.StatusNotImplemented, res.StatusCode)
			return strconv.Itoa(int(res.StatusCode))
		}},
		{"no credentials", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Describe, env.url("secret"), nil, nil)
			require.Equal(t, base.StatusUnauthorized, res.StatusCode)
			require.NotEmpty(t, res.Header["WWW-Authenticate"], "a 401 must say how to authenticate")
			return strconv.Itoa(int(res.StatusCode)) + " " + strings.Join(res.Header["WWW-Authenticate"], " | ")
		}},
		{"wrong password", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res, err := rc.do(base.Describe, env.url("secret"), base.Header{
				"Authorization": base.HeaderValue{basicAuth(testUser, "wrong")},
			}, nil)
			if err != nil {
				return "connection closed (" + err.Error() + ")"
			}
			require.Equal(t, base.StatusUnauthorized, res.StatusCode)
			return strconv.Itoa(int(res.StatusCode))
		}},
		{"right credentials, Basic", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Describe, env.url("secret"), base.Header{
				"Authorization": base.HeaderValue{basicAuth(testUser, testPass)},
			}, nil)
			require.Equal(t, base.StatusOK, res.StatusCode)
			return strconv.Itoa(int(res.StatusCode))
		}},
		{"right credentials, Digest (gortsplib client)", func(t *testing.T) string {
			u := "rtsp://" + testUser + ":" + testPass + "@" + env.host + "/secret"
			r := startReader(t, u, gortsplib.ProtocolTCP)
			r.waitCount(t, 5)
			require.Equal(t, "Digest", r.authUsed.Load(), "gortsplib picks Digest when offered")
			return "200 with Digest, packets flow"
		}},
		{"publish credentials are not read credentials", func(t *testing.T) string {
			_, err := startPublisher(t, "rtsp://"+testUser+":"+testPass+"@"+env.host+"/secret", pubConfig{})
			require.Error(t, err)
			require.Contains(t, err.Error(), "401")
			return err.Error()
		}},
		{"SETUP of a missing track", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Setup, env.url("live")+"/trackID=9", base.Header{
				"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"},
			}, nil)
			require.Equal(t, base.StatusBadRequest, res.StatusCode)
			// gortsplib ends a connection whose request failed with an error.
			_, err := rc.do(base.Options, env.url("live"), nil, nil)
			require.Error(t, err, "the connection is closed after the 400")
			// A fresh connection sets up the real track.
			rc = dialRaw(t, env.host)
			res = rc.mustDo(t, base.Setup, env.url("live")+"/trackID=0", base.Header{
				"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"},
			}, nil)
			require.Equal(t, base.StatusOK, res.StatusCode)
			return "400 and connection closed; trackID=0 on a new connection: 200"
		}},
		{"PLAY without SETUP", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Play, env.url("live"), nil, nil)
			require.Equal(t, base.StatusSessionNotFound, res.StatusCode, "no Session header")
			rc = dialRaw(t, env.host)
			res2 := rc.mustDo(t, base.Play, env.url("live"), base.Header{"Session": base.HeaderValue{"deadbeef"}}, nil)
			require.Equal(t, base.StatusSessionNotFound, res2.StatusCode, "unknown session id")
			return "no session: " + strconv.Itoa(int(res.StatusCode)) + "; unknown session: " + strconv.Itoa(int(res2.StatusCode))
		}},
		{"PLAY on a recording session", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Announce, env.url("rec"), base.Header{
				"Content-Type": base.HeaderValue{"application/sdp"},
			}, announceBody(t))
			require.Equal(t, base.StatusOK, res.StatusCode)
			var ses string
			for i := range 2 {
				h := base.Header{"Transport": base.HeaderValue{
					"RTP/AVP/TCP;unicast;mode=record;interleaved=" + []string{"0-1", "2-3"}[i]}}
				if ses != "" {
					h["Session"] = base.HeaderValue{ses}
				}
				res = rc.mustDo(t, base.Setup, env.url("rec")+"/trackID="+[]string{"0", "1"}[i], h, nil)
				require.Equal(t, base.StatusOK, res.StatusCode)
				ses = sessionID(t, res)
			}
			res = rc.mustDo(t, base.Record, env.url("rec"), base.Header{"Session": base.HeaderValue{ses}}, nil)
			require.Equal(t, base.StatusOK, res.StatusCode)
			res = rc.mustDo(t, base.Play, env.url("rec"), base.Header{"Session": base.HeaderValue{ses}}, nil)
			require.Equal(t, base.StatusMethodNotValidInThisState, res.StatusCode)
			return strconv.Itoa(int(res.StatusCode))
		}},
		{"DESCRIBE of an unknown path", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Describe, env.url("nosuchpath"), nil, nil)
			require.Equal(t, base.StatusNotFound, res.StatusCode)
			return strconv.Itoa(int(res.StatusCode))
		}},
		{"second publisher without takeover", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Announce, env.url("live"), base.Header{
				"Content-Type": base.HeaderValue{"application/sdp"},
			}, announceBody(t))
			require.Equal(t, base.StatusForbidden, res.StatusCode)
			require.Equal(t, "Path Busy: another publisher is active", res.StatusMessage)
			return strconv.Itoa(int(res.StatusCode)) + " " + res.StatusMessage
		}},
		{"publisher on a path that takes none", func(t *testing.T) string {
			rc := dialRaw(t, env.host)
			res := rc.mustDo(t, base.Announce, env.url("nopub"), base.Header{
				"Content-Type": base.HeaderValue{"application/sdp"},
			}, announceBody(t))
			require.Equal(t, base.StatusForbidden, res.StatusCode)
			require.Contains(t, res.StatusMessage, "does not accept publishers")
			return strconv.Itoa(int(res.StatusCode)) + " " + res.StatusMessage
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := watcher.count()
			got := tc.run(t)
			t.Logf("server answered: %s", got)
			watcher.waitCount(t, before+10)
		})
	}
	require.Equal(t, int32(2), watcher.setups.Load(), "the watcher was never interrupted")
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
