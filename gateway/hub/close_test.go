package hub

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHubClose(t *testing.T) {
	src := newFakeSource(avDesc())
	h := &Hub{
		Resolve: func(name string) (PathConf, bool) {
			if name == "pull" {
				return PathConf{HasSource: true, OnDemand: true}, true
			}
			return PathConf{AcceptPublishers: true, OutageGrace: time.Hour}, true
		},
		NewSource: src.runner,
		Logger:    discardLogger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)

	pull, err := h.Acquire("pull")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	pullStream, err := pull.WaitStream(ctx)
	require.NoError(t, err)
	pullReader, _ := addReader(t, pullStream, ReaderConfig{})

	desc := avDesc()
	push, pub := publish(t, h, "push", desc)
	pushReader, _ := addReader(t, pub.Stream(), ReaderConfig{})
	newFeeder(pub, desc, 10).AUs(5)

	// A path in its outage grace ends too.
	gone, pubGone := publish(t, h, "gone", avDesc())
	goneReader, _ := addReader(t, pubGone.Stream(), ReaderConfig{})
	pubGone.Close()

	// Close must wait for the source, however long it takes to stop.
	src.hold = make(chan struct{})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		h.Close()
	}()
	within(t, testDeadline, src.stopping, "the source to be told to stop")
	select {
	case <-closed:
		t.Fatal("Close returned before the source stopped")
	case <-time.After(20 * time.Millisecond):
	}
	close(src.hold)
	within(t, testDeadline, closed, "Close to return")

	starts, stops := src.counts()
	assert.Equal(t, 1, starts)
	assert.Equal(t, 1, stops, "Close returns after the sources stopped")
	for name, r := range map[string]*Reader{"pull": pullReader, "push": pushReader, "gone": goneReader} {
		select {
		case <-r.Done():
		default:
			t.Fatalf("reader of %s still runs after Close", name)
		}
		assert.ErrorIs(t, r.Err(), ErrPathClosed, name)
	}
	assert.ErrorIs(t, pub.Err(), ErrPathClosed)
	assert.ErrorIs(t, pullStream.Err(), ErrPathClosed)
	for _, p := range []*Path{pull, push, gone} {
		assert.Nil(t, p.Stream())
		_, err := p.WaitStream(ctx)
		assert.ErrorIs(t, err, ErrPathClosed)
		_, err = p.Publish(avDesc())
		assert.ErrorIs(t, err, ErrPathClosed)
	}

	_, err = h.Acquire("push")
	assert.ErrorIs(t, err, ErrPathClosed)
	h.Close()
	pub.Close()
	pull.Release()
}

func TestUnitsReleased(t *testing.T) {
	errStop := errors.New("stop")
	cases := []struct {
		name string
		run  func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder)
	}{
		{"readers and publisher leave", func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder) {
			r1, c1 := addReader(t, pub.Stream(), ReaderConfig{})
			r2, _ := addReader(t, pub.Stream(), ReaderConfig{Start: StartHistory})
			f.AUs(25)
			c1.wait(t, len(f.log))
			r1.Close()
			r2.Close()
			pub.Close()
		}},
		{"hub closes with queued, cached and pending units", func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder) {
			r, c := addBlockedReader(t, pub.Stream(), ReaderConfig{QueueSize: 8})
			f.AUs(25)
			f.partialAU()
			c.wait(t, 1)
			require.NotZero(t, r.Dropped())
			close(c.block)
			h.Close()
		}},
		{"reader ends with an error", func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder) {
			r, err := pub.Stream().AddReader(ReaderConfig{OnUnit: func(*Unit, bool) error { return errStop }})
			require.NoError(t, err)
			f.AUs(25)
			within(t, testDeadline, r.Done(), "the reader to end")
			pub.Close()
		}},
		{"reader closed during its burst", func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder) {
			f.AUs(25)
			r, c := addBlockedReader(t, pub.Stream(), ReaderConfig{Start: StartHistory})
			c.wait(t, 1)
			go func() {
				// Close waits for OnUnit, which waits for this.
				<-r.stop
				close(c.block)
			}()
			r.Close()
			pub.Close()
		}},
		{"outage grace expires", func(t *testing.T, h *Hub, p *Path, pub *Publisher, f *avFeeder) {
			r, _ := addReader(t, pub.Stream(), ReaderConfig{})
			f.AUs(25)
			pub.Close()
			within(t, testDeadline, r.Done(), "the grace to expire")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true, OutageGrace: 20 * time.Millisecond, Stream: StreamConfig{HistoryGOPs: 2}}, nil)
			desc := avDesc()
			p, pub := publish(t, h, "cam", desc)
			st := pub.Stream()
			st.pool.countLive = true
			f := newFeeder(pub, desc, 10)
			f.AUs(1)
			require.NotZero(t, st.pool.live.Load(), "the history holds the keyframe")

			tc.run(t, h, p, pub, f)

			within(t, testDeadline, st.Done(), "the stream to end")
			assert.Zero(t, st.pool.live.Load(), "units leaked")
		})
	}
}

func TestReadersLeaveConcurrently(t *testing.T) {
	// Readers joining and leaving while the source writes must neither race
	// nor leak units.
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	st.pool.countLive = true
	f := newFeeder(pub, desc, 10)

	done := make(chan struct{})
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			for j := 0; ; j++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				r, err := st.AddReader(ReaderConfig{
					Name:      fmt.Sprint(i, "-", j),
					QueueSize: 4,
					Start:     StartMode(j % 4),
					OnUnit:    func(*Unit, bool) error { return nil },
				})
				if err != nil {
					errs <- err
					return
				}
				r.Close()
			}
		}()
	}
	f.AUs(500)
	close(done)
	for range 8 {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(testDeadline):
			t.Fatal("reader goroutines did not stop")
		}
	}
	assert.Equal(t, 0, st.ReaderCount())
	pub.Close()
	within(t, testDeadline, st.Done(), "the stream to end")
	assert.Zero(t, st.pool.live.Load(), "units leaked")
}
