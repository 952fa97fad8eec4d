package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/web"
)

// frames lists the frame numbers of the pictures in video, once each.
func frames(video []rtpCopy) []int {
	var out []int
	for _, p := range video {
		if _, f, ok := pictureTag(p.payload); ok && (len(out) == 0 || out[len(out)-1] != f) {
			out = append(out, f)
		}
	}
	return out
}

// TestTimeshiftOverPull pauses and resumes a reader of a pulled camera on
// a path with timeshift, then seeks it one second back from the live edge:
// the resumed session continues at the next frame, the seek lands on a
// keyframe. The config turns timeshift on by reload, as an operator would.
func TestTimeshiftOverPull(t *testing.T) {
	ctx := e2eCtx(t)
	cam := newCam(t, camOpts{}, map[string]byte{"cam": 't'})
	pathsYAML := func(ts string) string {
		return fmt.Sprintf("paths:\n  cam:\n    source: %s\n    sourceProtocol: tcp\n%s", cam.url("", "cam"), ts)
	}
	g := startGateway(t, pathsYAML(""))

	// Without timeshift, PLAY with a Range is live.
	r := mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 20)
	_, err := r.c.Pause()
	require.NoError(t, err)
	res, err := r.c.Play(&headers.Range{Value: &headers.RangeNPT{Start: time.Second}})
	require.NoError(t, err)
	assert.Equal(t, "npt=now-", res.Header["Range"][0])
	r.c.Close()

	// Reload with timeshift on the path.
	file := filepath.Join(t.TempDir(), "streamgate.yml")
	require.NoError(t, os.WriteFile(file, []byte(e2eConfigYAML(e2eFreeUDPPair(t), pathsYAML("    timeshift: 30s\n"))), 0o600))
	conf, err := gateway.LoadConfig(file)
	require.NoError(t, err)
	require.NoError(t, g.Reload(conf))

	r = mustReader(t, g.url("cam"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 100) // a few seconds in the buffer
	ps := getJSON[web.PathStatus](newAPIClient(t, g), "/api/v1/paths/cam")
	require.NotNil(t, ps.Timeshift, "the API shows the buffer")
	assert.Equal(t, 30.0, ps.Timeshift.Window)
	assert.Positive(t, ps.Timeshift.Bytes)
	require.NotNil(t, ps.Timeshift.Start)
	assert.True(t, ps.Timeshift.End.After(*ps.Timeshift.Start))
	newAPIClient(t, g).waitMetric("the buffer's memory is a metric", "streamgate_timeshift_bytes",
		func(v float64, ok bool) bool { return ok && v > 0 }, "path", "cam")
	_, err = r.c.Pause()
	require.NoError(t, err)
	<-time.After(time.Second) // the scenario: a one-second pause
	v, _ := r.packets()
	before := frames(v)
	_, err = r.c.Play(nil)
	require.NoError(t, err)
	r.waitPackets(t, ctx, len(v)+40)
	v2, _ := r.packets()
	after := frames(v2[len(v):])
	require.NotEmpty(t, after)
	assert.Equal(t, before[len(before)-1]+1, after[0], "resumed at the frame after the last one before PAUSE")

	// Seek 1 s back from the live edge.
	_, err = r.c.Pause()
	require.NoError(t, err)
	v, _ = r.packets()
	res, err = r.c.Play(&headers.Range{Value: &headers.RangeNPT{Start: -time.Second}})
	require.NoError(t, err)
	assert.Regexp(t, `^npt=[0-9]+\.[0-9]{3}-$`, res.Header["Range"][0])
	assert.Contains(t, res.Header["RTP-Info"][0], "seq=")
	r.waitPackets(t, ctx, len(v)+20)
	v2, _ = r.packets()
	require.True(t, isSTAPA(v2[len(v)].payload), "a seek starts at a keyframe (SPS and PPS first)")
}
