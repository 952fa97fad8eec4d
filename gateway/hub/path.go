package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
)

// Errors of path operations.
var (
	// ErrPathNotFound is returned for a name no configured path or pattern matches.
	ErrPathNotFound = errors.New("no such path")
	// ErrNoStream is returned when a path has no stream to read (nobody publishes, or the source did not come up in time).
	ErrNoStream = errors.New("no stream is available on this path")
	// ErrPublishNotAllowed is returned when a path does not accept publishers.
	ErrPublishNotAllowed = errors.New("this path does not accept publishers")
	// ErrPublisherExists is returned when a path already has a publisher and does not allow takeover.
	ErrPublisherExists = errors.New("another publisher is already publishing to this path")
	// ErrTooManyReaders is returned when a path reached its reader limit.
	ErrTooManyReaders = errors.New("too many readers on this path")
)

// PathConf is what the hub needs to know of a path. The gateway derives it from the config.
type PathConf struct {
	// Name is the path name, without leading or trailing slash.
	Name string
	// HasSource says the gateway runs a source for the path (an RTSP pull, the demo).
	HasSource bool
	// OnDemand runs the source only while the path has users.
	OnDemand bool
	// AcceptPublishers lets RTSP (and WHIP) clients publish to the path.
	AcceptPublishers bool
	// OverridePublisher lets a new publisher take over from the current one.
	OverridePublisher bool
	// StartTimeout is how long a reader waits for the source to come up. Defaults to 10s.
	StartTimeout time.Duration
	// CloseAfter is how long an on-demand source keeps running after the last user left. Defaults to 10s.
	CloseAfter time.Duration
	// OutageGrace is how long readers stay attached while the source is down. Zero ends them at once.
	OutageGrace time.Duration
	// MaxReaders limits readers of the stream; 0 is unlimited.
	MaxReaders int
	// Stream tunes the path's streams.
	Stream StreamConfig
	// Extra carries output-specific settings (credentials, for example) the hub does not read.
	Extra any
}

// Runner is a source the hub starts for a path: Run blocks until ctx ends.
type Runner interface {
	Run(ctx context.Context)
}

// Path is one named place streams are published to and read from. Users take
// a reference with Hub.Acquire and give it back with Release; on-demand
// sources run while references exist.
type Path struct {
	hub    *Hub
	conf   PathConf
	logger *slog.Logger

	users   int  // guarded by hub.mu
	removed bool // guarded by hub.mu

	mu         sync.Mutex
	closed     bool
	stream     *Stream
	pub        *Publisher
	ready      chan struct{} // closed while stream != nil
	srcCancel  context.CancelFunc
	srcDone    chan struct{}
	idleTimer  *time.Timer
	graceTimer *time.Timer
}

func newPath(h *Hub, conf PathConf) *Path {
	if conf.StartTimeout <= 0 {
		conf.StartTimeout = 10 * time.Second
	}
	if conf.CloseAfter <= 0 {
		conf.CloseAfter = 10 * time.Second
	}
	conf.Stream.MaxReaders = conf.MaxReaders
	return &Path{
		hub:    h,
		conf:   conf,
		logger: h.logger().With("path", conf.Name),
		ready:  make(chan struct{}),
	}
}

// Name is the path's name.
func (p *Path) Name() string { return p.conf.Name }

// Conf is the path's configuration.
func (p *Path) Conf() PathConf { return p.conf }

// Logger is the path's logger, with the path attribute set.
func (p *Path) Logger() *slog.Logger { return p.logger }

// Stream is the path's current stream, or nil.
func (p *Path) Stream() *Stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stream
}

// Release gives back a reference taken with Hub.Acquire. Call it once per Acquire.
func (p *Path) Release() { p.hub.release(p) }

// WaitStream returns the path's stream, waiting for the source to come up for
// at most the path's StartTimeout. Paths that only take publishers do not wait.
func (p *Path) WaitStream(ctx context.Context) (*Stream, error) {
	timer := time.NewTimer(p.conf.StartTimeout)
	defer timer.Stop()
	return p.awaitStream(ctx, timer.C, p.conf.HasSource)
}

