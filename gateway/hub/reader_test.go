package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderSlowIsolated(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)

	slowR, slow := addBlockedReader(t, pub.Stream(), ReaderConfig{Name: "slow", QueueSize: 4})
	t.Cleanup(func() { close(slow.block) }) // runs before the reader's Close
	fast := make([]*collector, 5)
	for i := range fast {
		_, fast[i] = addReader(t, pub.Stream(), ReaderConfig{Name: fmt.Sprint("fast", i)})
	}

	f := newFeeder(pub, desc, 10)
	written := make(chan struct{})
	go func() {
		defer close(written)
		f.AUs(300)
	}()
	within(t, testDeadline, written, "the writer, which must not wait for a blocked reader")

	for _, c := range fast {
		requireSame(t, f.log, c.wait(t, len(f.log)))
	}
	assert.NotZero(t, slowR.Dropped())
	assert.LessOrEqual(t, len(slow.snapshot()), 1, "the slow reader is stuck in its first OnUnit")
}

// drained reports whether r has handed every unit it queued to OnUnit.
func drained(r *Reader) bool {
	r.mu.Lock()
	queued := r.tail
	r.mu.Unlock()
	return r.Delivered() == queued
}

// TestReaderResumesAtKeyframeAfterDrops checks that a reader that lost units
// continues at a keyframe, never in the middle of a picture it cannot decode.
func TestReaderResumesAtKeyframeAfterDrops(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	r, c := addBlockedReader(t, pub.Stream(), ReaderConfig{QueueSize: 64})

	// Once the reader is stuck in its first OnUnit, 65 more access units
	// (over 150 units) overflow its ring; the stall ends in the middle of a GOP.
	f := newFeeder(pub, desc, 10)
	f.AUs(1)
	c.wait(t, 1)
	f.AUs(65)
	require.NotZero(t, r.Dropped())
	close(c.block)
	eventually(t, func() bool { return drained(r) }, "the reader to drain its queue")
	n := len(c.snapshot())

	// Everything after the stall arrives from the next keyframe on: the
	// rest of the GOP the reader lost the start of is skipped.
	f.AUs(20)
	tail := f.log[f.keyIndices()[7]:]
	units := c.wait(t, n+len(tail))
	requireSame(t, tail, units[n:])
	for i := 1; i < len(units); i++ {
		prev, u := units[i-1], units[i]
		if u.Track == 0 && prev.Track == 0 && u.Seq != prev.Seq+1 {
			require.True(t, u.AUStart && u.RandomAccess, "unit %d follows a gap (seq %d after %d) and is no keyframe", i, u.Seq, prev.Seq)
		}
	}
	assert.Equal(t, uint64(len(units)), r.Delivered())
}

func TestReaderWant(t *testing.T) {
	video := func(tr *Track) bool { return tr.IsVideo() }
	audio := func(tr *Track) bool { return !tr.IsVideo() }
	cases := []struct {
		name   string
		want   func(*Track) bool
		start  StartMode
		before int
		// fromKey is the keyframe (index in the feeder's keys) the reader
		// starts at, or -1 for the first packet after it joined.
		fromKey int
		track   int
	}{
		{"video joined before the first packet", video, StartDefault, 0, 0, 0},
		{"video joined mid-GOP", video, StartDefault, 15, 1, 0},
		{"audio joined before the first packet", audio, StartDefault, 0, -1, 1},
		{"audio joined mid-GOP gets the cached audio", audio, StartDefault, 15, 1, 1},
		{"audio waiting for the next keyframe starts at once", audio, StartNextKeyframe, 15, -1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true}, nil)
			desc := avDesc()
			_, pub := publish(t, h, "cam", desc)
			f := newFeeder(pub, desc, 10)
			f.AUs(tc.before)
			join := len(f.log)
			_, c := addReader(t, pub.Stream(), ReaderConfig{Want: tc.want, Start: tc.start})
			f.AUs(20)

			from := join
			if tc.fromKey >= 0 {
				from = f.keyIndices()[tc.fromKey]
			}
			var want []sent
			for _, s := range f.log[from:] {
				if s.Track == tc.track {
					want = append(want, s)
				}
			}
			requireSame(t, want, c.wait(t, len(want)))
		})
	}
}

func TestReaderAudioOnlySurvivesDrops(t *testing.T) {
	// A reader of the audio of an A/V stream has no keyframe to wait for
	// after it lost units: it must go on with the next audio packet.
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	r, c := addBlockedReader(t, pub.Stream(), ReaderConfig{QueueSize: 2, Want: func(tr *Track) bool { return !tr.IsVideo() }})
	f := newFeeder(pub, desc, 10)
	f.AUs(10)
	c.wait(t, 1)
	require.NotZero(t, r.Dropped())
	close(c.block)
	eventually(t, func() bool { return drained(r) }, "the reader to drain its queue")
	n := len(c.snapshot())
	f.AUs(1) // a non-IDR video unit, then one audio packet
	units := c.wait(t, n+1)
	assert.Equal(t, f.log[len(f.log)-1].Pkt.SequenceNumber, units[n].Seq)
}

