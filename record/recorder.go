package record

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/streamgate/streamgate/gateway/hub"
)

// recorder records one path: one goroutine, owned by the Store, that holds
// a reference on the path (so its source runs), reads each stream the path
// gets through a hub reader and applies retention. The muxer runs in the
// hub reader's goroutine while a stream is read, and in the recorder's
// goroutine only after that reader has ended.
type recorder struct {
	store  *Store
	x      *pathIndex
	set    Settings
	logger *slog.Logger

	// segClosed is poked by the muxer when a segment closes, so retention
	// runs in the recorder's goroutine.
	segClosed chan struct{}

	// units counts the access units handed to the muxer (tests wait on it).
	units atomic.Uint64

	cancel context.CancelFunc
	done   chan struct{}
}

func newRecorder(s *Store, x *pathIndex, set Settings) *recorder {
	return &recorder{
		store:     s,
		x:         x,
		set:       set,
		logger:    x.logger,
		segClosed: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

func (r *recorder) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
}

// stop ends the recorder and waits for it; the open segment is closed.
func (r *recorder) stop() {
	r.cancel()
	<-r.done
}

func (r *recorder) run(ctx context.Context) {
	defer close(r.done)
	if err := r.x.openJournal(); err != nil {
		r.logger.Error("cannot record", "error", err)
		return
	}
	defer r.x.closeJournal()
	r.logger.Info("recording on", "dir", r.x.dir, "segment", r.set.SegmentDuration, "part", r.set.PartDuration,
		"deleteAfter", r.set.DeleteAfter, "maxBytes", r.set.MaxBytes)
	defer r.logger.Info("recording off")
	ticker := time.NewTicker(r.store.RetentionInterval)
	defer ticker.Stop()
	r.retain()
	var lastErr string
	for {
		err := r.session(ctx, ticker)
		if ctx.Err() != nil {
			return
		}
		// Log a failure once, not at every retry.
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			if errors.Is(err, hub.ErrNoStream) || errors.Is(err, hub.ErrSourceGone) || errors.Is(err, hub.ErrStreamChanged) || errors.Is(err, hub.ErrPathClosed) {
				r.logger.Info("recording waits for the stream", "reason", err)
			} else {
				r.logger.Warn("recording interrupted", "error", err)
			}
		}
		if !r.wait(ctx, ticker, r.store.RetryInterval) {
			return
		}
	}
}

// wait sleeps for d, applying retention when due; false when ctx ended.
func (r *recorder) wait(ctx context.Context, ticker *time.Ticker, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-ticker.C:
			r.retain()
		case <-r.segClosed:
			r.retain()
		}
	}
}

// session records the path from one Acquire until its path goes away.
func (r *recorder) session(ctx context.Context, ticker *time.Ticker) error {
	p, err := r.store.Paths.Acquire(r.x.name)
	if err != nil {
		return err
	}
	defer p.Release()
	for {
		st, err := p.WaitStream(ctx)
		switch {
		case errors.Is(err, hub.ErrNoStream):
			// A publisher path without a publisher, or a source that did
			// not come up yet: keep the reference and look again.
			if !r.wait(ctx, ticker, r.store.RetryInterval) {
				return ctx.Err()
			}
			continue
		case err != nil:
			return err
		}
		err = r.record(ctx, st, ticker)
		if ctx.Err() != nil || errors.Is(err, hub.ErrPathClosed) {
			return err
		}
		if err != nil && !errors.Is(err, hub.ErrSourceGone) && !errors.Is(err, hub.ErrStreamChanged) {
			return err
		}
		r.logger.Info("recording waits for the stream", "reason", err)
	}
}

// record writes one stream until it ends or ctx does.
func (r *recorder) record(ctx context.Context, st *hub.Stream, ticker *time.Ticker) error {
	formats := make([]format.Format, len(st.Tracks))
	for i, t := range st.Tracks {
		formats[i] = t.Format
	}
	m, byTrack, err := newMuxer(muxConfig{segmentDuration: r.set.SegmentDuration, partDuration: r.set.PartDuration}, r.x, formats)
	if err != nil {
		// Nothing to write: wait for another stream.
		r.logger.Warn("not recording this stream", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.Done():
			return st.Err()
		}
	}
	m.onClose = func() {
		select {
		case r.segClosed <- struct{}{}:
		default:
		}
	}
	var gen uint32
	first := true
	rd, err := st.AddReader(hub.ReaderConfig{
		Name:      "recorder",
		Internal:  true,
		QueueSize: 4096,
		Start:     hub.StartLatestGOP,
		Want:      func(t *hub.Track) bool { return byTrack[t.Index] != nil },
		OnUnit: func(u *hub.Unit, _ bool) error {
			if !u.AUStart {
				return nil
			}
			if first || u.Gen != gen {
				// A new source session: its timestamps start over.
				if !first {
					if err := m.restart(); err != nil {
						return err
					}
				}
				first, gen = false, u.Gen
			}
			r.units.Add(1)
			au, err := u.AccessUnit()
			if err != nil {
				return nil // a frame the hub could not reassemble
			}
			return m.write(byTrack[u.Track.Index], au.PTS, au.NTP, au.RandomAccess, au.Payloads)
		},
	})
	if err != nil {
		return err
	}
	var tracks []string
	for _, t := range m.tracks {
		tracks = append(tracks, hub.CodecName(t.format))
	}
	r.logger.Info("recording the stream", "tracks", tracks)
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			rd.Close()
			<-rd.Done()
			waiting = false
		case <-rd.Done():
			waiting = false
		case <-ticker.C:
			r.retain()
		case <-r.segClosed:
			r.retain()
		}
	}
	// The reader's goroutine has ended: the muxer is ours now.
	if err := m.closeSegment(true); err != nil {
		r.logger.Warn("closing the segment failed", "error", err)
	}
	r.retain()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return rd.Err()
}

// retain applies the path's retention.
func (r *recorder) retain() {
	if r.set.DeleteAfter <= 0 && r.set.MaxBytes <= 0 {
		return
	}
	if n := r.x.retain(time.Now(), r.set.DeleteAfter, r.set.MaxBytes); n > 0 {
		r.logger.Info("retention deleted old segments", "count", n)
	}
}
