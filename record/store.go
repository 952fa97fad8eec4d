// Package record keeps the media of chosen paths on disk and plays it back.
// A recorder per path reads the path's stream from the hub and writes
// fragmented MP4 segment files (one init, then a fragment per keyframe or
// part duration, each written as it completes) into a directory per path;
// an index per path lists the segments without a directory scan per
// request. The Store serves the recordings as a timeline.Source (for RTSP
// playback with seek), as time spans, as HLS VOD playlists and as MP4
// downloads.
package record

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/streamgate/streamgate/gateway/hub"
)

// DefaultDirectory is where recordings go when Store.Directory is empty.
const DefaultDirectory = "./recordings"

// Paths is the hub as recorders use it.
type Paths interface {
	// Acquire takes a reference on a path, which keeps its source running.
	Acquire(name string) (*hub.Path, error)
}

// Settings configure the recording of one path.
type Settings struct {
	// SegmentDuration is how long a segment file gets before the next
	// keyframe starts a new one. Defaults to 1m.
	SegmentDuration time.Duration
	// PartDuration is the length a fragment aims at: a fragment ends at
	// every keyframe and when it reaches this length, so it also bounds
	// what a crash can lose. Defaults to 1s.
	PartDuration time.Duration
	// DeleteAfter deletes segments that ended longer ago; 0 keeps them.
	DeleteAfter time.Duration
	// MaxBytes bounds the path's recordings on disk, deleting the oldest
	// segments first; 0 is no bound.
	MaxBytes int64
}

func (s Settings) withDefaults() Settings {
	if s.SegmentDuration <= 0 {
		s.SegmentDuration = time.Minute
	}
	if s.PartDuration <= 0 {
		s.PartDuration = time.Second
	}
	return s
}

// Store owns the recordings directory: the recorders of recorded paths and
// the index of every path that has recordings. Configure it by its fields,
// then Start it; Close stops the recorders.
type Store struct {
	// Directory holds one folder per path (a path "site/door" records into
	// Directory/site/door). Defaults to DefaultDirectory.
	Directory string
	// Paths is the hub recorders read from. Required to record.
	Paths Paths
	// Logger receives the store's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// RetentionInterval is how often recorders apply DeleteAfter and
	// MaxBytes besides when a segment closes. Defaults to 1m.
	RetentionInterval time.Duration
	// RetryInterval is how long a recorder waits before it tries again
	// after its path had no stream (a publisher path waiting for its
	// publisher is looked at this often) or writing failed. Defaults to 1s.
	RetryInterval time.Duration

	mu      sync.Mutex
	started bool
	closed  bool
	indexes map[string]*pathIndex
	recs    map[string]*recorder
}

// Start makes the store usable. It does not touch the disk: a path's
// folder is created when its recorder first writes.
func (s *Store) Start() error {
	if s.Directory == "" {
		s.Directory = DefaultDirectory
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.RetentionInterval <= 0 {
		s.RetentionInterval = time.Minute
	}
	if s.RetryInterval <= 0 {
		s.RetryInterval = time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexes = make(map[string]*pathIndex)
	s.recs = make(map[string]*recorder)
	s.started = true
	return nil
}

// Close stops every recorder (each closes its segment) and waits for
// them. It is idempotent.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed || !s.started {
		s.closed = true
		s.mu.Unlock()
		return
	}
	s.closed = true
	recs := s.recs
	s.recs = nil
	s.mu.Unlock()
	for _, r := range recs {
		r.stop()
	}
}

// index returns the index of a path, loading it on first use.
func (s *Store) index(path string) (*pathIndex, error) {
	if !ValidPathName(path) {
		return nil, fmt.Errorf("invalid path name %q: %w", path, ErrNotFound)
	}
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil, fmt.Errorf("record: the store is not started")
	}
	x := s.indexes[path]
	if x == nil {
		x = &pathIndex{
			name:   path,
			dir:    filepath.Join(s.Directory, filepath.FromSlash(path)),
			logger: s.Logger.With("path", path, "component", "record"),
		}
		s.indexes[path] = x
	}
	s.mu.Unlock()
	if err := x.load(); err != nil {
		return nil, err
	}
	return x, nil
}

// Record starts recording path with set, or restarts its recorder when
// the settings changed; a recorder with the same settings is left alone.
func (s *Store) Record(path string, set Settings) error {
	set = set.withDefaults()
	x, err := s.index(path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("record: the store is closed")
	}
	old := s.recs[path]
	if old != nil && old.set == set {
		s.mu.Unlock()
		return nil
	}
	delete(s.recs, path)
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
	r := newRecorder(s, x, set)
	s.mu.Lock()
	if s.closed || s.recs[path] != nil {
		// Closed, or another Record won the race meanwhile.
		s.mu.Unlock()
		return nil
	}
	s.recs[path] = r
	s.mu.Unlock()
	r.start()
	return nil
}

// Stop stops recording path (its recordings stay).
func (s *Store) Stop(path string) {
	s.mu.Lock()
	r := s.recs[path]
	delete(s.recs, path)
	s.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

// Apply makes the recorded paths exactly those of paths: it stops the
// others and starts or restarts (Record) each listed one.
func (s *Store) Apply(paths map[string]Settings) error {
	var errs []error
	for _, name := range s.Recording() {
		if _, ok := paths[name]; !ok {
			s.Stop(name)
		}
	}
	names := make([]string, 0, len(paths))
	for n := range paths {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := s.Record(n, paths[n]); err != nil {
			errs = append(errs, fmt.Errorf("record %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Recording lists the paths being recorded, sorted.
func (s *Store) Recording() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.recs))
	for n := range s.recs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Span is a stretch of time a path has recordings for without a gap.
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// spanGap is the largest gap between two segments that still counts as
// one span (the last samples of a segment and the first ones of the next
// are timed independently by their tracks).
const spanGap = 500 * time.Millisecond

// Spans lists the contiguous stretches of recordings of path that overlap
// [from, to) (zero times leave that side open), clipped to it. Segments
// that touch merge into one span. A path with nothing recorded there gets
// an empty list.
func (s *Store) Spans(path string, from, to time.Time) ([]Span, error) {
	x, err := s.index(path)
	if err != nil {
		return nil, err
	}
	segs := x.snapshot(from, to)
	var out []Span
	for _, sg := range segs {
		if sg.end.Equal(sg.start) {
			continue
		}
		if n := len(out); n > 0 && !sg.start.After(out[n-1].End.Add(spanGap)) {
			if sg.end.After(out[n-1].End) {
				out[n-1].End = sg.end
			}
			continue
		}
		out = append(out, Span{Start: sg.start, End: sg.end})
	}
	for i := range out {
		if !from.IsZero() && out[i].Start.Before(from) {
			out[i].Start = from
		}
		if !to.IsZero() && out[i].End.After(to) {
			out[i].End = to
		}
	}
	return out, nil
}

// recorderFor returns the running recorder of path, or nil (tests).
func (s *Store) recorderFor(path string) *recorder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recs[path]
}
