package timeshift

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

// Paths is what a Keeper needs of the hub.
type Paths interface {
	Acquire(name string) (*hub.Path, error)
}

// Settings are one path's timeshift settings.
type Settings struct {
	// Window is how long the buffer reaches back. 0 turns timeshift off.
	Window time.Duration
	// MaxBytes bounds the buffer's memory; 0 is no bound beyond Window.
	MaxBytes int64
}

// Keeper runs a Buffer for every path that has timeshift on. It holds a
// reference on each such path, so the path's source runs while the buffer
// fills, and feeds the buffer from every stream the path gets.
type Keeper struct {
	// Paths resolves path names. Required.
	Paths Paths
	// Logger receives the keeper's logs. Defaults to slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex
	closed bool
	runs   map[string]*run
}

// run is one path's buffer and the goroutine that feeds it.
type run struct {
	conf   Settings
	buf    *Buffer
	cancel context.CancelFunc
	done   chan struct{}
}

// Set makes the keeper run exactly the given paths with their settings:
// paths that are new start, paths that are gone or changed stop (a
// changed path starts again empty), unchanged paths keep their buffers.
func (k *Keeper) Set(paths map[string]Settings) {
	var stop []*run
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	if k.runs == nil {
		k.runs = make(map[string]*run)
	}
	for name, r := range k.runs {
		if c, ok := paths[name]; !ok || c != r.conf || c.Window <= 0 {
			stop = append(stop, r)
			delete(k.runs, name)
		}
	}
	for name, c := range paths {
		if c.Window <= 0 || k.runs[name] != nil {
			continue
		}
		k.runs[name] = k.start(name, c)
	}
	k.mu.Unlock()
	for _, r := range stop {
		r.stop()
	}
}

// Source returns the timeshift buffer of a path, or nil when the path has none.
func (k *Keeper) Source(name string) timeline.Source {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r := k.runs[name]; r != nil {
		return r.buf
	}
	return nil
}

// Buffer returns a path's buffer, or nil, for status and tests.
func (k *Keeper) Buffer(name string) *Buffer {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r := k.runs[name]; r != nil {
		return r.buf
	}
	return nil
}

// Close stops every buffer and releases the paths. It is idempotent.
func (k *Keeper) Close() {
	k.mu.Lock()
	k.closed = true
	runs := k.runs
	k.runs = nil
	k.mu.Unlock()
	for _, r := range runs {
		r.stop()
	}
}

func (k *Keeper) logger() *slog.Logger {
	if k.Logger != nil {
		return k.Logger
	}
	return slog.Default()
}

// start launches a path's feeding goroutine; k.mu is held.
func (k *Keeper) start(name string, c Settings) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{conf: c, buf: &Buffer{Window: c.Window, MaxBytes: c.MaxBytes}, cancel: cancel, done: make(chan struct{})}
	log := k.logger().With("path", name)
	go func() {
		defer close(r.done)
		defer r.buf.Close()
		log.Info("timeshift on", "window", c.Window, "maxBytes", c.MaxBytes)
		// A reload may close the path under the buffer; take the new one.
		for ctx.Err() == nil {
			p, err := k.Paths.Acquire(name)
			if err != nil {
				log.Warn("timeshift is off for this path", "reason", err)
				return
			}
			r.feed(ctx, p, log)
			p.Release()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return r
}

func (r *run) stop() {
	r.cancel()
	<-r.done
}

// feed attaches the buffer to each stream the path gets until ctx ends.
func (r *run) feed(ctx context.Context, p *hub.Path, log *slog.Logger) {
	for {
		st, err := p.NextStream(ctx)
		if err != nil {
			return // canceled, or the path closed under a reload
		}
		r.buf.mu.Lock()
		if old := r.buf.desc; old == nil || !hub.SameCodecs(old, st.Desc) {
			if old != nil {
				log.Info("timeshift buffer emptied: the stream's codecs changed")
			}
			r.buf.init()
			r.buf.resetLocked(st.Desc)
		}
		r.buf.mu.Unlock()
		a := newAssembler(r.buf, st)
		rd, err := st.AddReader(hub.ReaderConfig{
			Name:      "timeshift",
			Internal:  true,
			QueueSize: 8192,
			Start:     hub.StartHistory,
			OnUnit: func(u *hub.Unit, _ bool) error {
				a.unit(u)
				return nil
			},
		})
		if err != nil {
			log.Warn("timeshift cannot read the stream", "reason", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-st.Done():
		case <-rd.Done():
			if !errors.Is(rd.Err(), hub.ErrReaderClosed) {
				log.Warn("timeshift reader ended", "reason", rd.Err())
			}
		}
		rd.Close()
		a.close()
		select {
		case <-ctx.Done():
			return
		case <-st.Done():
		}
	}
}
