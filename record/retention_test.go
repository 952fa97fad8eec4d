package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segmentsOf lists the names and sizes of a path's indexed segments.
func segmentsOf(t *testing.T, s *Store, path string) ([]string, []int64) {
	t.Helper()
	x, err := s.index(path)
	require.NoError(t, err)
	var names []string
	var sizes []int64
	for _, sg := range x.snapshot(time.Time{}, time.Time{}) {
		names = append(names, sg.name)
		sizes = append(sizes, sg.size)
	}
	return names, sizes
}

// TestRetention deletes the oldest segments by age and by size, from the
// index, the disk and (through the journal) the next start.
func TestRetention(t *testing.T) {
	cases := []struct {
		name     string
		now      time.Duration // after testBase
		maxAge   time.Duration
		maxBytes func(sizes []int64) int64
		kept     int
	}{
		{"age: two ended more than 1h ago", time.Hour + 5*time.Second, time.Hour, nil, 1},
		{"age: none old enough", time.Hour, time.Hour, nil, 3},
		{"size: one over", 0, 0, func(s []int64) int64 { return s[0] + s[1] + s[2] - 1 }, 2},
		{"size: room for the newest only", 0, 0, func(s []int64) int64 { return s[2] }, 1},
		{"size and age", time.Hour + 3*time.Second, time.Hour, func(s []int64) int64 { return s[0] + s[1] + s[2] }, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.recordClip("cam", clipFPS, Settings{SegmentDuration: 2 * time.Second, PartDuration: time.Second}, testBase, 6*time.Second)
			e.store.Stop("cam")
			names, sizes := segmentsOf(t, e.store, "cam")
			require.Len(t, names, 3, "2 s segments of 6 s")
			var maxBytes int64
			if tc.maxBytes != nil {
				maxBytes = tc.maxBytes(sizes)
			}
			x, err := e.store.index("cam")
			require.NoError(t, err)
			require.NoError(t, x.openJournal())
			deleted := x.retain(testBase.Add(tc.now), tc.maxAge, maxBytes)
			x.closeJournal()
			assert.Equal(t, 3-tc.kept, deleted)
			left, _ := segmentsOf(t, e.store, "cam")
			assert.Equal(t, names[3-tc.kept:], left, "the oldest go first")
			assert.Equal(t, names[3-tc.kept:], e.segmentFiles("cam"), "and their files")

			// A new store on the same directory sees the same.
			s2 := &Store{Directory: e.dir, Logger: discardLogger()}
			require.NoError(t, s2.Start())
			defer s2.Close()
			again, _ := segmentsOf(t, s2, "cam")
			assert.Equal(t, left, again)
		})
	}
}

