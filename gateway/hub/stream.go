package hub

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// Errors a reader or publisher of a stream ends with.
var (
	// ErrStreamChanged ends readers when the source came back with other codecs.
	ErrStreamChanged = errors.New("the source changed its codecs")
	// ErrSourceGone ends readers when the source stayed away longer than the outage grace.
	ErrSourceGone = errors.New("the source went away")
	// ErrPathClosed ends readers and publishers when the path is removed or the gateway stops.
	ErrPathClosed = errors.New("the path was closed")
	// ErrReaderClosed is the error of a reader closed by its owner.
	ErrReaderClosed = errors.New("reader closed")
	// ErrPublisherReplaced ends a publisher that another one took over from.
	ErrPublisherReplaced = errors.New("another publisher took over the path")
)

// maxPendingAU bounds the packets of one access unit the hub holds back while
// it waits for the unit's last packet (a camera that never sets the marker bit
// and never changes the timestamp must not grow memory without limit).
const maxPendingAU = 2048

// StreamConfig tunes a stream; its zero value is usable.
type StreamConfig struct {
	// HistoryGOPs is how many groups of pictures the stream keeps for new
	// readers. Defaults to 1; 0 or less with GOPCache off keeps none.
	HistoryGOPs int
	// HistoryMaxBytes caps the payload bytes kept. Defaults to 64 MiB.
	HistoryMaxBytes int
	// NoGOPCache makes new readers wait for the next keyframe instead of
	// starting at the cached one.
	NoGOPCache bool
	// DropReportPeriod is how often slow readers' drops are logged as a summary. Defaults to 10s.
	DropReportPeriod time.Duration
	// MaxReaders limits the readers attached at once; 0 is unlimited. Paths
	// set it from PathConf.MaxReaders.
	MaxReaders int
}

// Stream is the live media of one path: the session description, its tracks,
// the readers subscribed to it and the recent history they start from. It
// outlives a source outage when the source returns with the same codecs.
type Stream struct {
	// Desc is the session description readers are served (the first source's).
	Desc *description.Session
	// Tracks lists every format of every media of Desc.
	Tracks []*Track

	conf     StreamConfig
	logger   *slog.Logger
	pool     unitPool
	keyTrack *Track

	mu       sync.Mutex
	readers  []*Reader
	internal int // how many of readers are Internal
	hist     history
	gen      uint32
	online   bool
	closed   bool
	closeErr error
	ntpBase  time.Time
	haveBase bool
	// lastKey is when the key track's last random-access unit arrived (unix
	// nanos, 0 when none since the source session began). Guarded by mu.
	lastKey int64
	// dropsGone totals the drops of readers that left. Guarded by mu.
	dropsGone uint64

	// Counters read without the lock (status, metrics): the time of the
	// last packet and of the last time the stream came online (unix nanos,
	// 0 for never / offline), and the key track's keyframe interval.
	lastPacket  atomic.Int64
	onlineSince atomic.Int64
	keyInterval atomic.Int64
	// badAUGen is the source session that last had a frame readers could
	// not decode: the warning is given once per session.
	badAUGen atomic.Uint32

	done     chan struct{}
	reporter sync.WaitGroup
}

func newStream(desc *description.Session, conf StreamConfig, logger *slog.Logger) *Stream {
	if conf.HistoryGOPs <= 0 && !conf.NoGOPCache {
		conf.HistoryGOPs = 1
	}
	if conf.HistoryMaxBytes <= 0 {
		conf.HistoryMaxBytes = 64 << 20
	}
	if conf.DropReportPeriod <= 0 {
		conf.DropReportPeriod = 10 * time.Second
	}
	s := &Stream{
		Desc:   desc,
		conf:   conf,
		logger: logger,
		done:   make(chan struct{}),
		online: true,
	}
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			t := &Track{Index: len(s.Tracks), Media: m, Format: f, kind: kindOf(f), stream: s}
			s.Tracks = append(s.Tracks, t)
			if s.keyTrack == nil && t.kind != codecOther {
				s.keyTrack = t
			}
		}
	}
	s.hist.maxGOPs = conf.HistoryGOPs
	s.hist.maxBytes = conf.HistoryMaxBytes
	s.onlineSince.Store(time.Now().UnixNano())
	s.reporter.Add(1)
	go s.reportDrops()
	return s
}

// Done is closed when the stream ends; Err then says why.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err is why the stream ended, or nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// Online reports whether a source is feeding the stream right now.
func (s *Stream) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online
}

