package hub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confTable is a Resolve whose answers a test changes, as a reload does.
type confTable struct {
	mu    sync.Mutex
	confs map[string]PathConf
}

func (c *confTable) resolve(name string) (PathConf, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.confs[name]
	return pc, ok
}

func (c *confTable) set(name string, pc PathConf) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.confs[name] = pc
}

func (c *confTable) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.confs, name)
}

func newTableHub(t *testing.T, confs map[string]PathConf, src *fakeSource, alwaysOn ...string) (*Hub, *confTable) {
	t.Helper()
	table := &confTable{confs: confs}
	h := &Hub{Resolve: table.resolve, AlwaysOn: alwaysOn, Logger: discardLogger()}
	if src != nil {
		h.NewSource = src.runner
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	return h, table
}

// ended asserts that r has ended with ErrPathClosed.
func ended(t *testing.T, r *Reader, what string) {
	t.Helper()
	within(t, testDeadline, r.Done(), what+" to end")
	assert.ErrorIs(t, r.Err(), ErrPathClosed, what)
}

// running asserts that r has not ended.
func running(t *testing.T, r *Reader, what string) {
	t.Helper()
	select {
	case <-r.Done():
		t.Fatalf("%s ended: %v", what, r.Err())
	default:
	}
}

// acquirePublish is publish without the Release at the end of the test.
func acquirePublish(t *testing.T, h *Hub, name string) (*Path, *Publisher) {
	t.Helper()
	p, err := h.Acquire(name)
	require.NoError(t, err)
	pub, err := p.Publish(avDesc())
	require.NoError(t, err)
	return p, pub
}

func TestHubReset(t *testing.T) {
	pub := PathConf{AcceptPublishers: true, OutageGrace: time.Hour}
	h, table := newTableHub(t, map[string]PathConf{"keep": pub, "gone": pub, "changed": pub}, nil)

	keepDesc := avDesc()
	keep, keepPub := publish(t, h, "keep", keepDesc)
	keepReader, keepGot := addReader(t, keepPub.Stream(), ReaderConfig{})
	feed := newFeeder(keepPub, keepDesc, 10)
	feed.AUs(5)

	// These two references are given back by hand, after the reset.
	gone, gonePub := acquirePublish(t, h, "gone")
	goneReader, _ := addReader(t, gonePub.Stream(), ReaderConfig{})
	changed, changedPub := acquirePublish(t, h, "changed")
	changedReader, _ := addReader(t, changedPub.Stream(), ReaderConfig{})

	table.remove("gone")
	table.set("changed", PathConf{AcceptPublishers: true, MaxReaders: 1})
	require.True(t, h.Reset("gone"))
	require.True(t, h.Reset("changed"))
	require.False(t, h.Reset("never-existed"), "a name without a live path is not an error")
	feed.AUs(5)

	ended(t, goneReader, "the reader of the removed path")
	ended(t, changedReader, "the reader of the changed path")
	assert.ErrorIs(t, gonePub.Err(), ErrPathClosed)
	assert.ErrorIs(t, changedPub.Err(), ErrPathClosed)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	_, err := gone.WaitStream(ctx)
	assert.ErrorIs(t, err, ErrPathClosed, "users still holding the old path see it closed")

	// The next Acquire resolves again: the removed path is unknown, the
	// changed one is a new path with the new settings.
	_, err = h.Acquire("gone")
	require.ErrorIs(t, err, ErrPathNotFound)
	again, err := h.Acquire("changed")
	require.NoError(t, err)
	t.Cleanup(again.Release)
	require.NotSame(t, changed, again)
	assert.Equal(t, 1, again.Conf().MaxReaders)
	_, err = again.Publish(avDesc())
	require.NoError(t, err, "the new path takes a publisher")
	// Giving back the old references touches neither the new path nor the hub.
	gone.Release()
	changed.Release()
	assert.Same(t, again, h.Lookup("changed"))

	// The untouched path kept its publisher, its reader and every unit.
	require.Same(t, keep, h.Lookup("keep"))
	running(t, keepReader, "the reader of the untouched path")
	require.NoError(t, keepPub.Err())
	requireSame(t, feed.log, keepGot.wait(t, len(feed.log)))
	assert.Equal(t, []string{"changed", "keep"}, h.PathNames())
}

func TestHubSetAlwaysOn(t *testing.T) {
	src := newFakeSource(avDesc())
	always := PathConf{HasSource: true, StartTimeout: testDeadline}
	h, table := newTableHub(t, map[string]PathConf{"a": always, "b": always, "c": always}, src, "a", "b")
	within(t, testDeadline, src.starts, "the first always-on source")
	within(t, testDeadline, src.starts, "the second always-on source")

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	a := h.Lookup("a")
	st, err := a.WaitStream(ctx)
	require.NoError(t, err)
	aReader, _ := addReader(t, st, ReaderConfig{})

	// b leaves the list (the gateway resets it too, as its config changed),
	// c joins, a stays: its source is not restarted.
	table.remove("b")
	require.True(t, h.Reset("b"))
	within(t, testDeadline, src.stops, "b's source to stop")
	require.NoError(t, h.SetAlwaysOn([]string{"a", "c", "a"}))
	within(t, testDeadline, src.starts, "c's source to start")
	starts, stops := src.counts()
	assert.Equal(t, 3, starts, "a's source is not restarted")
	assert.Equal(t, 1, stops)
	assert.Same(t, a, h.Lookup("a"))
	running(t, aReader, "the reader of the unchanged always-on path")
	assert.Equal(t, []string{"a", "c"}, h.PathNames())

	// A changed always-on path: reset, then listed again, it comes back as
	// a new path with a new source.
	require.True(t, h.Reset("a"))
	ended(t, aReader, "the reader of the reset path")
	within(t, testDeadline, src.stops, "a's old source to stop")
	require.NoError(t, h.SetAlwaysOn([]string{"a", "c"}))
	within(t, testDeadline, src.starts, "a's new source to start")
	a2 := h.Lookup("a")
	require.NotNil(t, a2)
	require.NotSame(t, a, a2)
	_, err = a2.WaitStream(ctx)
	require.NoError(t, err)

	// An unknown name is reported; the rest of the list still applies.
	err = h.SetAlwaysOn([]string{"c", "nope"})
	require.ErrorIs(t, err, ErrPathNotFound)
	assert.Contains(t, err.Error(), `"nope"`)
	starts, stops = src.counts()
	assert.Equal(t, 4, starts)
	assert.Equal(t, 2, stops)

	h.Close()
	assert.ErrorIs(t, h.SetAlwaysOn([]string{"c"}), ErrPathClosed)
}

// A dropped on-demand path is stopped like any other path without users.
func TestHubSetAlwaysOnReleases(t *testing.T) {
	src := newFakeSource(avDesc())
	conf := PathConf{HasSource: true, OnDemand: true, CloseAfter: time.Millisecond}
	h, _ := newTableHub(t, map[string]PathConf{"a": conf}, src)
	require.NoError(t, h.SetAlwaysOn([]string{"a"}))
	within(t, testDeadline, src.starts, "the source to start")
	require.NoError(t, h.SetAlwaysOn(nil))
	within(t, testDeadline, src.stops, "the source to stop once no longer held")
	eventually(t, func() bool { return h.Lookup("a") == nil }, "the idle path to be forgotten")
}
