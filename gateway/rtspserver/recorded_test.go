package rtspserver

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/record"
)

// recEnv serves "ts", a synthetic camera with a 2 s timeshift window that
// is also recorded to disk in 2 s segments.
func recEnv(t testing.TB) (*testEnv, *record.Store) {
	t.Helper()
	env := newEnv(t, envConfig{
		paths:     map[string]hub.PathConf{"ts": {HasSource: true, Extra: &synthConf{gop: vcrGOP, fps: vcrFPS}}},
		timeshift: map[string]time.Duration{"ts": 2 * time.Second},
	})
	st := &record.Store{Directory: t.TempDir(), Paths: env.hub, Logger: env.srv.Logger}
	require.NoError(t, st.Start())
	t.Cleanup(st.Close)
	require.NoError(t, st.Apply(map[string]record.Settings{"ts": {SegmentDuration: 2 * time.Second, PartDuration: 500 * time.Millisecond}}))
	env.srv.Recordings = st.SourceAt
	return env, st
}

// waitRecorded waits until the path's recordings span at least d, following
// the recorder's output with a cursor from its first keyframe.
func waitRecorded(t testing.TB, st *record.Store, path string, d time.Duration) time.Time {
	t.Helper()
	ctx := testCtx(t, testTimeout)
	for {
		spans, err := st.Spans(path, time.Time{}, time.Time{})
		if err == nil && len(spans) > 0 && spans[len(spans)-1].End.Sub(spans[0].Start) >= d {
			return spans[0].Start
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not %v of recordings in time (%v, %v)", path, d, spans, err)
		case <-time.After(50 * time.Millisecond): // the store offers no event for a new fragment
		}
	}
}

// recordedKeyframe is the frame number of the keyframe a seek to target
// lands on in the recordings.
func recordedKeyframe(t testing.TB, st *record.Store, path string, target time.Time) int {
	t.Helper()
	src, err := st.SourceAt(path, target)
	require.NoError(t, err)
	cur, _, err := src.Seek(target)
	require.NoError(t, err)
	defer cur.Close()
	for {
		f, err := cur.Next(testCtx(t, testTimeout))
		require.NoError(t, err)
		for _, p := range f.Packets {
			if idx, ok := frameIndexOf(p.Payload); ok {
				return idx
			}
		}
	}
}

// TestPlayRecordingsFromStart opens rtsp://host/ts?start=<RFC3339> and
// checks the first frame is the keyframe at or before start, then pauses
// and resumes at the next frame, like a live timeshift session.
func TestPlayRecordingsFromStart(t *testing.T) {
	env, st := recEnv(t)
	first := waitRecorded(t, st, "ts", 5*time.Second)
	start := first.Add(2300 * time.Millisecond)
	want := recordedKeyframe(t, st, "ts", start)

	r := startReader(t, env.url("ts")+"?start="+start.UTC().Format(time.RFC3339Nano), gortsplib.ProtocolTCP)
	r.waitCount(t, 60)
	vi := r.videoMedia()
	got := videoFrames(r.packets(), vi)
	require.NotEmpty(t, got)
	assert.Equal(t, want, got[0].index, "the first frame is the recorded keyframe at or before start")
	assert.Zero(t, got[0].index%vcrGOP)
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1].index+1, got[i].index, "recorded frames in order: %v", got)
	}

	_, err := r.c.Pause()
	require.NoError(t, err)
	before := r.packets()
	fb := videoFrames(before, vi)
	_, err = r.c.Play(nil)
	require.NoError(t, err)
	r.waitCount(t, len(before)+30)
	fa := videoFrames(r.packets()[len(before):], vi)
	require.NotEmpty(t, fa)
	assert.Equal(t, fb[len(fb)-1].index+1, fa[0].index, "resumed at the frame after the last one before PAUSE")
	requireVideoContinuous(t, r.packets(), vi)
}

// TestClockRangeBeyondTimeshiftPlaysRecordings seeks a live session on a
// path with a 2 s window to a time recorded 4 s earlier: it plays from the
// recordings. Times with no recordings get 457.
func TestClockRangeBeyondTimeshiftPlaysRecordings(t *testing.T) {
	env, st := recEnv(t)
	first := waitRecorded(t, st, "ts", 6*time.Second)
	r := startReader(t, env.url("ts"), gortsplib.ProtocolTCP)
	r.waitCount(t, 10)
	_, err := r.c.Pause()
	require.NoError(t, err)

	tsStart, _ := env.keep.Buffer("ts").Span()
	target := first.Add(time.Second).Truncate(time.Second).Add(time.Second)
	require.True(t, target.Before(tsStart), "the target %v is older than the timeshift window (from %v)", target, tsStart)
	want := recordedKeyframe(t, st, "ts", target)
	n := r.count()
	res, err := r.c.Play(&headers.Range{Value: &headers.RangeUTC{Start: target}})
	require.NoError(t, err)
	require.Equal(t, base.StatusOK, res.StatusCode)
	r.waitCount(t, n+40)
	got := videoFrames(r.packets()[n:], r.videoMedia())
	require.NotEmpty(t, got)
	assert.Equal(t, want, got[0].index, "the recorded keyframe at or before the target")
	requireVideoContinuous(t, r.packets(), r.videoMedia())

	p := rawSetup(t, env, "ts")
	for _, rng := range []string{"clock=20000101T000000Z-", "clock=29990101T000000Z-"} {
		res := p.play(t, base.Header{"Range": base.HeaderValue{rng}})
		assert.Equal(t, base.StatusInvalidRange, res.StatusCode, rng)
	}
}

// TestRecordingsURLBadInput: a start that is not a time is 400, a start
// with no recordings near it 404.
func TestRecordingsURLBadInput(t *testing.T) {
	env, st := recEnv(t)
	waitRecorded(t, st, "ts", time.Second)
	for _, tc := range []struct {
		query string
		want  base.StatusCode
	}{
		{"start=yesterday", base.StatusBadRequest},
		{"start=2026-13-45T99:00:00Z", base.StatusBadRequest},
		{"start=1999-01-01T00:00:00Z", base.StatusNotFound},
		{"start=2999-01-01T00:00:00Z", base.StatusNotFound},
	} {
		rc := dialRaw(t, env.host)
		res := rc.mustDo(t, base.Describe, env.url("ts")+"?"+tc.query, base.Header{"Accept": base.HeaderValue{"application/sdp"}}, nil)
		assert.Equal(t, tc.want, res.StatusCode, tc.query)
	}
}

// TestRecordingsSessionEndsAtTheEnd: a session opened on recordings that
// are no longer written plays them out and is then closed, so the client
// sees the end of the stream instead of waiting for its timeout.
func TestRecordingsSessionEndsAtTheEnd(t *testing.T) {
	env, st := recEnv(t)
	waitRecorded(t, st, "ts", 3*time.Second)
	st.Stop("ts")
	spans, err := st.Spans("ts", time.Time{}, time.Time{})
	require.NoError(t, err)
	end := spans[len(spans)-1].End
	r := startReader(t, env.url("ts")+"?start="+end.Add(-1500*time.Millisecond).UTC().Format(time.RFC3339Nano), gortsplib.ProtocolTCP)
	done := make(chan error, 1)
	go func() { done <- r.c.Wait() }()
	err = waitFor(t, done, "the session to end with the recordings")
	require.Error(t, err, "the server closed the session")
	got := videoFrames(r.packets(), r.videoMedia())
	require.NotEmpty(t, got, "the recorded tail was played first")
	env.logs.waitCount(t, 1, "closing the session at the end of the recordings")
}
