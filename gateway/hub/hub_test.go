package hub

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func onDemandConf() PathConf {
	return PathConf{HasSource: true, OnDemand: true, CloseAfter: 50 * time.Millisecond}
}

func TestHubStartRequiresResolve(t *testing.T) {
	h := &Hub{}
	require.Error(t, h.Start())
	_, err := h.Acquire("cam")
	require.ErrorIs(t, err, ErrPathClosed)
}

func TestHubUnknownPath(t *testing.T) {
	h := &Hub{
		Resolve: func(name string) (PathConf, bool) { return PathConf{}, name == "cam" },
		Logger:  discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	_, err := h.Acquire("nope")
	require.ErrorIs(t, err, ErrPathNotFound)
	assert.Empty(t, h.PathNames())

	p, err := h.Acquire("cam")
	require.NoError(t, err)
	assert.Equal(t, "cam", p.Name())
	assert.Equal(t, []string{"cam"}, h.PathNames())
	assert.Same(t, p, h.Lookup("cam"))
	// A path nothing publishes to is forgotten when its last user leaves.
	p.Release()
	assert.Nil(t, h.Lookup("cam"))
	assert.Panics(t, p.Release)
}

func TestHubOnDemandStartsOnceAndStops(t *testing.T) {
	src := newFakeSource(avDesc())
	h := newHub(t, onDemandConf(), src.runner)

	p1, err := h.Acquire("cam")
	require.NoError(t, err)
	p2, err := h.Acquire("cam")
	require.NoError(t, err)
	require.Same(t, p1, p2)
	within(t, testDeadline, src.starts, "the source to start")

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	st, err := p1.WaitStream(ctx)
	require.NoError(t, err)
	require.NotNil(t, st)
	assert.Same(t, st, p1.Stream())
	starts, stops := src.counts()
	assert.Equal(t, 1, starts)
	assert.Equal(t, 0, stops)

	p1.Release()
	p2.Release()
	within(t, testDeadline, src.stops, "the source to stop after CloseAfter")
	within(t, testDeadline, st.Done(), "the stream to end")
	eventually(t, func() bool { return h.Lookup("cam") == nil }, "the path to be forgotten")
	starts, stops = src.counts()
	assert.Equal(t, 1, starts)
	assert.Equal(t, 1, stops)

	// The next user starts the source again, on a new path.
	p3, err := h.Acquire("cam")
	require.NoError(t, err)
	t.Cleanup(p3.Release)
	assert.NotSame(t, p1, p3)
	within(t, testDeadline, src.starts, "the source to start again")
}

func TestHubOnDemandComebackCancelsStop(t *testing.T) {
	src := newFakeSource(avDesc())
	conf := onDemandConf()
	conf.CloseAfter = time.Hour // the window stays open for the whole test
	h := newHub(t, conf, src.runner)
	idleTimerSet := func(p *Path) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.idleTimer != nil
	}

	p, err := h.Acquire("cam")
	require.NoError(t, err)
	within(t, testDeadline, src.starts, "the source to start")
	p.Release()
	require.True(t, idleTimerSet(p), "the last user leaving schedules the stop")

	p2, err := h.Acquire("cam")
	require.NoError(t, err)
	t.Cleanup(p2.Release)
	require.Same(t, p, p2)
	assert.False(t, idleTimerSet(p), "a user coming back cancels the stop")
	starts, stops := src.counts()
	assert.Equal(t, 1, starts)
	assert.Equal(t, 0, stops)
}

func TestHubOnDemandComebackAfterStopTimer(t *testing.T) {
	// With a short window the stop may or may not have begun when the user
	// comes back; either way a source runs for the user afterwards.
	src := newFakeSource(avDesc())
	h := newHub(t, onDemandConf(), src.runner)
	p, err := h.Acquire("cam")
	require.NoError(t, err)
	within(t, testDeadline, src.starts, "the source to start")
	p.Release()
	within(t, testDeadline, src.stops, "the source to stop")

	p2, err := h.Acquire("cam")
	require.NoError(t, err)
	t.Cleanup(p2.Release)
	within(t, testDeadline, src.starts, "the source to start again")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	_, err = p2.WaitStream(ctx)
	require.NoError(t, err)
}

func TestHubAlwaysOn(t *testing.T) {
	src := newFakeSource(avDesc())
	h := &Hub{
		Resolve:   func(string) (PathConf, bool) { return onDemandConf(), true },
		NewSource: src.runner,
		AlwaysOn:  []string{"cam"},
		Logger:    discardLogger(),
	}
	require.NoError(t, h.Start())
	within(t, testDeadline, src.starts, "the always-on source to start")
	require.NotNil(t, h.Lookup("cam"))
	h.Close()
	starts, stops := src.counts()
	assert.Equal(t, 1, starts)
	assert.Equal(t, 1, stops, "Close waits for the source")
}

func TestPathWaitStream(t *testing.T) {
	cases := []struct {
		name    string
		conf    PathConf
		silent  bool
		cancel  bool
		wantErr error
	}{
		{"source publishes", PathConf{HasSource: true, StartTimeout: time.Hour}, false, false, nil},
		{"source stays silent", PathConf{HasSource: true, StartTimeout: 20 * time.Millisecond}, true, false, ErrNoStream},
		{"caller gives up", PathConf{HasSource: true, StartTimeout: time.Hour}, true, true, context.Canceled},
		{"publisher-only path does not wait", PathConf{AcceptPublishers: true, StartTimeout: time.Hour}, false, false, ErrNoStream},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource(avDesc())
			src.silent = tc.silent
			h := newHub(t, tc.conf, src.runner)
			p, err := h.Acquire("cam")
			require.NoError(t, err)
			t.Cleanup(p.Release)

			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			if tc.cancel {
				cancel()
			}
			st, err := p.WaitStream(ctx)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, err, ErrNoStream)
				require.Nil(t, st)
				if !tc.cancel {
					require.NoError(t, ctx.Err(), "WaitStream must give up by itself, not at the caller's deadline")
				}
				return
			}
			require.NoError(t, err)
			require.NotNil(t, st)
		})
	}
}

// On a path the gateway feeds, a user that holds the path but reads
// nothing yet (an RTSP session between DESCRIBE and PLAY) keeps the stream
// through a source restart: an on-demand source that was stopping as the
// user arrived comes back into the stream the user described, instead of
// ending it under the user's feet.
func TestSourcedStreamKeptForUserWithoutReader(t *testing.T) {
	h := newHub(t, PathConf{HasSource: true, OutageGrace: time.Minute}, nil)
	p, err := h.Acquire("cam")
	require.NoError(t, err)
	pub, err := p.PublishSource(avDesc())
	require.NoError(t, err)
	st := pub.Stream()
	pub.Close()
	select {
	case <-st.Done():
		t.Fatal("the stream ended while a user held the path")
	default:
	}
	pub2, err := p.PublishSource(avDesc())
	require.NoError(t, err)
	assert.Same(t, st, pub2.Stream(), "the source came back into the same stream")

	// Nobody left: the next departure ends the stream at once.
	p.Release()
	pub2.Close()
	within(t, testDeadline, st.Done(), "the stream to end")
}
