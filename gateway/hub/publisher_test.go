package hub

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublishRefused(t *testing.T) {
	cases := []struct {
		name string
		conf PathConf
		// first publishes before the refused attempt, when set: "external" or "source".
		first   string
		source  bool // the refused attempt is the gateway's own source
		desc    *description.Session
		wantErr error
	}{
		{"path without publishers", PathConf{HasSource: true}, "", false, avDesc(), ErrPublishNotAllowed},
		{"second publisher", PathConf{AcceptPublishers: true}, "external", false, avDesc(), ErrPublisherExists},
		{"publisher while the source publishes", PathConf{HasSource: true, AcceptPublishers: true}, "source", false, avDesc(), ErrPublisherExists},
		{"source while a publisher publishes, even with takeover", PathConf{AcceptPublishers: true, OverridePublisher: true}, "external", true, avDesc(), ErrPublisherExists},
		{"empty description", PathConf{AcceptPublishers: true}, "", false, &description.Session{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, tc.conf, nil)
			p, err := h.Acquire("cam")
			require.NoError(t, err)
			t.Cleanup(p.Release)
			var first *Publisher
			switch tc.first {
			case "external":
				first, err = p.Publish(avDesc())
			case "source":
				first, err = p.PublishSource(avDesc())
			}
			require.NoError(t, err)

			publishFn := p.Publish
			if tc.source {
				publishFn = p.PublishSource
			}
			pub, err := publishFn(tc.desc)
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Nil(t, pub)
			if first != nil {
				assert.NoError(t, first.Err(), "the refused attempt must not disturb the publisher")
				select {
				case <-first.Done():
					t.Fatal("the first publisher was ended")
				default:
				}
			}
		})
	}
}

func TestPublisherTakeover(t *testing.T) {
	cases := []struct {
		name string
		// desc2 is the new publisher's description.
		desc2   func() *description.Session
		resumes bool
	}{
		{"same codecs: readers continue", avDesc, true},
		{"other codecs: readers must reconnect", func() *description.Session {
			d := avDesc()
			d.Medias[0].Formats[0] = h264Format(testSPS2)
			return d
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true, OverridePublisher: true, OutageGrace: time.Hour}, nil)
			desc1 := avDesc()
			p, pub1 := publish(t, h, "cam", desc1)
			st := pub1.Stream()
			r, c := addReader(t, st, ReaderConfig{})
			f1 := newFeeder(pub1, desc1, 10)
			f1.AUs(15)
			n := len(c.wait(t, len(f1.log)))

			desc2 := tc.desc2()
			pub2, err := p.Publish(desc2)
			require.NoError(t, err)
			within(t, testDeadline, pub1.Done(), "the replaced publisher to end")
			assert.ErrorIs(t, pub1.Err(), ErrPublisherReplaced)

			if !tc.resumes {
				within(t, testDeadline, r.Done(), "the reader to end")
				assert.ErrorIs(t, r.Err(), ErrStreamChanged)
				assert.NotSame(t, st, pub2.Stream())
				assert.Same(t, pub2.Stream(), p.Stream())
				return
			}
			require.Same(t, st, pub2.Stream())

			// The old publisher is ignored from now on, even when it sends
			// a keyframe or closes.
			f2 := newFeeder(pub2, desc2, 10)
			f2.AUs(12)
			f1.AUs(10)
			pub1.Close()
			assert.True(t, st.Online())
			assert.Same(t, st, p.Stream())
			f2.AUs(3)
			units := c.wait(t, n+len(f2.log))
			requireSame(t, f2.log, units[n:])
			for _, u := range units[n:] {
				require.Equal(t, uint32(2), u.Gen)
			}
			assert.NoError(t, r.Err())
		})
	}
}

