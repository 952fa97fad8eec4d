package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// e2eComparePackets is how many video and audio packets each reader must
// receive before its stream is compared with the camera's (about 1.5 s).
const e2eComparePackets = 60

// A pulled camera reaches readers over TCP and UDP with every payload as the
// camera sent it: from the first keyframe on, nothing lost, reordered or changed.
func TestPullByteIdentical(t *testing.T) {
	for _, sourceProto := range []string{"tcp", "udp"} {
		t.Run("source "+sourceProto, func(t *testing.T) {
			ctx := e2eCtx(t)
			cam := newCam(t, camOpts{}, map[string]byte{"cam": 'c'})
			g := startGateway(t, fmt.Sprintf(`paths:
  cam:
    source: %s
    sourceProtocol: %s
`, cam.url("", "cam"), sourceProto))

			readers := map[string]*e2eReader{}
			start := time.Now()
			for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
				readers[proto.String()] = mustReader(t, g.url("cam"), proto)
			}
			for name, r := range readers {
				r.waitPackets(t, ctx, e2eComparePackets)
				r.mu.Lock()
				first := r.firstAt.Sub(start)
				r.mu.Unlock()
				t.Logf("reader over %s: first packet %v after the first DESCRIBE", name, first.Round(time.Millisecond))
			}
			for name, r := range readers {
				t.Run("reader "+name, func(t *testing.T) {
					requireIdentical(t, cam, "cam", r)
				})
			}
			require.True(t, g.log.has(`msg="source ready"`, "transport="+strings.ToUpper(sourceProto)),
				"the pull used the configured transport")
		})
	}
}

// Credentials in the source URL answer a camera that asks for Digest auth,
// and they never reach the log.
func TestPullDigestAuth(t *testing.T) {
	const user, pass = "admin", "s3cr3tPW"
	ctx := e2eCtx(t)
	cam := newCam(t, camOpts{User: user, Pass: pass, DigestOnly: true}, map[string]byte{"cam": 'd'})

	g := startGateway(t, fmt.Sprintf(`paths:
  cam:
    source: %s
  wrong:
    source: %s
    onDemand: true
    onDemandStartTimeout: 500ms
`, cam.url(user+":"+pass, "cam"), cam.url(user+":nope", "cam")))

	r := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 10)
	requireIdentical(t, cam, "cam", r)
	_, plays, fails := cam.counts()
	require.Equal(t, 1, plays["cam"])
	require.Positive(t, fails, "the camera challenged the pull")

	t.Run("wrong password", func(t *testing.T) {
		_, err := dialReader(t, g.url("wrong"), gortsplib.ProtocolTCP)
		require.Error(t, err)
		require.Equal(t, base.StatusNotFound, statusCode(err), "no stream: %v", err)
	})
	require.NotContains(t, g.log.String(), pass, "the password was logged")
}

// An on-demand source runs only while someone reads: the camera sees no
// connection until a reader DESCRIBEs, the pull ends onDemandCloseAfter
// after the last reader left, and the next reader starts it again.
func TestPullOnDemand(t *testing.T) {
	ctx := e2eCtx(t)
	cam := newCam(t, camOpts{}, map[string]byte{"cam": 'o'})
	g := startGateway(t, fmt.Sprintf(`paths:
  cam:
    source: %s
    sourceProtocol: tcp
    onDemand: true
    onDemandCloseAfter: 200ms
`, cam.url("", "cam")))

	// A request the gateway has answered shows it is up; the camera must
	// still be untouched a little later.
	_, err := dialReader(t, g.url("nothing"), gortsplib.ProtocolTCP)
	require.Equal(t, base.StatusNotFound, statusCode(err), "%v", err)
	assert.Never(t, func() bool { conns, _, _ := cam.counts(); return conns > 0 },
		300*time.Millisecond, 20*time.Millisecond, "the camera was contacted without a reader")

	start := time.Now()
	r1 := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r1.waitPackets(t, ctx, 5)
	r1.mu.Lock()
	t.Logf("on-demand start: first packet %v after DESCRIBE", r1.firstAt.Sub(start).Round(time.Millisecond))
	r1.mu.Unlock()
	_, plays, _ := cam.counts()
	require.Equal(t, 1, plays["cam"])

	teardown := time.Now()
	r1.c.Close()
	waitChan(t, ctx, cam.sessionClosed, "the camera to see the pull session close")
	closedAfter := time.Since(teardown)
	t.Logf("pull closed %v after the reader's TEARDOWN", closedAfter.Round(time.Millisecond))
	require.GreaterOrEqual(t, closedAfter, 200*time.Millisecond, "closed before onDemandCloseAfter")

	r2 := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r2.waitPackets(t, ctx, 5)
	_, plays, _ = cam.counts()
	require.Equal(t, 2, plays["cam"], "the second reader restarted the pull")
}

// An edge in front of an origin: a pattern path pulls each concrete path
// from the origin once, however many readers it has.
func TestPullPatternPath(t *testing.T) {
	ctx := e2eCtx(t)
	origin := newCam(t, camOpts{}, map[string]byte{"cams/a": 'a', "cams/b": 'b'})
	g := startGateway(t, fmt.Sprintf(`paths:
  "cams/{name}":
    source: %s
    sourceProtocol: tcp
    onDemandStartTimeout: 1s
`, strings.Replace(origin.url("", "cams/x"), "cams/x", "cams/{name}", 1)))

	var readersA []*e2eReader
	for i := range 3 {
		proto := gortsplib.ProtocolTCP
		if i == 1 {
			proto = gortsplib.ProtocolUDP
		}
		readersA = append(readersA, mustReader(t, g.url("cams/a"), proto))
	}
	readerB := mustReader(t, g.url("cams/b"), gortsplib.ProtocolTCP)

	for tag, rs := range map[byte][]*e2eReader{'a': readersA, 'b': {readerB}} {
		for _, r := range rs {
			r.waitUntil(t, ctx, "10 pictures", func(v, _ []rtpCopy) bool { return countPictures(v) >= 10 })
			v, _ := r.packets()
			for _, p := range v {
				if got, _, ok := pictureTag(p.payload); ok {
					require.Equal(t, string(tag), string(got), "a reader of cams/%c got another stream", tag)
				}
			}
		}
	}
	requireIdentical(t, origin, "cams/a", readersA[0])
	requireIdentical(t, origin, "cams/b", readerB)

	_, plays, _ := origin.counts()
	require.Equal(t, map[string]int{"cams/a": 1, "cams/b": 1}, plays, "one pull per path at the origin")

	t.Run("unknown shape", func(t *testing.T) {
		_, err := dialReader(t, g.url("other/x"), gortsplib.ProtocolTCP)
		require.Equal(t, base.StatusNotFound, statusCode(err), "%v", err)
	})
	t.Run("missing at the origin", func(t *testing.T) {
		_, err := dialReader(t, g.url("cams/zz"), gortsplib.ProtocolTCP)
		require.Equal(t, base.StatusNotFound, statusCode(err), "%v", err)
	})
}

func countPictures(v []rtpCopy) int {
	n := 0
	for _, p := range v {
		if _, _, ok := pictureTag(p.payload); ok {
			n++
		}
	}
	return n
}