// NextStream waits, without a timeout, until the path has a stream, and
// returns it: for consumers that follow a path for as long as they run (a
// timeshift buffer, a recorder), whatever kind of source it has.
func (p *Path) NextStream(ctx context.Context) (*Stream, error) {
	return p.awaitStream(ctx, nil, true)
}

// awaitStream returns the stream once there is one; without wait it does
// not wait, else until deadline fires (never when nil) or ctx ends.
func (p *Path) awaitStream(ctx context.Context, deadline <-chan time.Time, wait bool) (*Stream, error) {
	for {
		p.mu.Lock()
		closed, st, ready := p.closed, p.stream, p.ready
		p.mu.Unlock()
		switch {
		case closed:
			return nil, ErrPathClosed
		case st != nil:
			return st, nil
		case !wait:
			return nil, ErrNoStream
		}
		select {
		case <-ready:
		case <-deadline:
			return nil, ErrNoStream
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoStream, ctx.Err())
		}
	}
}

// CanPublish reports whether an outside client could publish now, so a
// protocol can refuse early (an RTSP ANNOUNCE) with the error Publish would give.
func (p *Path) CanPublish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrPathClosed
	case !p.conf.AcceptPublishers:
		return ErrPublishNotAllowed
	case p.pub != nil && !p.conf.OverridePublisher:
		return ErrPublisherExists
	}
	return nil
}

// Publish makes an outside client (an RTSP ANNOUNCE, a WHIP offer) the path's source.
func (p *Path) Publish(desc *description.Session) (*Publisher, error) {
	return p.publish(desc, true)
}

// PublishSource makes the gateway's own source of the path (an RTSP pull, the demo) publish.
func (p *Path) PublishSource(desc *description.Session) (*Publisher, error) {
	return p.publish(desc, false)
}

func (p *Path) publish(desc *description.Session, external bool) (*Publisher, error) {
	if err := CheckDescription(desc); err != nil { // limits.go
		return nil, err
	}
	var replaced *Publisher
	var changed *Stream

	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return nil, ErrPathClosed
	case external && !p.conf.AcceptPublishers:
		p.mu.Unlock()
		return nil, ErrPublishNotAllowed
	case p.pub != nil && !(external && p.conf.OverridePublisher):
		p.mu.Unlock()
		return nil, ErrPublisherExists
	}
	if p.pub != nil {
		replaced = p.pub
		p.pub = nil
		if p.stream != nil {
			p.stream.goOffline()
		}
	}
	if p.graceTimer != nil {
		p.graceTimer.Stop()
		p.graceTimer = nil
	}
	st := p.stream
	resumed := st != nil && sameCodecs(st.Desc, desc)
	if st != nil && !resumed {
		changed = st
		st = nil
	}
	if st == nil {
		st = newStream(desc, p.conf.Stream, p.logger)
		if p.stream == nil {
			close(p.ready)
		}
		p.stream = st
	}
	gen := st.goOnline()
	pub := newPublisher(p, st, gen, desc)
	p.pub = pub
	p.mu.Unlock()

	if replaced != nil {
		replaced.end(ErrPublisherReplaced)
		p.logger.Info("publisher replaced by a new one")
	}
	if changed != nil {
		p.logger.Info("source is back with other codecs: readers must reconnect")
		changed.close(ErrStreamChanged)
	} else if resumed {
		p.logger.Info("source is back with the same codecs: readers resume at the next keyframe")
	}
	return pub, nil
}

