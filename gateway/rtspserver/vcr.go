package rtspserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/streamgate/streamgate/gateway/timeline"
)

// seekGap is the output-time gap put between the last packet before a seek
// and the first one after it, so timestamps never run backwards.
const seekGap = 40 * time.Millisecond

// maxPaceGap is the longest pause between two frames that playback
// reproduces; a longer one (a source outage inside the buffer) is skipped.
const maxPaceGap = 2 * time.Second

// errScale refuses a Scale other than 1.
var errScale = errors.New("only Scale 1 is supported")

// playAnswer is what a PLAY response carries besides the status.
type playAnswer struct {
	rangeHdr string
	rtpInfo  headers.RTPInfo
}

// vcrState is a reader session's position on a path that keeps a time
// range: where it paused, which frames it sent last, and the playback
// goroutine that feeds it from the timeline. Guarded by session.mu.
type vcrState struct {
	// ts is the path's timeshift buffer, nil without one.
	ts timeline.Source
	// recorded says the session was opened on recordings (?start=); src
	// is then the recordings it plays and origin the time it asked for.
	recorded bool
	src      timeline.Source
	origin   time.Time
	// nptBase is the time npt 0 stands for in the current playback.
	nptBase time.Time
	// list is the session's medias in description order; key the index
	// of the video media (0 without video).
	list []*description.Media
	key  int
	// medias maps the stream's medias to their index in its description.
	medias map[*description.Media]int
	// track is, per media index, the hub track (and rewriter slot) of
	// the media's first format.
	track []int
	// cursor is the playback position (playing or paused); pending is a
	// frame taken from it and not sent yet.
	cursor  timeline.Cursor
	pending *timeline.Frame
	// skip holds, per media, the source time of the last frame sent: a
	// resumed playback skips frames at or before it.
	skip []time.Time
	// lastSent is, per media, the source time of the last complete frame
	// sent, live or played back (written by the goroutine that sends).
	lastSent []time.Time
	// shift maps source time to the session's output time.
	shift time.Duration
	// paused says the session played and is paused now.
	paused bool
	cancel context.CancelFunc
	done   chan struct{}
}

