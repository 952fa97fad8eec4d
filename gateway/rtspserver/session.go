package rtspserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

var errOtherPath = errors.New("a session can only set up tracks of one path")

// session is our side of one RTSP session: a reader of a path's stream or a
// publisher into a path.
type session struct {
	s      *Server
	ss     *gortsplib.ServerSession
	id     string
	remote string
	since  time.Time

	mu        sync.Mutex
	log       *slog.Logger
	path      *hub.Path
	stream    *hub.Stream
	rs        *gortsplib.ServerStream
	multicast bool
	reader    *hub.Reader
	rw        *rewriter
	pub       *hub.Publisher
	vcr       vcrState
	// ownRS says rs belongs to this session (a recordings session).
	ownRS bool
	// rtpInfo is the RTP-Info the pending PLAY response must carry.
	rtpInfo headers.RTPInfo
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup

	writeErrors atomic.Uint64
	lost        atomic.Uint64

	// out is the session's own media writer (output.go); nil: gortsplib writes.
	out atomic.Pointer[mediaOut]
}

func newSession(s *Server, ss *gortsplib.ServerSession, c *gortsplib.ServerConn) *session {
	var b [4]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	ses := &session{s: s, ss: ss, id: hex.EncodeToString(b[:]), since: time.Now(), done: make(chan struct{})}
	if c != nil {
		ses.remote = c.NetConn().RemoteAddr().String()
	}
	ses.log = s.Logger.With("session", ses.id, "remote", ses.remote)
	s.register(ses)
	return ses
}

func sessionOf(ss *gortsplib.ServerSession) *session {
	ses, _ := ss.UserData().(*session)
	return ses
}

func (ses *session) logger() *slog.Logger {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	return ses.log
}

// bind takes a reference on the path the session works on.
func (ses *session) bind(name string) (*hub.Path, error) {
	ses.mu.Lock()
	p := ses.path
	ses.mu.Unlock()
	if p != nil {
		if p.Name() != name {
			return nil, errOtherPath
		}
		return p, nil
	}
	p, err := ses.s.Paths.Acquire(name)
	if err != nil {
		return nil, err
	}
	ses.mu.Lock()
	defer ses.mu.Unlock()
	if ses.closed {
		p.Release()
		return nil, hub.ErrPathClosed
	}
	ses.path = p
	ses.log = ses.log.With("path", name)
	return p, nil
}

// setup returns the stream a reader's SETUP attaches to.
func (ses *session) setup(srv *gortsplib.Server, name string, multicast bool) (*gortsplib.ServerStream, error) {
	p, err := ses.bind(name)
	if err != nil {
		return nil, err
	}
	ses.mu.Lock()
	rs := ses.rs
	ses.mu.Unlock()
	if rs != nil {
		return rs, nil
	}
	st, err := p.WaitStream(ses.s.ctx)
	if err != nil {
		return nil, err
	}
	rs, err = ses.s.serverStream(srv, st, multicast)
	if err != nil {
		return nil, err
	}
	var ts timeline.Source
	if ses.s.Timeshift != nil && !multicast {
		ts = ses.s.Timeshift(name)
	}
	ses.mu.Lock()
	ses.stream, ses.rs, ses.multicast = st, rs, multicast
	ses.rw = newRewriter(len(st.Tracks))
	ses.vcr.ts = ts
	ses.initMediasLocked(st.Desc.Medias)
	for i, m := range st.Desc.Medias {
		for j := len(st.Tracks) - 1; j >= 0; j-- {
			if st.Tracks[j].Media == m {
				ses.vcr.track[i] = j // the media's first track
			}
		}
	}
	ses.mu.Unlock()
	return rs, nil
}

// initMediasLocked prepares the playback state for a session set up on
// medias (one slot per media, in description order).
func (ses *session) initMediasLocked(medias []*description.Media) {
	v := &ses.vcr
	v.list = medias
	v.medias = make(map[*description.Media]int, len(medias))
	v.track = make([]int, len(medias))
	v.lastSent = make([]time.Time, len(medias))
	v.key = 0
	keyed := false
	for i, m := range medias {
		v.medias[m] = i
		v.track[i] = i
		if !keyed && m.Type == description.MediaTypeVideo {
			v.key, keyed = i, true
		}
	}
}

// setupRecorded prepares a session that plays a path's recordings from
// start (rtsp://host/path?start=...): it has no live stream, only a
// ServerStream of its own that describes the recorded tracks.
func (ses *session) setupRecorded(srv *gortsplib.Server, name string, start time.Time) (*gortsplib.ServerStream, error) {
	if _, err := ses.bind(name); err != nil {
		return nil, err
	}
	ses.mu.Lock()
	rs := ses.rs
	ses.mu.Unlock()
	if rs != nil {
		return rs, nil
	}
	src, err := ses.s.recordedSource(name, start)
	if err != nil {
		return nil, err
	}
	rs = &gortsplib.ServerStream{Server: srv, Desc: src.Description()}
	if err := rs.Initialize(); err != nil {
		return nil, fmt.Errorf("serve recordings: %w", err)
	}
	ses.mu.Lock()
	defer ses.mu.Unlock()
	if ses.closed {
		rs.Close()
		return nil, hub.ErrPathClosed
	}
	ses.rs, ses.ownRS = rs, true
	ses.rw = newRewriter(len(src.Description().Medias))
	ses.vcr.recorded, ses.vcr.src, ses.vcr.origin = true, src, start
	ses.initMediasLocked(src.Description().Medias)
	ses.log = ses.log.With("recordingsFrom", start.UTC().Format(time.RFC3339))
	return rs, nil
}

