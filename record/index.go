package record

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// journalName is the index file in each path's directory: one JSON object
// per line, appended when a segment opens, closes or is deleted, and
// rewritten compactly when the store loads the path. A reader of the last
// line after a crash may find it torn; it is skipped and the directory
// tells the truth.
const journalName = "index.jsonl"

// journalEntry is one line of the journal.
type journalEntry struct {
	File    string    `json:"file"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Size    int64     `json:"size,omitempty"`
	Open    bool      `json:"open,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
}

// segment is one segment file in a path's index.
type segment struct {
	name       string
	start, end time.Time
	size       int64
	// open says the recorder is still writing the file.
	open bool
	// lay is the file's init, read on first use (set once).
	lay *layout
	// frags lists the fragments; filled as they are written for a
	// segment being recorded, on first use otherwise (fragsLoaded).
	frags       []fragInfo
	fragsLoaded bool
}

// pathIndex is the in-memory index of one path's recordings. Its segment
// list is guarded by mu; the journal is written only by the path's
// recorder goroutine (and by load, before the recorder starts).
type pathIndex struct {
	name, dir string
	logger    *slog.Logger

	loadOnce sync.Once
	loadErr  error

	mu     sync.Mutex
	segs   []*segment // by start time
	cached int        // closed segments whose fragments are held in memory

	// jmu serialises the writers of the journal (the muxer and the
	// retention of one recorder), so a compaction never loses a line. It
	// guards only the journal file, never the segment list.
	jmu     sync.Mutex
	journal *os.File
	jlines  int // lines appended since the journal was last rewritten
}

// maxCachedSegments bounds the fragment tables of closed segments kept in
// memory per path (each about 60 entries for a 1-minute segment).
const maxCachedSegments = 2048

// load reads the journal and reconciles it with the directory, once. A
// segment the journal does not list as closed with its current size (one
// a crash interrupted) is scanned: its end is its last whole fragment, a
// torn fragment after it is cut off, and a file without a fragment is
// removed.
func (x *pathIndex) load() error {
	x.loadOnce.Do(func() { x.loadErr = x.doLoad() })
	return x.loadErr
}

func (x *pathIndex) doLoad() error {
	entries, err := os.ReadDir(x.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("path %s: list %s: %w", x.name, x.dir, err)
	}
	journal := readJournal(filepath.Join(x.dir, journalName))
	var segs []*segment
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if _, err := parseSegmentName(e.Name()); err != nil {
			continue
		}
		file := filepath.Join(x.dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		if j, ok := journal[e.Name()]; ok && !j.Open && j.Size == info.Size() && j.End.After(j.Start) {
			segs = append(segs, &segment{name: e.Name(), start: j.Start, end: j.End, size: j.Size})
			continue
		}
		seg, err := recoverSegment(file, info.Size())
		switch {
		case errors.Is(err, errUnplayable):
			x.logger.Warn("removing a segment without a playable fragment", "file", file, "error", err)
			if rerr := os.Remove(file); rerr != nil {
				x.logger.Warn("cannot remove the segment", "file", file, "error", rerr)
			}
			continue
		case errors.Is(err, errNotCut):
			x.logger.Warn("segment kept with a torn end", "file", file, "error", err)
		case err != nil:
			x.logger.Warn("cannot recover a segment: leaving it out", "file", file, "error", err)
			continue
		}
		if seg.size < info.Size() && err == nil {
			x.logger.Warn("cut a torn fragment off a segment", "file", file, "from", info.Size(), "to", seg.size)
		}
		seg.name = e.Name()
		segs = append(segs, seg)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start.Before(segs[j].start) })
	if err := writeJournal(x.dir, segs); err != nil {
		// A read-only directory (an archive) still plays; the next load
		// scans what the journal cannot vouch for again.
		x.logger.Warn("cannot rewrite the recordings index", "dir", x.dir, "error", err)
	}
	x.mu.Lock()
	x.segs = segs
	for _, s := range segs {
		if s.fragsLoaded {
			x.cached++
		}
	}
	x.mu.Unlock()
	return nil
}

// errUnplayable says a segment file holds no whole fragment.
var errUnplayable = errors.New("no whole fragment")

// errNotCut says the torn end of a segment file could not be cut off.
var errNotCut = errors.New("cannot cut the torn fragment")

// recoverSegment scans a segment file the journal cannot vouch for and
// cuts it to its whole fragments (keeping it as is where it cannot be
// written). errUnplayable means it has nothing to play.
func recoverSegment(file string, size int64) (*segment, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lay, err := readLayout(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnplayable, err)
	}
	frags, valid := scanFragments(f, size, lay)
	if len(frags) == 0 {
		return nil, errUnplayable
	}
	seg := &segment{start: frags[0].start, size: valid, lay: lay, frags: frags, fragsLoaded: true}
	for _, fi := range frags {
		if fi.end.After(seg.end) {
			seg.end = fi.end
		}
	}
	if valid < size {
		if err := os.Truncate(file, valid); err != nil {
			// Still playable: every range served stays within valid.
			return seg, fmt.Errorf("%w: %w", errNotCut, err)
		}
	}
	return seg, nil
}