// playRequest serves a PLAY: live, resumed, or a seek into the path's
// timeshift buffer or recordings, and says what the response must carry.
func (ses *session) playRequest(rng playRange, u *base.URL) (playAnswer, error) {
	live := playAnswer{rangeHdr: "npt=now-"}
	ses.mu.Lock()
	v := &ses.vcr
	ts, recorded, multicast := v.ts, v.recorded, ses.multicast
	ses.mu.Unlock()
	if multicast || (ts == nil && !recorded && ses.s.Recordings == nil) {
		// No time range on this path: PLAY is live whatever Range says.
		return live, ses.play()
	}

	// Where to go, checked before anything changes: a refused PLAY leaves
	// the session playing as it did.
	target, src, nptBase, err := ses.resolve(rng)
	if err != nil {
		return playAnswer{}, err
	}
	seek := src != nil

	if !seek {
		switch rng.kind {
		case rangeLive:
			ses.stopPlayback()
			ses.dropCursor()
			ses.mu.Lock()
			v.paused = false
			ses.mu.Unlock()
			return live, ses.play()
		case rangeFromStart, rangeFromEdge:
			// npt on a path that keeps only recordings: no window to
			// count from, so live, like a path without any time range.
			if !ses.isLive() && !ses.isPlayingBack() {
				return live, ses.play()
			}
			return live, nil
		}
		if ses.isLive() || ses.isPlayingBack() {
			return live, nil // PLAY while playing: nothing changes
		}
		ses.mu.Lock()
		paused, cur := v.paused, v.cursor
		ses.mu.Unlock()
		if !paused && cur == nil {
			return live, ses.play()
		}
		if cur == nil && ts == nil {
			// Paused while live on a path without timeshift: live again.
			ses.mu.Lock()
			v.paused = false
			ses.mu.Unlock()
			return live, ses.play()
		}
	}
	ses.stopPlayback()
	ses.pauseLive()
	ses.mu.Lock()
	defer ses.mu.Unlock()
	var t0 time.Time
	switch {
	case seek:
		cur, at, err := src.Seek(target)
		if err != nil {
			return playAnswer{}, err
		}
		ses.dropCursorLocked()
		v.cursor, v.nptBase, t0, v.skip = cur, nptBase, at, nil
		// Output time moves on from the newest packet sent.
		var newest time.Time
		for i := range ses.rw.tracks {
			if tc := &ses.rw.tracks[i]; tc.used && tc.lastOut.After(newest) {
				newest = tc.lastOut
			}
		}
		if newest.IsZero() {
			v.shift = 0
		} else {
			v.shift = newest.Add(seekGap).Sub(at)
		}
	case v.cursor != nil:
		// Paused during playback: continue with the frame it stopped at.
		t0 = v.positionLocked()
	default:
		// Paused while live: continue after the last frame sent.
		last := v.lastSent[v.key]
		if last.IsZero() {
			v.paused = false
			ses.mu.Unlock()
			err := ses.play()
			ses.mu.Lock()
			return live, err
		}
		start, _ := ts.Span()
		cur, _, err := ts.Seek(last)
		if err != nil {
			// The paused position left the window: play its oldest part.
			ses.log.Info("paused position left the timeshift window; resuming at its start", "paused", last)
			cur, last, err = ts.Seek(start)
			if err != nil {
				return playAnswer{}, err
			}
			v.skip = nil
		} else {
			v.skip = make([]time.Time, len(v.lastSent))
			for i, t := range v.lastSent {
				if t.IsZero() {
					t = last
				}
				v.skip[i] = t
			}
		}
		v.cursor, v.nptBase, t0 = cur, start, last
	}
	v.paused = false
	ans := playAnswer{rtpInfo: ses.rtpInfoLocked(u, t0.Add(v.shift))}
	if rng.kind == rangeClock {
		ans.rangeHdr = "clock=" + formatClock(t0) + "-"
	} else {
		ans.rangeHdr = "npt=" + formatNPT(t0.Sub(v.nptBase)) + "-"
	}
	ses.startPlaybackLocked()
	ses.log.Info("reader playing from the timeline", "from", t0.UTC().Format(time.RFC3339Nano),
		"behind", time.Since(t0).Round(time.Millisecond))
	return ans, nil
}

// resolve turns a PLAY's Range into the time and the source to seek in,
// and the time npt 0 stands for there. A nil source means no seek (live,
// resume or play on). Errors wrap timeline.ErrOutOfRange.
func (ses *session) resolve(rng playRange) (time.Time, timeline.Source, time.Time, error) {
	ses.mu.Lock()
	v := &ses.vcr
	ts, recorded, origin, cur := v.ts, v.recorded, v.origin, v.src
	played := v.cursor != nil || v.paused
	ses.mu.Unlock()
	var none time.Time
	inside := func(src timeline.Source, t time.Time) error {
		start, end := src.Span()
		if start.IsZero() || t.Before(start) || t.After(end.Add(time.Second)) {
			return fmt.Errorf("%w: %s is outside %s – %s", timeline.ErrOutOfRange,
				t.UTC().Format(time.RFC3339Nano), start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
		}
		return nil
	}
	seekIn := func(src timeline.Source, t, base time.Time) (time.Time, timeline.Source, time.Time, error) {
		if err := inside(src, t); err != nil {
			return none, nil, none, err
		}
		return t, src, base, nil
	}
	if recorded {
		_, end := cur.Span()
		switch rng.kind {
		case rangeNone:
			if played {
				return none, nil, none, nil
			}
			// A start inside a gap plays from the next recording.
			t := origin
			if start, _ := cur.Span(); t.Before(start) {
				t = start
			}
			return seekIn(cur, t, origin)
		case rangeLive:
			return none, nil, none, fmt.Errorf("%w: a recording has no live edge", timeline.ErrOutOfRange)
		case rangeFromStart:
			return seekIn(cur, origin.Add(rng.npt), origin)
		case rangeFromEdge:
			return seekIn(cur, end.Add(-rng.npt), origin)
		}
		if err := inside(cur, rng.clock); err == nil {
			return rng.clock, cur, origin, nil
		}
		// Older or newer recordings, if their tracks fit the session's.
		src, err := ses.recordings(rng.clock)
		if err != nil {
			return none, nil, none, err
		}
		return seekIn(src, rng.clock, origin)
	}
	switch rng.kind {
	case rangeFromStart, rangeFromEdge:
		if ts == nil {
			return none, nil, none, nil
		}
		start, end := ts.Span()
		t := start.Add(rng.npt)
		if rng.kind == rangeFromEdge {
			t = end.Add(-rng.npt)
		}
		return seekIn(ts, t, start)
	case rangeClock:
		var tsErr error
		if ts != nil {
			start, _ := ts.Span()
			if tsErr = inside(ts, rng.clock); tsErr == nil {
				return rng.clock, ts, start, nil
			}
		}
		src, err := ses.recordings(rng.clock)
		if err != nil {
			if tsErr != nil && errors.Is(err, errNoRecordings) {
				return none, nil, none, tsErr
			}
			return none, nil, none, err
		}
		return seekIn(src, rng.clock, rng.clock)
	}
	return none, nil, none, nil
}

// errNoRecordings says the server has no recordings to play.
var errNoRecordings = fmt.Errorf("%w: no recordings", timeline.ErrOutOfRange)

// recordings returns the path's recordings around t, when their tracks fit
// the medias the session set up.
func (ses *session) recordings(t time.Time) (timeline.Source, error) {
	if ses.s.Recordings == nil {
		return nil, errNoRecordings
	}
	ses.mu.Lock()
	name, medias := ses.path.Name(), ses.vcr.list
	ses.mu.Unlock()
	src, err := ses.s.Recordings(name, t)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", timeline.ErrOutOfRange, err)
	}
	if !fits(src.Description().Medias, medias) {
		return nil, fmt.Errorf("%w: the recordings at %s have other tracks than this session",
			timeline.ErrOutOfRange, t.UTC().Format(time.RFC3339))
	}
	return src, nil
}

