package hub

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// StartMode says where a new reader's first unit comes from.
type StartMode int

const (
	// StartDefault follows the stream: the cached keyframe unless the path turned the GOP cache off.
	StartDefault StartMode = iota
	// StartLatestGOP starts at the newest cached keyframe, delivered as a catch-up burst.
	StartLatestGOP
	// StartHistory starts at the oldest cached keyframe (for muxers that want whole segments at once).
	StartHistory
	// StartNextKeyframe waits for the next keyframe of the live stream.
	StartNextKeyframe
)

// ReaderConfig configures a reader. OnUnit is required.
type ReaderConfig struct {
	// Name identifies the reader in logs ("rtsp session 1a2b", "hls").
	Name string
	// QueueSize is the number of units the reader may fall behind before it
	// drops. Rounded up to a power of two; defaults to 1024.
	QueueSize int
	// Start chooses where the reader begins.
	Start StartMode
	// Want selects tracks; nil means every track.
	Want func(*Track) bool
	// OnUnit is called from the reader's own goroutine, in order, for every
	// unit. cached is true for units of the catch-up burst, which were
	// received before the reader joined. The unit is only valid during the
	// call (Retain it to keep it). A non-nil error ends the reader with it.
	OnUnit func(u *Unit, cached bool) error
	// Internal marks a reader that serves the gateway itself (a timeshift
	// buffer, a recorder) rather than a viewer: it does not count against
	// the path's MaxReaders nor in ReaderCount.
	Internal bool
	// OnBurst, if set, sees the whole catch-up burst (read-only, in the
	// reader's goroutine) before its first unit is delivered, so an output
	// can decide how to time it.
	OnBurst func(units []*Unit)
	// OutputDrops, if set, counts what the output lost after the hub handed
	// it over (a protocol library's own queue was full), so that the
	// stream's drop counters and reports include it.
	OutputDrops func() uint64
}

// Reader is one subscriber of a stream with its own bounded queue and
// goroutine: when it falls behind it loses units, and nobody else notices.
type Reader struct {
	conf ReaderConfig
	s    *Stream
	want []bool
	// keyed says the reader wants the stream's key track, so it starts and
	// resumes at its keyframes; a reader of other tracks only must not wait
	// for keyframes it never receives.
	keyed bool

	mu   sync.Mutex
	ring []*Unit
	head uint64
	tail uint64

	waitKey         bool   // guarded by s.mu: skip units until a keyframe
	droppedReported uint64 // guarded by s.mu

	burst     []*Unit
	notify    chan struct{}
	stop      chan struct{}
	done      chan struct{}
	stopOnce  sync.Once
	err       error
	dropped   atomic.Uint64
	delivered atomic.Uint64
}

// CheckRoom returns ErrTooManyReaders when the stream has as many readers
// as its MaxReaders, else nil. Outputs that attach their reader only
// later (a WebRTC viewer, once connected) ask it first, so the client is
// refused while it can still be told why.
func (s *Stream) CheckRoom() error {
	s.mu.Lock()
	full := s.conf.MaxReaders > 0 && len(s.readers) >= s.conf.MaxReaders
	s.mu.Unlock()
	if full {
		s.refuseReader()
		return ErrTooManyReaders
	}
	return nil
}

// refuseReader logs one line for a reader refused over MaxReaders.
func (s *Stream) refuseReader() {
	s.logger.Warn("too many readers: refusing a new one", "limit", s.conf.MaxReaders)
}