// readJournal returns the last entry of every file the journal names.
func readJournal(file string) map[string]journalEntry {
	out := map[string]journalEntry{}
	f, err := os.Open(file)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.File == "" {
			continue
		}
		if e.Deleted {
			delete(out, e.File)
			continue
		}
		out[e.File] = e
	}
	return out
}

// writeJournal replaces the journal with one line per segment.
func writeJournal(dir string, segs []*segment) error {
	tmp := filepath.Join(dir, journalName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write the index: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, s := range segs {
		if err := enc.Encode(journalEntry{File: s.name, Start: s.start, End: s.end, Size: s.size, Open: s.open}); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", tmp, err)
		}
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, journalName))
	}
	if err != nil {
		return fmt.Errorf("write the index %s: %w", tmp, err)
	}
	return nil
}

// openJournal opens the journal for appending; the recorder calls it
// before it writes anything and closeJournal when it has stopped.
func (x *pathIndex) openJournal() error {
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		return fmt.Errorf("path %s: create %s: %w", x.name, x.dir, err)
	}
	f, err := os.OpenFile(filepath.Join(x.dir, journalName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("path %s: open the index: %w", x.name, err)
	}
	x.jmu.Lock()
	x.journal, x.jlines = f, 0
	x.jmu.Unlock()
	return nil
}

// appendJournal adds a line to the journal. A failure is logged: the
// directory stays the truth and the next load reconciles. When the
// appended lines outgrow the segments they describe, the journal is
// rewritten compactly, so it stays small on a gateway that never restarts.
func (x *pathIndex) appendJournal(e journalEntry) {
	x.jmu.Lock()
	defer x.jmu.Unlock()
	if x.journal == nil {
		return
	}
	b, _ := json.Marshal(e)
	if _, err := x.journal.Write(append(b, '\n')); err != nil {
		x.logger.Warn("cannot append to the recordings index", "file", x.journal.Name(), "error", err)
		return
	}
	x.jlines++
	x.mu.Lock()
	n := len(x.segs)
	x.mu.Unlock()
	if x.jlines > 2*n+journalSlack {
		x.compactJournalLocked()
	}
}

// journalSlack is how many lines the journal may hold beyond two per
// segment before it is rewritten.
const journalSlack = 1024