// unpublish detaches pub; readers wait for the source for the outage grace.
func (p *Path) unpublish(pub *Publisher) {
	// On a path the gateway feeds, a user that holds the path without
	// reading yet (an RTSP session between DESCRIBE and PLAY, which got
	// this stream) keeps the stream for the grace too: an on-demand source
	// that was stopping as the user arrived is started again at once, and
	// must find the stream it described still there. (Outside publishers
	// hold a reference of their own, so this does not apply to them.)
	held := false
	if p.conf.HasSource {
		p.hub.mu.Lock()
		held = p.users > 0
		p.hub.mu.Unlock()
	}

	p.mu.Lock()
	if p.pub != pub {
		p.mu.Unlock()
		return
	}
	p.pub = nil
	st := p.stream
	st.goOffline()
	var closeNow *Stream
	if p.closed || p.conf.OutageGrace <= 0 || (st.Attached() == 0 && !held) {
		closeNow = st
		p.clearStreamLocked()
	} else {
		p.graceTimer = time.AfterFunc(p.conf.OutageGrace, func() { p.graceExpired(st) })
	}
	p.mu.Unlock()

	if closeNow != nil {
		closeNow.close(ErrSourceGone)
		p.hub.tryRemove(p)
	}
}

func (p *Path) graceExpired(st *Stream) {
	p.mu.Lock()
	if p.stream != st || p.pub != nil {
		p.mu.Unlock()
		return
	}
	p.clearStreamLocked()
	p.mu.Unlock()
	p.logger.Info("source did not come back in time: readers closed", "grace", p.conf.OutageGrace)
	st.close(ErrSourceGone)
	p.hub.tryRemove(p)
}

func (p *Path) clearStreamLocked() {
	p.stream = nil
	p.ready = make(chan struct{})
	if p.graceTimer != nil {
		p.graceTimer.Stop()
		p.graceTimer = nil
	}
}

// usersChanged starts or schedules the stop of an on-demand source. hub.mu is held.
func (p *Path) usersChanged(users int) {
	if !p.conf.HasSource {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if users > 0 {
		if p.idleTimer != nil {
			p.idleTimer.Stop()
			p.idleTimer = nil
		}
		if p.srcDone == nil {
			p.startSourceLocked()
		}
		return
	}
	if p.conf.OnDemand && p.srcDone != nil && p.idleTimer == nil {
		p.idleTimer = time.AfterFunc(p.conf.CloseAfter, p.idle)
	}
}

func (p *Path) startSourceLocked() {
	if p.hub.NewSource == nil {
		return
	}
	src := p.hub.NewSource(p)
	if src == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.srcCancel, p.srcDone = cancel, done
	if p.conf.OnDemand {
		p.logger.Info("starting on-demand source")
	}
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
}

// idle stops an on-demand source nobody used for CloseAfter.
func (p *Path) idle() {
	p.hub.mu.Lock()
	users := p.users
	p.hub.mu.Unlock()
	p.mu.Lock()
	p.idleTimer = nil
	if users > 0 || p.srcDone == nil {
		p.mu.Unlock()
		return
	}
	cancel, done := p.srcCancel, p.srcDone
	p.mu.Unlock()
	p.logger.Info("stopping on-demand source: no readers", "after", p.conf.CloseAfter)
	cancel()
	<-done
	p.mu.Lock()
	if p.srcDone == done {
		p.srcCancel, p.srcDone = nil, nil
	}
	// A user may have come back while the source stopped.
	p.mu.Unlock()
	p.hub.mu.Lock()
	if p.users > 0 && !p.removed {
		p.usersChanged(p.users)
	}
	p.hub.mu.Unlock()
	p.hub.tryRemove(p)
}

// idleLocked reports whether nothing keeps the path alive. p.mu is held.
func (p *Path) idleLocked() bool {
	return p.stream == nil && p.pub == nil && p.srcDone == nil
}

// close stops the source, ends the publisher and the stream. It waits for the source.
func (p *Path) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.idleTimer != nil {
		p.idleTimer.Stop()
	}
	cancel, done := p.srcCancel, p.srcDone
	pub, st := p.pub, p.stream
	p.pub = nil
	if st != nil {
		p.clearStreamLocked()
	}
	// Wake whoever waits for a stream: there will be none.
	close(p.ready)
	p.mu.Unlock()

	if pub != nil {
		pub.end(ErrPathClosed)
	}
	if cancel != nil {
		cancel()
		<-done
	}
	if st != nil {
		st.close(ErrPathClosed)
	}
}