// AddReader subscribes a reader to the stream and starts its goroutine.
func (s *Stream) AddReader(conf ReaderConfig) (*Reader, error) {
	if conf.OnUnit == nil {
		return nil, fmt.Errorf("hub: reader %q has no OnUnit", conf.Name)
	}
	size := 1
	if conf.QueueSize <= 0 {
		conf.QueueSize = 1024
	}
	for size < conf.QueueSize {
		size <<= 1
	}
	r := &Reader{
		conf:   conf,
		s:      s,
		ring:   make([]*Unit, size),
		want:   make([]bool, len(s.Tracks)),
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i, t := range s.Tracks {
		r.want[i] = conf.Want == nil || conf.Want(t)
	}
	r.keyed = s.keyTrack != nil && r.want[s.keyTrack.Index]

	s.mu.Lock()
	if s.closed {
		err := s.closeErr
		s.mu.Unlock()
		return nil, err
	}
	if s.conf.MaxReaders > 0 && !conf.Internal && len(s.readers)-s.internal >= s.conf.MaxReaders {
		s.mu.Unlock()
		s.refuseReader()
		return nil, ErrTooManyReaders
	}
	start := conf.Start
	if start == StartDefault {
		start = StartLatestGOP
		if s.conf.NoGOPCache {
			start = StartNextKeyframe
		}
	}
	if s.keyTrack != nil {
		switch start {
		case StartLatestGOP:
			r.burst = s.hist.latestGOP()
		case StartHistory:
			r.burst = s.hist.all()
		}
		r.burst = r.filterBurst(r.burst)
		r.waitKey = r.keyed && len(r.burst) == 0
	}
	s.readers = append(s.readers, r)
	if conf.Internal {
		s.internal++
	}
	s.mu.Unlock()

	go r.run()
	return r, nil
}

// filterBurst drops the cached units of tracks the reader does not want.
func (r *Reader) filterBurst(units []*Unit) []*Unit {
	out := units[:0]
	for _, u := range units {
		if r.want[u.Track.Index] {
			out = append(out, u)
		} else {
			u.Release()
		}
	}
	return out
}

// offer queues u for the reader, or drops it when the queue is full. s.mu is held.
func (r *Reader) offer(u *Unit) {
	if !r.want[u.Track.Index] {
		return
	}
	if r.waitKey {
		if u.Track != r.s.keyTrack || !u.AUStart || !u.RandomAccess {
			return
		}
		r.waitKey = false
	}
	r.mu.Lock()
	if r.tail-r.head == uint64(len(r.ring)) {
		r.mu.Unlock()
		r.dropped.Add(1)
		// What follows a lost packet cannot be decoded until the next
		// keyframe: skip to it, which also lets the reader drain.
		r.waitKey = r.keyed
		return
	}
	u.Retain()
	r.ring[r.tail&uint64(len(r.ring)-1)] = u
	r.tail++
	wasEmpty := r.tail-r.head == 1
	r.mu.Unlock()
	if wasEmpty {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
}

// pull moves up to max queued units into batch.
func (r *Reader) pull(batch []*Unit, max int) []*Unit {
	r.mu.Lock()
	mask := uint64(len(r.ring) - 1)
	for r.head < r.tail && len(batch) < max {
		i := r.head & mask
		batch = append(batch, r.ring[i])
		r.ring[i] = nil
		r.head++
	}
	r.mu.Unlock()
	return batch
}

func (r *Reader) run() {
	defer close(r.done)
	err := r.deliverBurst()
	batch := make([]*Unit, 0, 64)
	for err == nil {
		batch = r.pull(batch[:0], cap(batch))
		if len(batch) == 0 {
			select {
			case <-r.notify:
				continue
			case <-r.stop:
				err = r.err
				continue
			}
		}
		for i, u := range batch {
			if err == nil {
				err = r.conf.OnUnit(u, false)
				r.delivered.Add(1)
			}
			u.Release()
			batch[i] = nil
		}
		select {
		case <-r.stop:
			if err == nil {
				err = r.err
			}
		default:
		}
	}
	// Leave the stream (a no-op if it removed us), then free what is queued.
	r.s.removeReader(r)
	r.stopWith(err)
	for {
		batch = r.pull(batch[:0], cap(batch))
		if len(batch) == 0 {
			break
		}
		for i, u := range batch {
			u.Release()
			batch[i] = nil
		}
	}
}

func (r *Reader) deliverBurst() error {
	var err error
	if r.conf.OnBurst != nil && len(r.burst) > 0 {
		r.conf.OnBurst(r.burst)
	}
	for i, u := range r.burst {
		if err == nil {
			select {
			case <-r.stop:
				err = r.err
			default:
				err = r.conf.OnUnit(u, true)
				r.delivered.Add(1)
			}
		}
		u.Release()
		r.burst[i] = nil
	}
	r.burst = nil
	return err
}

// stopWith asks the reader's goroutine to end with err; the first call wins.
func (r *Reader) stopWith(err error) {
	r.stopOnce.Do(func() {
		r.err = err
		close(r.stop)
	})
}

func (s *Stream) removeReader(r *Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.readers {
		if x == r {
			// Units are offered under s.mu to listed readers only, so the
			// count is final once r leaves the list.
			s.dropsGone += r.lost()
			if r.conf.Internal {
				s.internal--
			}
			last := len(s.readers) - 1
			s.readers[i] = s.readers[last]
			s.readers[last] = nil
			s.readers = s.readers[:last]
			return
		}
	}
}

// Close detaches the reader and waits for its goroutine. It must not be called
// from OnUnit (return an error there instead). It is idempotent.
func (r *Reader) Close() {
	r.s.removeReader(r)
	r.stopWith(ErrReaderClosed)
	<-r.done
}

// Done is closed when the reader has ended; Err then says why.
func (r *Reader) Done() <-chan struct{} { return r.done }

// Err is why the reader ended: ErrReaderClosed after Close, the stream's
// error, or the error OnUnit returned.
func (r *Reader) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Dropped is the number of units the reader lost because it fell behind.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// lost is what the reader lost in the hub and in its output.
func (r *Reader) lost() uint64 {
	n := r.dropped.Load()
	if r.conf.OutputDrops != nil {
		n += r.conf.OutputDrops()
	}
	return n
}

// Delivered is the number of units handed to OnUnit.
func (r *Reader) Delivered() uint64 { return r.delivered.Load() }