// compactJournalLocked rewrites the journal from the segment list; jmu is
// held.
func (x *pathIndex) compactJournalLocked() {
	x.mu.Lock()
	segs := make([]*segment, len(x.segs))
	for i, s := range x.segs {
		cp := *s
		segs[i] = &cp
	}
	x.mu.Unlock()
	if err := writeJournal(x.dir, segs); err != nil {
		x.logger.Warn("cannot rewrite the recordings index", "dir", x.dir, "error", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(x.dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		x.logger.Warn("cannot reopen the recordings index", "dir", x.dir, "error", err)
		return
	}
	x.journal.Close()
	x.journal, x.jlines = f, 0
}

// closeJournal closes the journal file; the recorder calls it when it ends.
func (x *pathIndex) closeJournal() {
	x.jmu.Lock()
	defer x.jmu.Unlock()
	if x.journal != nil {
		x.journal.Close()
		x.journal = nil
	}
}

// segmentOpened adds the segment the recorder just created.
func (x *pathIndex) segmentOpened(name string, start time.Time, lay *layout) {
	x.mu.Lock()
	seg := &segment{name: name, start: start, end: start, size: int64(len(lay.init)), open: true, lay: lay, fragsLoaded: true}
	i := sort.Search(len(x.segs), func(i int) bool { return x.segs[i].start.After(start) })
	x.segs = slices.Insert(x.segs, i, seg)
	x.mu.Unlock()
	x.appendJournal(journalEntry{File: name, Start: start, Open: true})
}

// fragmentWritten records a fragment the recorder appended to name.
func (x *pathIndex) fragmentWritten(name string, fi fragInfo, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	seg := x.findLocked(name)
	if seg == nil {
		return
	}
	if len(seg.frags) == 0 || fi.start.Before(seg.start) {
		seg.start = fi.start
	}
	seg.frags = append(seg.frags, fi)
	if fi.end.After(seg.end) {
		seg.end = fi.end
	}
	seg.size = size
}

// segmentClosed records that the recorder finished name. A segment that
// got no fragment is removed.
func (x *pathIndex) segmentClosed(name string, size int64) {
	x.mu.Lock()
	seg := x.findLocked(name)
	if seg == nil {
		x.mu.Unlock()
		return
	}
	seg.open = false
	seg.size = size
	empty := len(seg.frags) == 0
	if empty {
		x.removeLocked(seg)
	} else {
		x.cached++
	}
	e := journalEntry{File: name, Start: seg.start, End: seg.end, Size: size}
	x.mu.Unlock()
	if empty {
		file := filepath.Join(x.dir, name)
		if err := os.Remove(file); err != nil {
			x.logger.Warn("cannot remove an empty segment", "file", file, "error", err)
		}
		e = journalEntry{File: name, Deleted: true}
	}
	x.appendJournal(e)
}

func (x *pathIndex) findLocked(name string) *segment {
	for i := len(x.segs) - 1; i >= 0; i-- {
		if x.segs[i].name == name {
			return x.segs[i]
		}
	}
	return nil
}

func (x *pathIndex) removeLocked(seg *segment) {
	if i := slices.Index(x.segs, seg); i >= 0 {
		x.segs = slices.Delete(x.segs, i, i+1)
		if seg.fragsLoaded && !seg.open {
			x.cached--
		}
	}
}

// retain deletes the oldest closed segments that ended before now-maxAge
// (maxAge 0 keeps any age) and, oldest first, as many as needed to bring
// the path's total size within maxBytes (0: no bound). The segment being
// written is never deleted. It returns the deleted files' count.
func (x *pathIndex) retain(now time.Time, maxAge time.Duration, maxBytes int64) int {
	x.mu.Lock()
	var total int64
	for _, s := range x.segs {
		total += s.size
	}
	var victims []*segment
	for _, s := range slices.Clone(x.segs) {
		if s.open {
			break
		}
		old := maxAge > 0 && s.end.Before(now.Add(-maxAge))
		big := maxBytes > 0 && total > maxBytes
		if !old && !big {
			break
		}
		victims = append(victims, s)
		total -= s.size
		x.removeLocked(s)
	}
	x.mu.Unlock()
	for _, s := range victims {
		file := filepath.Join(x.dir, s.name)
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			x.logger.Warn("retention: cannot delete a segment", "file", file, "error", err)
		}
		x.appendJournal(journalEntry{File: s.name, Deleted: true})
	}
	return len(victims)
}

// snapshot copies the segments that end after from and start before to
// (zero times: unbounded). The copies share layouts and fragment tables,
// which are never modified in place.
func (x *pathIndex) snapshot(from, to time.Time) []segment {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []segment
	for _, s := range x.segs {
		if !from.IsZero() && !s.end.After(from) {
			continue
		}
		if !to.IsZero() && !s.start.Before(to) {
			break
		}
		out = append(out, *s)
	}
	return out
}

// layoutOf returns the init of a segment, reading it on first use.
func (x *pathIndex) layoutOf(name string) (*layout, error) {
	x.mu.Lock()
	seg := x.findLocked(name)
	if seg != nil && seg.lay != nil {
		lay := seg.lay
		x.mu.Unlock()
		return lay, nil
	}
	x.mu.Unlock()
	if seg == nil {
		return nil, fmt.Errorf("segment %s/%s: %w", x.name, name, fs.ErrNotExist)
	}
	file := filepath.Join(x.dir, name)
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	lay, err := readLayout(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	x.mu.Lock()
	if seg.lay == nil {
		seg.lay = lay
	}
	lay = seg.lay
	x.mu.Unlock()
	return lay, nil
}

// fragmentsOf returns the fragments of a segment (those written so far
// for the one being recorded), scanning the file on first use.
func (x *pathIndex) fragmentsOf(name string) ([]fragInfo, bool, error) {
	x.mu.Lock()
	seg := x.findLocked(name)
	if seg != nil && seg.fragsLoaded {
		frags, open := seg.frags, seg.open
		x.mu.Unlock()
		return frags, open, nil
	}
	x.mu.Unlock()
	if seg == nil {
		return nil, false, fmt.Errorf("segment %s/%s: %w", x.name, name, fs.ErrNotExist)
	}
	lay, err := x.layoutOf(name)
	if err != nil {
		return nil, false, err
	}
	file := filepath.Join(x.dir, name)
	f, err := os.Open(file)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	frags, _ := scanFragments(f, info.Size(), lay)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !seg.fragsLoaded {
		if x.cached >= maxCachedSegments {
			for _, s := range x.segs {
				if s.fragsLoaded && !s.open {
					s.frags, s.fragsLoaded = nil, false
				}
			}
			x.cached = 0
		}
		seg.frags, seg.fragsLoaded = frags, true
		x.cached++
	}
	return seg.frags, seg.open, nil
}