// TestRetentionWhileRecording: a recorder applies its size bound as
// segments close and never deletes the segment it writes.
func TestRetentionWhileRecording(t *testing.T) {
	e := newTestEnv(t)
	clip := clips.Get(t, clipFPS)
	set := Settings{SegmentDuration: time.Second, PartDuration: 500 * time.Millisecond, MaxBytes: 1}
	require.NoError(t, e.store.Record("cam", set))
	src := publishClip(t, e.hub, "cam", clip, testBase)
	src.waitReader(1)
	src.advance(4 * time.Second)
	e.waitUnits("cam", src.vi+src.ai)
	// Segments closed so far are over the bound and go; the open one stays.
	deadline := time.Now().Add(testDeadline)
	for {
		names, _ := segmentsOf(t, e.store, "cam")
		x, _ := e.store.index("cam")
		x.mu.Lock()
		open := len(x.segs) == 1 && x.segs[0].open
		x.mu.Unlock()
		if open && len(e.segmentFiles("cam")) == 1 {
			assert.Len(t, names, 1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention left %v", e.segmentFiles("cam"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	src.close()
}

// TestIndexRebuild: after a crash (the journal still says "open", a torn
// fragment at the end of the last file, a file with nothing but an init)
// a new store lists what is playable, cuts the torn bytes, removes the
// empty file and plays every whole fragment.
func TestIndexRebuild(t *testing.T) {
	e := newTestEnv(t)
	set := Settings{SegmentDuration: 2 * time.Second, PartDuration: 500 * time.Millisecond}
	src := e.recordClip("cam", clipFPS, set, testBase, 6*time.Second)
	e.store.Stop("cam")
	names, sizes := segmentsOf(t, e.store, "cam")
	spans, err := e.store.Spans("cam", time.Time{}, time.Time{})
	require.NoError(t, err)
	dir := filepath.Join(e.dir, "cam")

	// The crash: the last segment is "open" in the journal and ends with
	// half a fragment; a segment was created but got no fragment.
	last := filepath.Join(dir, names[len(names)-1])
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0, 0, 0x10, 0, 'm', 'o', 'o', 'f', 0, 0, 0, 0x10})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	j, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = j.WriteString(`{"file":"` + names[len(names)-1] + `","start":"2026-11-25T10:00:04Z","open":true}` + "\n" + `{"file":"torn`)
	require.NoError(t, err)
	require.NoError(t, j.Close())
	x, err := e.store.index("cam")
	require.NoError(t, err)
	lay, err := x.layoutOf(names[0])
	require.NoError(t, err)
	empty := segmentName(src.frameTime(src.vi))
	require.NoError(t, os.WriteFile(filepath.Join(dir, empty), lay.init, 0o644))

	s2 := &Store{Directory: e.dir, Logger: discardLogger()}
	require.NoError(t, s2.Start())
	defer s2.Close()
	got, gotSizes := segmentsOf(t, s2, "cam")
	assert.Equal(t, names, got, "the empty segment is gone")
	assert.Equal(t, sizes, gotSizes, "the torn fragment is cut off")
	st, err := os.Stat(last)
	require.NoError(t, err)
	assert.Equal(t, sizes[len(sizes)-1], st.Size())
	_, err = os.Stat(filepath.Join(dir, empty))
	assert.True(t, os.IsNotExist(err), "a file without a fragment is removed")
	spans2, err := s2.Spans("cam", time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, spans, spans2, "the end of the last segment comes from its fragments")

	journal, err := os.ReadFile(filepath.Join(dir, journalName))
	require.NoError(t, err)
	assert.Equal(t, len(names), strings.Count(string(journal), "\n"), "the journal is rewritten, one line per segment")

	tl, err := s2.Source("cam")
	require.NoError(t, err)
	video := playVideo(t, tl, testBase)
	assert.Equal(t, seq(0, src.vi), video)
}

// TestJournalCompaction: a recorder that runs for months rewrites its
// journal when the appended lines outgrow its segments.
func TestJournalCompaction(t *testing.T) {
	dir := t.TempDir()
	x := &pathIndex{name: "cam", dir: dir, logger: discardLogger()}
	require.NoError(t, x.load())
	require.NoError(t, x.openJournal())
	defer x.closeJournal()
	lay := &layout{init: []byte("init"), key: -1}
	for i := range 3 {
		name := segmentName(testBase.Add(time.Duration(i) * time.Minute))
		x.segmentOpened(name, testBase.Add(time.Duration(i)*time.Minute), lay)
		x.fragmentWritten(name, fragInfo{start: testBase.Add(time.Duration(i) * time.Minute), end: testBase.Add(time.Duration(i+1) * time.Minute)}, 100)
		x.segmentClosed(name, 100)
	}
	for range journalSlack + 1 {
		x.appendJournal(journalEntry{File: "gone.mp4", Deleted: true})
	}
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	require.NoError(t, err)
	assert.Less(t, strings.Count(string(b), "\n"), 100, "rewritten")
	j := readJournal(filepath.Join(dir, journalName))
	assert.Len(t, j, 3, "one entry per segment")
	x.appendJournal(journalEntry{File: "later.mp4", Deleted: true})
	b2, err := os.ReadFile(filepath.Join(dir, journalName))
	require.NoError(t, err)
	assert.Greater(t, len(b2), len(b), "appends go on after the rewrite")
}