func TestReaderConfig(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	_, pub := publish(t, h, "cam", avDesc())
	st := pub.Stream()

	_, err := st.AddReader(ReaderConfig{Name: "no callback"})
	require.Error(t, err)

	for _, tc := range []struct{ size, ring int }{{0, 1024}, {1, 1}, {5, 8}, {64, 64}} {
		r, _ := addReader(t, st, ReaderConfig{QueueSize: tc.size})
		if tc.size == 0 {
			// addReader fills in a large queue; ask for the default directly.
			r.Close()
			r, err = st.AddReader(ReaderConfig{OnUnit: func(*Unit, bool) error { return nil }})
			require.NoError(t, err)
			t.Cleanup(r.Close)
		}
		assert.Len(t, r.ring, tc.ring, "QueueSize %d", tc.size)
	}
}

func TestReaderClose(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	r1, c1 := addReader(t, st, ReaderConfig{})
	r2, _ := addReader(t, st, ReaderConfig{})
	require.Equal(t, 2, st.ReaderCount())
	require.NoError(t, r1.Err())

	f := newFeeder(pub, desc, 10)
	f.AUs(3)
	c1.wait(t, len(f.log))

	r1.Close()
	r1.Close()
	within(t, testDeadline, r1.Done(), "the closed reader")
	assert.ErrorIs(t, r1.Err(), ErrReaderClosed)
	assert.Equal(t, 1, st.ReaderCount())

	// A closed reader gets nothing more.
	n := len(c1.snapshot())
	f.AUs(3)
	r2.Close()
	assert.Equal(t, 0, st.ReaderCount())
	assert.Len(t, c1.snapshot(), n)
}

func TestReaderOnUnitError(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	errBroken := errors.New("client went away")
	var mu sync.Mutex
	calls := 0
	r, err := pub.Stream().AddReader(ReaderConfig{OnUnit: func(*Unit, bool) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 3 {
			return errBroken
		}
		return nil
	}})
	require.NoError(t, err)

	newFeeder(pub, desc, 10).AUs(5)
	within(t, testDeadline, r.Done(), "the reader to end with its error")
	assert.ErrorIs(t, r.Err(), errBroken)
	assert.Equal(t, 0, pub.Stream().ReaderCount())
	mu.Lock()
	assert.Equal(t, 3, calls)
	mu.Unlock()
	r.Close() // still fine after the reader ended
}

func TestReaderOnUnitErrorDuringBurst(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	newFeeder(pub, desc, 10).AUs(5)

	errStop := errors.New("enough")
	calls := 0
	r, err := pub.Stream().AddReader(ReaderConfig{OnUnit: func(_ *Unit, cached bool) error {
		calls++
		assert.True(t, cached)
		return errStop
	}})
	require.NoError(t, err)
	within(t, testDeadline, r.Done(), "the reader to end with its error")
	assert.ErrorIs(t, r.Err(), errStop)
	assert.Equal(t, 1, calls)
}

func TestReaderMaxReaders(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true, MaxReaders: 2}, nil)
	_, pub := publish(t, h, "cam", avDesc())
	st := pub.Stream()
	r1, _ := addReader(t, st, ReaderConfig{})
	addReader(t, st, ReaderConfig{})

	_, err := st.AddReader(ReaderConfig{OnUnit: func(*Unit, bool) error { return nil }})
	require.ErrorIs(t, err, ErrTooManyReaders)
	assert.Equal(t, 2, st.ReaderCount())

	r1.Close()
	addReader(t, st, ReaderConfig{})
	assert.Equal(t, 2, st.ReaderCount())
}

// captureHandler is a slog handler that hands every record to a channel.
type captureHandler struct{ records chan slog.Record }

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.records <- r:
	default:
	}
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

func TestReaderDropsReported(t *testing.T) {
	records := make(chan slog.Record, 64)
	h := &Hub{
		Resolve: func(string) (PathConf, bool) {
			return PathConf{AcceptPublishers: true, Stream: StreamConfig{DropReportPeriod: 5 * time.Millisecond}}, true
		},
		Logger: slog.New(captureHandler{records}),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	_, slow := addBlockedReader(t, pub.Stream(), ReaderConfig{Name: "slowpoke", QueueSize: 1})
	t.Cleanup(func() { close(slow.block) })
	newFeeder(pub, desc, 10).AUs(10)

	deadline := time.After(testDeadline)
	for {
		select {
		case rec := <-records:
			if rec.Level != slog.LevelWarn {
				continue
			}
			attrs := map[string]slog.Value{}
			rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
			assert.Equal(t, "slowpoke", attrs["reader"].String())
			assert.NotZero(t, attrs["dropped"].Uint64())
			return
		case <-deadline:
			t.Fatal("no drop summary was logged")
		}
	}
}

// TestInternalReadersDoNotCount: a reader that serves the gateway (a
// timeshift buffer, a recorder) takes no viewer's place under MaxReaders
// and is not counted as a viewer.
func TestInternalReadersDoNotCount(t *testing.T) {
	s := newStream(videoDesc(testSPS), StreamConfig{MaxReaders: 1}, discardLogger())
	defer s.close(nil)
	in, err := s.AddReader(ReaderConfig{Name: "timeshift", Internal: true, OnUnit: func(*Unit, bool) error { return nil }})
	require.NoError(t, err)
	defer in.Close()
	v, err := s.AddReader(ReaderConfig{Name: "viewer", OnUnit: func(*Unit, bool) error { return nil }})
	require.NoError(t, err, "the internal reader left the viewer's place free")
	defer v.Close()
	_, err = s.AddReader(ReaderConfig{Name: "second viewer", OnUnit: func(*Unit, bool) error { return nil }})
	require.ErrorIs(t, err, ErrTooManyReaders)
	assert.Equal(t, 1, s.ReaderCount())
	assert.Equal(t, 2, s.Attached())
}