// ReaderCount is the number of viewers' readers attached (internal
// readers left out).
func (s *Stream) ReaderCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers) - s.internal
}

// Attached is the number of readers of every kind, internal ones included.
func (s *Stream) Attached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

// LastPacket is when the stream last took a packet from its source; zero
// before the first.
func (s *Stream) LastPacket() time.Time { return unixNano(s.lastPacket.Load()) }

// OnlineSince is when the stream last came online (created, or its source
// came back after an outage); zero while it is offline or closed.
func (s *Stream) OnlineSince() time.Time { return unixNano(s.onlineSince.Load()) }

// KeyframeInterval is the time between the last two random-access units of
// the key track, as received; 0 until two were seen. It keeps its value
// through an outage, and an outage is never measured as an interval.
func (s *Stream) KeyframeInterval() time.Duration { return time.Duration(s.keyInterval.Load()) }

// ReaderDrops counts the units every reader of the stream lost because it
// fell behind, readers that left included, so it never goes down.
func (s *Stream) ReaderDrops() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropsGone
	for _, r := range s.readers {
		n += r.lost()
	}
	return n
}

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// KeyTrack is the track whose keyframes start groups of pictures, or nil when
// the stream has no H.264 or H.265 video.
func (s *Stream) KeyTrack() *Track { return s.keyTrack }

// close ends the stream and every reader with err. It is idempotent.
func (s *Stream) close(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.online = false
	s.onlineSince.Store(0)
	s.closeErr = err
	readers := s.readers
	s.readers = nil
	for _, r := range readers {
		// No unit is offered to them any more: their drop counts are final.
		s.dropsGone += r.lost()
	}
	s.hist.clear()
	for _, t := range s.Tracks {
		t.dropPending()
	}
	close(s.done)
	s.mu.Unlock()

	for _, r := range readers {
		r.stopWith(err)
	}
	for _, r := range readers {
		<-r.done
	}
	s.reporter.Wait()
}

// goOffline marks the stream as waiting for its source to come back: history
// is dropped (it belongs to the old session) and readers will resume at the
// next keyframe of the new session.
func (s *Stream) goOffline() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.online = false
	s.onlineSince.Store(0)
	s.lastKey = 0
	s.hist.clear()
	for _, t := range s.Tracks {
		t.dropPending()
	}
	for _, r := range s.readers {
		r.waitKey = r.keyed
	}
}

// goOnline starts a new source session on the stream and returns its generation.
func (s *Stream) goOnline() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.online = true
	s.onlineSince.Store(time.Now().UnixNano())
	s.haveBase = false
	s.lastKey = 0
	return s.gen
}

// writeRTP takes one packet of the source session gen. It copies the packet,
// so the caller may reuse it at once.
func (s *Stream) writeRTP(t *Track, gen uint32, pkt *rtp.Packet, pts int64, ntp time.Time) {
	now := time.Now()
	u := s.pool.get()
	u.fill(pkt)
	u.Track = t
	u.PTS = pts
	u.Received = now
	u.Gen = gen

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || gen != s.gen || !s.online {
		u.Release()
		return
	}
	t.units.Add(1)
	t.bytes.Add(uint64(len(pkt.Payload)))
	s.lastPacket.Store(now.UnixNano())
	if ntp.IsZero() {
		if !s.haveBase {
			s.ntpBase = now.Add(-ticksToDuration(pts, t.ClockRate()))
			s.haveBase = true
		}
		ntp = s.ntpBase.Add(ticksToDuration(pts, t.ClockRate()))
	}
	u.NTP = ntp

	if t.kind == codecOther {
		u.AUStart = true
		u.RandomAccess = !t.IsVideo()
		s.dispatch(u)
		u.Release()
		return
	}

	// Group the packets of one access unit, so its random-access flag is known
	// before its first packet reaches a reader.
	if len(t.pending) > 0 && (pkt.Timestamp != t.pendingTS || len(t.pending) >= maxPendingAU) {
		s.flushAU(t)
	}
	if len(t.pending) == 0 {
		t.pendingTS = pkt.Timestamp
		t.pendingRA = false
	}
	if !t.pendingRA && nalScan(t.kind, u.Packet.Payload) {
		t.pendingRA = true
	}
	t.pending = append(t.pending, u)
	if pkt.Marker {
		s.flushAU(t)
	}
}

