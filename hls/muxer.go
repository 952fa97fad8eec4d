package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/streamgate/streamgate/gateway/hub"
)

// Errors of muxers.
var (
	// ErrNoTrack is returned (and served as 404) for a stream none of whose
	// tracks the path's variant can carry.
	ErrNoTrack = errors.New("no track of this stream can be carried over HLS")
	// ErrClosed is returned once the Server is closed.
	ErrClosed = errors.New("hls: server closed")
)

// muxerQueueSize is the hub reader queue of a muxer, in RTP packets: a few
// keyframes of a high-bitrate camera.
const muxerQueueSize = 4096

// encodeErrorPeriod is how often a muxer logs encode errors at most.
const encodeErrorPeriod = 10 * time.Second

// muxer is the gohlslib muxer of one path, fed by one hub reader.
type muxer struct {
	s        *Server
	name     string
	settings Settings
	variant  gohlslib.MuxerVariant
	logger   *slog.Logger

	// ready is closed when start has finished; err is then its result.
	ready chan struct{}
	err   error
	// sent is the path's byte counter (Server.sent), set before ready closes
	// when start succeeded.
	sent *atomic.Uint64

	// Set by start, read-only afterwards.
	path    *hub.Path
	hm      *gohlslib.Muxer
	reader  *hub.Reader
	plan    trackPlan
	byIndex []*carriedTrack

	alwaysOn atomic.Bool
	inflight atomic.Int32
	// calls are the gohlslib answers being made, shared by identical
	// requests (handler_shared.go).
	callsMu sync.Mutex
	calls   map[string]*sharedCall
	done    doneCache    // guarded by callsMu
	lastUse atomic.Int64 // unix nanoseconds of the last request start or end

	stop      chan struct{} // closed to ask run to close the muxer
	stopOnce  sync.Once
	closed    chan struct{} // closed when the muxer stops serving
	encErrors errorLimiter

	// Owned by the reader goroutine (OnUnit).
	w writerState
}

func newMuxer(s *Server, name string, settings Settings) *muxer {
	m := &muxer{
		s:        s,
		name:     name,
		settings: settings,
		logger:   s.logger().With("path", name, "component", "hls"),
		ready:    make(chan struct{}),
		stop:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	m.encErrors.logger, m.encErrors.period = m.logger, encodeErrorPeriod
	m.alwaysOn.Store(settings.AlwaysOn)
	m.touch()
	return m
}

func (m *muxer) touch() { m.lastUse.Store(time.Now().UnixNano()) }

// start acquires the path, waits for its stream and starts the gohlslib muxer
// and its reader. On failure nothing is left running.
func (m *muxer) start(ctx context.Context) (err error) {
	m.variant, err = parseVariant(m.settings.Variant)
	if err != nil {
		return err
	}
	p, err := m.s.Paths.Acquire(m.name)
	if err != nil {
		return fmt.Errorf("hls: path %q: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			p.Release()
		}
	}()
	st, err := p.WaitStream(ctx)
	if err != nil {
		return fmt.Errorf("hls: path %q: %w", m.name, err)
	}
	m.plan = planTracks(st.Tracks, m.variant)
	if len(m.plan.carried) == 0 {
		return m.plan.noTrackError()
	}
	m.byIndex = m.plan.byIndex(len(st.Tracks))
	m.w.init(m)

	tracks := make([]*gohlslib.Track, len(m.plan.carried))
	for i, c := range m.plan.carried {
		tracks[i] = c.hls
	}
	m.hm = &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            m.variant,
		SegmentCount:       m.settings.SegmentCount,
		SegmentMinDuration: m.settings.SegmentDuration,
		PartMinDuration:    m.settings.PartDuration,
		OnEncodeError:      m.encErrors.report,
	}
	if err = m.hm.Start(); err != nil {
		return fmt.Errorf("hls: path %q: starting the muxer: %w", m.name, err)
	}
	want := make([]bool, len(st.Tracks))
	for _, c := range m.plan.carried {
		want[c.hub.Index] = true
	}
	m.reader, err = st.AddReader(hub.ReaderConfig{
		Name:      "hls",
		QueueSize: muxerQueueSize,
		Start:     hub.StartHistory,
		Want:      func(t *hub.Track) bool { return want[t.Index] },
		OnUnit:    m.onUnit,
	})
	if err != nil {
		m.hm.Close()
		return fmt.Errorf("hls: path %q: %w", m.name, err)
	}
	m.path = p
	for _, l := range m.plan.leftOut {
		m.logger.Info("track left out of HLS", "track", l.Index, "codec", l.Codec, "reason", l.Reason)
	}
	m.logger.Info("HLS muxer started", "variant", m.settings.Variant, "tracks", len(m.plan.carried))
	return nil
}

// requestClose asks run to close the muxer; it does not wait.
func (m *muxer) requestClose() {
	m.stopOnce.Do(func() { close(m.stop) })
}

// run owns a started muxer: it closes it when the stream ends, when nobody
// used it for IdleClose, or when asked to.
func (m *muxer) run() {
	defer m.s.wg.Done()
	idle := m.settings.IdleClose
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var reason string
	var level slog.Level = slog.LevelInfo
loop:
	for {
		select {
		case <-m.reader.Done():
			err := m.reader.Err()
			reason = "stream ended: " + err.Error()
			if !isStreamEnd(err) {
				level = slog.LevelWarn
			}
			break loop
		case <-m.stop:
			reason = "server closing"
			break loop
		case <-timer.C:
			since := time.Since(time.Unix(0, m.lastUse.Load()))
			switch {
			case m.alwaysOn.Load() || m.inflight.Load() > 0:
				timer.Reset(idle)
			case since >= idle:
				reason = "idle"
				break loop
			default:
				timer.Reset(idle - since)
			}
		}
	}
	m.close()
	m.logger.Log(context.Background(), level, "HLS muxer closed", "reason", reason)
}

// close tears a started muxer down: it leaves the server's map (the next
// request makes a new muxer), releases blocked requests and the path.
func (m *muxer) close() {
	m.s.forget(m)
	close(m.closed)
	m.reader.Close()
	m.hm.Close()
	m.path.Release()
}

// status describes the muxer for Server.Status.
func (m *muxer) status() PathStatus {
	st := PathStatus{Variant: m.settings.Variant, AlwaysOn: m.alwaysOn.Load()}
	select {
	case <-m.ready:
	default:
		return st
	}
	if m.err != nil {
		return st
	}
	select {
	case <-m.closed:
	default:
		st.Running = true
	}
	st.Tracks = m.plan.carriedStatus()
	st.LeftOut = append([]TrackStatus(nil), m.plan.leftOut...)
	return st
}

func isStreamEnd(err error) bool {
	return errors.Is(err, hub.ErrStreamChanged) || errors.Is(err, hub.ErrSourceGone) ||
		errors.Is(err, hub.ErrPathClosed) || errors.Is(err, hub.ErrReaderClosed)
}

// errorLimiter logs muxer encode errors at most once per period, with the
// number of errors left unlogged in between: a broken camera must not flood
// the log with one line per frame.
type errorLimiter struct {
	logger *slog.Logger
	period time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *errorLimiter) report(err error) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.period {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.logger.Warn("HLS muxer could not encode a frame", "error", err, "unlogged_before", n)
}