// play attaches the session to the stream, starting at the cached keyframe.
func (ses *session) play() error {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	if ses.reader != nil {
		return nil
	}
	if ses.vcr.recorded {
		return fmt.Errorf("%w: a recording has no live edge", timeline.ErrOutOfRange)
	}
	if ses.multicast {
		// The stream's multicast feed serves every multicast reader.
		ses.log.Info("reader playing", "transport", ses.ss.Transport().Protocol.String())
		return nil
	}
	if ses.stream == nil {
		return hub.ErrNoStream
	}
	st, rw := ses.stream, ses.rw
	medias, lastSent := ses.vcr.medias, ses.vcr.lastSent
	if ses.vcr.ts == nil {
		lastSent = nil // only a timeshift path resumes where it paused
	}
	setup := make(map[*description.Media]bool)
	for _, m := range ses.ss.Medias() {
		setup[m] = true
	}
	key := st.KeyTrack()
	rw.attach()
	r, err := st.AddReader(hub.ReaderConfig{
		Name:      "rtsp session " + ses.id,
		QueueSize: ses.s.ReaderQueueSize,
		Want:      func(t *hub.Track) bool { return setup[t.Media] },
		OnBurst:   func(units []*hub.Unit) { rw.planBurst(key, units) },
		// packets gortsplib's full write queue refused count as drops
		OutputDrops: ses.writeErrors.Load,
		OnUnit: func(u *hub.Unit, cached bool) error {
			if cached && u.Track != key {
				return nil // the burst is video only: squeezed audio is noise
			}
			pkt := rw.packet(u, cached)
			ses.writePacket(u.Track.Media, pkt, u.NTP)
			if lastSent != nil && (u.Packet.Marker || !u.Track.IsVideo()) {
				// Where a PAUSE leaves the session; read once this
				// reader has stopped.
				lastSent[medias[u.Track.Media]] = u.NTP
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	ses.reader = r
	ses.log.Info("reader playing", "transport", ses.ss.Transport().Protocol.String())
	return nil
}

// pause detaches the session from the stream, or stops its playback from
// the timeline, keeping its position; other sessions do not notice.
func (ses *session) pause() {
	ses.mu.Lock()
	r := ses.reader
	ses.reader = nil
	ses.mu.Unlock()
	played := ses.stopPlayback()
	if r != nil {
		r.Close()
	}
	if r != nil || played {
		ses.mu.Lock()
		ses.vcr.paused = true
		ses.mu.Unlock()
		ses.logger().Info("reader paused")
	}
}

// announce checks that the session may publish to the path.
func (ses *session) announce(name string) error {
	p, err := ses.bind(name)
	if err != nil {
		return err
	}
	return p.CanPublish()
}

// record makes the session the path's source.
func (ses *session) record() error {
	ses.mu.Lock()
	p := ses.path
	ses.mu.Unlock()
	if p == nil {
		return hub.ErrNoStream
	}
	pub, err := p.Publish(ses.ss.AnnouncedDescription())
	if err != nil {
		return err
	}
	ses.mu.Lock()
	if ses.closed {
		ses.mu.Unlock()
		pub.Close()
		return hub.ErrPathClosed
	}
	ses.pub = pub
	ses.mu.Unlock()

	ss := ses.ss
	ss.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS(m, pkt)
		if !ok {
			return
		}
		ntp, _ := ss.PacketNTP(m, pkt)
		pub.WriteRTP(m, pkt, pts, ntp)
	})
	ses.wg.Add(1)
	go func() {
		defer ses.wg.Done()
		select {
		case <-pub.Done():
			if err := pub.Err(); err != nil {
				ses.logger().Info("publisher ended by the gateway", "reason", err)
				ss.Close()
			}
		case <-ses.done:
		}
	}()
	ses.logger().Info("publisher recording", "tracks", len(pub.Stream().Tracks))
	return nil
}

// close releases everything the session holds. gortsplib calls it once.
func (ses *session) close(reason error) {
	ses.mu.Lock()
	if ses.closed {
		ses.mu.Unlock()
		return
	}
	ses.closed = true
	r, pub, p := ses.reader, ses.pub, ses.path
	ses.reader, ses.pub = nil, nil
	close(ses.done)
	ses.mu.Unlock()
	ses.s.unregister(ses)

	if r != nil {
		r.Close()
	}
	if pub != nil {
		pub.Close()
	}
	ses.stopPlayback()
	ses.dropCursor()
	ses.wg.Wait()
	ses.closeOutput()
	ses.mu.Lock()
	own := ses.ownRS
	ses.mu.Unlock()
	if own {
		ses.rs.Close()
	}
	if p != nil {
		p.Release()
		attrs := []any{"reason", reason}
		if n := ses.writeErrors.Load(); n > 0 {
			// Packets gortsplib could not queue for a client too slow to take them.
			attrs = append(attrs, "dropped", n)
		}
		if r != nil {
			if n := r.Dropped(); n > 0 {
				attrs = append(attrs, "droppedInHub", n)
			}
		}
		ses.logger().Info("session closed", attrs...)
	}
}