// fits reports whether media played from a source with medias have can go
// to a session set up with want: the same kinds of track with the same
// codecs, in the same order.
func fits(have, want []*description.Media) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i].Type != want[i].Type || len(have[i].Formats) == 0 || len(want[i].Formats) == 0 ||
			have[i].Formats[0].Codec() != want[i].Formats[0].Codec() {
			return false
		}
	}
	return true
}

// positionLocked is the source time playback will continue from.
func (v *vcrState) positionLocked() time.Time {
	if v.pending != nil {
		return v.pending.Time
	}
	var last time.Time
	for _, t := range v.lastSent {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// rtpInfoLocked tells the client the first sequence number and timestamp
// of each set-up track, at output time out.
func (ses *session) rtpInfoLocked(u *base.URL, out time.Time) headers.RTPInfo {
	var info headers.RTPInfo
	for _, m := range ses.ss.Medias() {
		i, ok := ses.vcr.medias[m]
		if !ok {
			continue
		}
		clock := m.Formats[0].ClockRate()
		ses.rw.prime(ses.vcr.track[i], out)
		seq, ts := ses.rw.next(ses.vcr.track[i], clock, out)
		control := u.Clone()
		control.RawQuery = ""
		control.Path = "/" + ses.path.Name() + "/trackID=" + strconv.Itoa(i)
		info = append(info, &headers.RTPInfoEntry{URL: control.String(), SequenceNumber: &seq, Timestamp: &ts})
	}
	return info
}

// isLive reports whether a live reader feeds the session.
func (ses *session) isLive() bool {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	return ses.reader != nil
}

// isPlayingBack reports whether the playback goroutine runs.
func (ses *session) isPlayingBack() bool {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	return ses.vcr.cancel != nil
}

// pauseLive detaches the live reader, if any, without marking a pause.
func (ses *session) pauseLive() {
	ses.mu.Lock()
	r := ses.reader
	ses.reader = nil
	ses.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// startPlaybackLocked starts the goroutine that sends the timeline.
func (ses *session) startPlaybackLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ses.vcr.cancel, ses.vcr.done = cancel, done
	cur, pending, skip, shift, track := ses.vcr.cursor, ses.vcr.pending, ses.vcr.skip, ses.vcr.shift, ses.vcr.track
	ses.vcr.pending, ses.vcr.skip = nil, nil
	medias := ses.vcr.list
	setup := make([]bool, len(medias))
	for _, m := range ses.ss.Medias() {
		if i, ok := ses.vcr.medias[m]; ok {
			setup[i] = true
		}
	}
	ses.wg.Add(1)
	go func() {
		defer ses.wg.Done()
		defer close(done)
		left, eof := ses.playback(ctx, cur, pending, skip, shift, medias, track, setup)
		if eof {
			ses.endOfRecordings(ctx)
			return
		}
		ses.mu.Lock()
		ses.vcr.pending = left
		ses.mu.Unlock()
	}()
}

// endOfRecordings ends a session opened on recordings once they are played
// out, so its client sees the end of the stream. A live session that
// seeked into recordings stays, paused in effect, until its next PLAY.
func (ses *session) endOfRecordings(ctx context.Context) {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	if ctx.Err() == nil && ses.vcr.recorded {
		ses.log.Info("closing the session at the end of the recordings")
		ses.ss.Close()
	}
}

// stopPlayback ends the playback goroutine, keeping the cursor, and
// reports whether one was running.
func (ses *session) stopPlayback() bool {
	ses.mu.Lock()
	cancel, done := ses.vcr.cancel, ses.vcr.done
	ses.vcr.cancel, ses.vcr.done = nil, nil
	ses.mu.Unlock()
	if cancel == nil {
		return false
	}
	cancel()
	<-done
	return true
}

// dropCursor forgets the playback position.
func (ses *session) dropCursor() {
	ses.mu.Lock()
	defer ses.mu.Unlock()
	ses.dropCursorLocked()
}

func (ses *session) dropCursorLocked() {
	if ses.vcr.cursor != nil {
		ses.vcr.cursor.Close()
	}
	ses.vcr.cursor, ses.vcr.pending, ses.vcr.skip = nil, nil, nil
}

// playback sends frames from cur at their original pace until ctx ends or
// the timeline does. It returns the frame it took but did not send, and
// whether it stopped at the end of the recordings.
func (ses *session) playback(ctx context.Context, cur timeline.Cursor, f *timeline.Frame, skip []time.Time,
	shift time.Duration, medias []*description.Media, track []int, setup []bool,
) (*timeline.Frame, bool) {
	var (
		timer      *time.Timer
		t0, w0     time.Time
		prev       time.Time
		err        error
		sentFrames int
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if f == nil {
			f, err = cur.Next(ctx)
			if err != nil {
				switch {
				case ctx.Err() != nil:
				case errors.Is(err, io.EOF):
					ses.logger().Info("end of the recordings reached", "frames", sentFrames)
					return nil, true
				case errors.Is(err, timeline.ErrEvicted):
					ses.logger().Warn("playback fell out of the timeshift window; closing the session")
					ses.ss.Close()
				default:
					ses.logger().Warn("playback stopped", "error", err)
					ses.ss.Close()
				}
				return nil, false
			}
		}
		if f.Track >= len(setup) || !setup[f.Track] || (skip != nil && !f.Time.After(skip[f.Track])) {
			f = nil
			continue
		}
		now := time.Now()
		if t0.IsZero() || f.Time.Sub(prev) > maxPaceGap || prev.Sub(f.Time) > maxPaceGap {
			t0, w0 = f.Time, now
		}
		if due := w0.Add(f.Time.Sub(t0)); due.After(now) {
			if timer == nil {
				timer = time.NewTimer(due.Sub(now))
			} else {
				timer.Reset(due.Sub(now))
			}
			select {
			case <-ctx.Done():
				return f, false
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return f, false
		}
		if f.Time.After(prev) {
			prev = f.Time
		}
		m := medias[f.Track]
		clock, pt := m.Formats[0].ClockRate(), m.Formats[0].PayloadType()
		out := f.Time.Add(shift)
		for _, p := range f.Packets {
			pkt := ses.rw.played(track[f.Track], clock, p, out)
			pkt.PayloadType = pt // recordings number their formats their own way
			ses.writePacket(m, pkt, out)
		}
		ses.mu.Lock()
		ses.vcr.lastSent[f.Track] = f.Time
		ses.mu.Unlock()
		sentFrames++
		f = nil
	}
}
