package hub

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrackReceivedCounts(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	for _, tr := range st.Tracks {
		p, b := tr.Received()
		assert.Zero(t, p)
		assert.Zero(t, b)
	}
	assert.True(t, st.LastPacket().IsZero(), "no packet yet")

	before := time.Now()
	f := newFeeder(pub, desc, 10)
	f.AUs(25)
	var wantPkts, wantBytes [2]uint64
	for _, s := range f.log {
		wantPkts[s.Track]++
		wantBytes[s.Track] += uint64(len(s.Pkt.Payload))
	}
	for i, tr := range st.Tracks {
		p, b := tr.Received()
		assert.Equal(t, wantPkts[i], p, "packets of track %d", i)
		assert.Equal(t, wantBytes[i], b, "bytes of track %d", i)
	}
	assert.False(t, st.LastPacket().Before(before), "last packet time")
	assert.False(t, st.LastPacket().After(time.Now()), "last packet time")
}

func TestStaleSessionPacketsAreNotCounted(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true, OutageGrace: time.Hour}, nil)
	desc := videoDesc(testSPS)
	p, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	addReader(t, st, ReaderConfig{}) // keeps the stream through the outage
	newFeeder(pub, desc, 10).AUs(3)
	n, _ := st.Tracks[0].Received()
	require.NotZero(t, n)
	since := st.OnlineSince()
	require.False(t, since.IsZero())

	pub.Close()
	eventually(t, func() bool { return !st.Online() }, "stream goes offline")
	assert.True(t, st.OnlineSince().IsZero(), "offline has no online-since")
	newFeeder(pub, desc, 10).AUs(3) // the old session: ignored
	n2, _ := st.Tracks[0].Received()
	assert.Equal(t, n, n2)

	pub2, err := p.Publish(desc)
	require.NoError(t, err)
	t.Cleanup(pub2.Close)
	require.Same(t, st, pub2.Stream(), "the stream survives the outage")
	assert.True(t, st.OnlineSince().After(since), "back online later")
	newFeeder(pub2, desc, 10).AUs(3)
	n3, _ := st.Tracks[0].Received()
	assert.Greater(t, n3, n, "the counters carry on across the outage")
}

func TestKeyframeInterval(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	f := newFeeder(pub, desc, 10)
	start := time.Now() // before the first keyframe arrives
	f.AUs(10)           // one keyframe
	assert.Zero(t, st.KeyframeInterval(), "one keyframe is no interval")

	const gap = 30 * time.Millisecond
	time.Sleep(gap) // the scenario: keyframes at least gap apart
	f.AUs(5)        // the second keyframe starts these
	elapsed := time.Since(start)
	got := st.KeyframeInterval()
	assert.GreaterOrEqual(t, got, gap)
	assert.LessOrEqual(t, got, elapsed)

	// Audio and non-key video do not change it.
	f.AUs(4)
	assert.Equal(t, got, st.KeyframeInterval())
}

func TestReaderDropsNeverGoDown(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	st := pub.Stream()
	assert.Zero(t, st.ReaderDrops())

	slow, c := addBlockedReader(t, st, ReaderConfig{Name: "slow", QueueSize: 1})
	f := newFeeder(pub, desc, 10)
	f.AUs(10)
	drops := st.ReaderDrops()
	require.NotZero(t, drops)
	assert.Equal(t, slow.Dropped(), drops)

	close(c.block)
	slow.Close()
	assert.Equal(t, drops, st.ReaderDrops(), "a reader that left keeps its drops in the total")

	slow2, c2 := addBlockedReader(t, st, ReaderConfig{Name: "slow2", QueueSize: 1})
	f.AUs(10)
	require.NotZero(t, slow2.Dropped())
	assert.Equal(t, drops+slow2.Dropped(), st.ReaderDrops())
	close(c2.block)
}

// What an output lost after the hub handed it over (OutputDrops) counts in
// the stream's drops, also after the reader left.
func TestOutputDropsCount(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	_, pub := publish(t, h, "cam", avDesc())
	st := pub.Stream()
	var lost atomic.Uint64
	r, _ := addReader(t, st, ReaderConfig{Name: "rtsp", OutputDrops: lost.Load})
	lost.Store(7)
	assert.Equal(t, uint64(7), st.ReaderDrops())
	assert.Zero(t, r.Dropped(), "the hub itself dropped nothing")
	r.Close()
	assert.Equal(t, uint64(7), st.ReaderDrops(), "a reader that left keeps its drops in the total")
}