func TestOutage(t *testing.T) {
	const (
		resume = iota
		changed
		gone
	)
	otherPT := func() *description.Session {
		d := avDesc()
		d.Medias[0].Formats[0].(*format.H264).PayloadTyp = 98
		return d
	}
	cases := []struct {
		name  string
		grace time.Duration
		// back is the description the source comes back with, or nil.
		back   func() *description.Session
		source bool // the comeback is PublishSource rather than Publish
		want   int
	}{
		{"same codecs resume", time.Hour, avDesc, false, resume},
		{"same codecs resume from the gateway's source", time.Hour, avDesc, true, resume},
		{"SPS left out of the new SDP resumes", time.Hour, func() *description.Session {
			d := avDesc()
			d.Medias[0].Formats[0] = h264Format(nil)
			return d
		}, false, resume},
		{"other SPS", time.Hour, func() *description.Session {
			d := avDesc()
			d.Medias[0].Formats[0] = h264Format(testSPS2)
			return d
		}, false, changed},
		{"other payload type", time.Hour, otherPT, false, changed},
		{"audio missing", time.Hour, func() *description.Session { return videoDesc(testSPS) }, false, changed},
		{"no comeback", 20 * time.Millisecond, nil, false, gone},
		{"no grace", 0, nil, false, gone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true, OutageGrace: tc.grace}, nil)
			desc := avDesc()
			p, pub := publish(t, h, "cam", desc)
			st := pub.Stream()
			st.pool.countLive = true
			r, c := addReader(t, st, ReaderConfig{})
			f := newFeeder(pub, desc, 10)
			f.AUs(15)
			f.partialAU() // part of an access unit is pending when the source goes
			n := len(c.wait(t, len(f.log)))

			pub.Close()
			within(t, testDeadline, pub.Done(), "the publisher to end")
			assert.NoError(t, pub.Err())

			if tc.want == gone {
				within(t, testDeadline, r.Done(), "the reader to end after the grace")
				assert.ErrorIs(t, r.Err(), ErrSourceGone)
				assert.ErrorIs(t, st.Err(), ErrSourceGone)
				assert.Nil(t, p.Stream())
				assert.Zero(t, st.pool.live.Load(), "units leaked")
				return
			}

			// During the outage the reader waits on the same stream.
			assert.False(t, st.Online())
			assert.Same(t, st, p.Stream())
			assert.NoError(t, r.Err())

			desc2 := tc.back()
			var pub2 *Publisher
			var err error
			if tc.source {
				pub2, err = p.PublishSource(desc2)
			} else {
				pub2, err = p.Publish(desc2)
			}
			require.NoError(t, err)

			if tc.want == changed {
				within(t, testDeadline, r.Done(), "the reader to end")
				assert.ErrorIs(t, r.Err(), ErrStreamChanged)
				assert.NotSame(t, st, pub2.Stream())
				assert.Zero(t, st.pool.live.Load(), "units leaked")
				return
			}

			require.Same(t, st, pub2.Stream())
			assert.True(t, st.Online())
			// The new session starts mid-GOP: what precedes its first
			// keyframe must not reach the reader.
			f2 := newFeeder(pub2, desc2, 10)
			f2.vg.n = 7
			f2.AUs(3)
			skipped := len(f2.log)
			f2.AUs(12)
			f.AUs(10) // the old session's publisher is ignored
			f2.AUs(2)
			want := f2.log[skipped:]
			units := c.wait(t, n+len(want))
			requireSame(t, want, units[n:])
			for _, u := range units[n:] {
				require.Equal(t, uint32(2), u.Gen)
				require.False(t, u.Cached)
			}
			assert.NoError(t, r.Err())
			assert.Equal(t, 1, st.ReaderCount())
		})
	}
}

func TestOutageNewReaderWaitsForComeback(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true, OutageGrace: time.Hour}, nil)
	desc := avDesc()
	p, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	addReader(t, st, ReaderConfig{})
	newFeeder(pub, desc, 10).AUs(15)
	pub.Close()

	// A reader joining during the outage gets no stale history.
	_, c := addReader(t, st, ReaderConfig{})
	desc2 := avDesc()
	pub2, err := p.Publish(desc2)
	require.NoError(t, err)
	f2 := newFeeder(pub2, desc2, 10)
	f2.AUs(5)
	units := c.wait(t, len(f2.log))
	requireSame(t, f2.log, units)
	assert.Equal(t, uint32(2), units[0].Gen)
}