// flushAU hands the pending access unit of t to the readers.
func (s *Stream) flushAU(t *Track) {
	if len(t.pending) == 0 {
		return
	}
	first := t.pending[0]
	if t == s.keyTrack && t.pendingRA {
		at := first.Received.UnixNano()
		if s.lastKey != 0 && at > s.lastKey {
			s.keyInterval.Store(at - s.lastKey)
		}
		s.lastKey = at
	}
	for _, u := range t.pending[1:] {
		u.Retain()
		first.auParts = append(first.auParts, u)
	}
	for i, u := range t.pending {
		u.AUStart = i == 0
		u.RandomAccess = t.pendingRA
		s.dispatch(u)
		u.Release()
		t.pending[i] = nil
	}
	t.pending = t.pending[:0]
}

func (t *Track) dropPending() {
	for i, u := range t.pending {
		u.Release()
		t.pending[i] = nil
	}
	t.pending = t.pending[:0]
}

// dispatch records u in the history and offers it to every reader. s.mu is held.
func (s *Stream) dispatch(u *Unit) {
	if s.keyTrack != nil && s.hist.maxGOPs > 0 {
		s.hist.add(u, u.Track == s.keyTrack && u.AUStart && u.RandomAccess)
	}
	for _, r := range s.readers {
		r.offer(u)
	}
}

func ticksToDuration(ticks int64, clockRate int) time.Duration {
	if clockRate <= 0 {
		return 0
	}
	sec := ticks / int64(clockRate)
	rem := ticks % int64(clockRate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(clockRate)
}

// reportDrops logs, once per period, how many units each slow reader lost.
func (s *Stream) reportDrops() {
	defer s.reporter.Done()
	tick := time.NewTicker(s.conf.DropReportPeriod)
	defer tick.Stop()
	type report struct {
		name string
		n    uint64
	}
	var reports []report
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		reports = reports[:0]
		s.mu.Lock()
		for _, r := range s.readers {
			total := r.lost()
			if d := total - r.droppedReported; d > 0 {
				r.droppedReported = total
				reports = append(reports, report{r.conf.Name, d})
			}
		}
		s.mu.Unlock()
		for _, rep := range reports {
			s.logger.Warn("reader is too slow", "reader", rep.name, "dropped", rep.n, "period", s.conf.DropReportPeriod)
		}
	}
}

// history keeps the units since the oldest of the last maxGOPs keyframes.
type history struct {
	units    []*Unit
	keys     []int // indices in units where a random-access unit of the key track starts
	bytes    int
	maxGOPs  int
	maxBytes int
}

func (h *history) add(u *Unit, key bool) {
	if key {
		h.keys = append(h.keys, len(h.units))
		if len(h.keys) > h.maxGOPs {
			h.trim(h.keys[len(h.keys)-h.maxGOPs])
		}
	}
	if len(h.keys) == 0 {
		return // nothing to start from before the first keyframe
	}
	u.Retain()
	h.units = append(h.units, u)
	h.bytes += len(u.Packet.Payload)
	for h.bytes > h.maxBytes {
		if len(h.keys) > 1 {
			h.trim(h.keys[1])
		} else {
			h.clear() // one group is larger than the cap: wait for the next keyframe
		}
	}
}

// trim drops the units before index i.
func (h *history) trim(i int) {
	for _, u := range h.units[:i] {
		h.bytes -= len(u.Packet.Payload)
		u.Release()
	}
	n := copy(h.units, h.units[i:])
	clear(h.units[n:])
	h.units = h.units[:n]
	k := 0
	for _, idx := range h.keys {
		if idx >= i {
			h.keys[k] = idx - i
			k++
		}
	}
	h.keys = h.keys[:k]
}

func (h *history) clear() {
	h.trim(len(h.units))
	h.keys = h.keys[:0]
}

// latestGOP returns the units from the newest keyframe on, retained for the caller.
func (h *history) latestGOP() []*Unit {
	if len(h.keys) == 0 {
		return nil
	}
	return retainAll(h.units[h.keys[len(h.keys)-1]:])
}

// all returns every unit kept, starting at the oldest keyframe, retained for the caller.
func (h *history) all() []*Unit {
	return retainAll(h.units)
}

func retainAll(src []*Unit) []*Unit {
	if len(src) == 0 {
		return nil
	}
	out := make([]*Unit, len(src))
	for i, u := range src {
		u.Retain()
		out[i] = u
	}
	return out
}
