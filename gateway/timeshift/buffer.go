// Package timeshift keeps the last minutes of a path's stream in memory so
// that RTSP sessions can pause and resume where they paused, and seek back
// in time, while the live stream goes on. A Buffer is a hub reader: it holds
// the hub's units (no copy of the media) grouped into frames, and evicts
// the oldest frames by age and by size.
package timeshift

import (
	"context"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/gateway/hub"
	"github.com/streamgate/streamgate/gateway/timeline"
)

// frame is one access unit held in the buffer: its packets' headers and
// payloads copied into one allocation of the frame's size, so the buffer
// holds no pooled hub units and costs little more than the media itself.
// A frame is immutable once added.
type frame struct {
	timeline.Frame
	size int
	// key marks a random-access frame of the key track: a place to seek to.
	key bool
}

// compact builds a frame from the units of one access unit.
func compact(units []*hub.Unit) *frame {
	size := 0
	for _, u := range units {
		size += len(u.Packet.Payload)
	}
	data := make([]byte, size)
	pkts := make([]rtp.Packet, len(units))
	f := &frame{size: size}
	f.Packets = make([]*rtp.Packet, len(units))
	off := 0
	for i, u := range units {
		pkts[i].Header = u.Packet.Header
		pkts[i].Header.CSRC = append([]uint32(nil), u.Packet.CSRC...)
		pkts[i].Header.Extension, pkts[i].Header.Extensions = false, nil
		n := copy(data[off:], u.Packet.Payload)
		pkts[i].Payload = data[off : off+n : off+n]
		off += n
		f.Packets[i] = &pkts[i]
	}
	return f
}

// Buffer holds a sliding window of one path's frames, fed by a Keeper and
// read through the timeline.Source methods. Safe for concurrent use.
type Buffer struct {
	// Window is how much time the buffer keeps. Required.
	Window time.Duration
	// MaxBytes bounds the payload bytes kept; the oldest frames go first.
	// 0 means no bound beyond Window.
	MaxBytes int64

	mu     sync.Mutex
	desc   *description.Session
	frames []*frame // frames[0] has absolute index base
	base   uint64
	bytes  int64
	// grow is closed and replaced whenever a frame is added or the buffer
	// is reset, to wake cursors waiting at the live edge.
	grow chan struct{}
	// epoch changes when the buffer is reset (a new stream with other
	// codecs), so cursors of the old content end.
	epoch uint64
}

func (b *Buffer) init() {
	if b.grow == nil {
		b.grow = make(chan struct{})
	}
}

// Description returns the description of the stream the buffer holds.
func (b *Buffer) Description() *description.Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.desc
}

// Span is the time range a session can seek into: from the oldest
// random-access frame of the key track to the newest frame.
func (b *Buffer) Span() (start, end time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.frames {
		if f.key {
			start = f.Time
			break
		}
	}
	if start.IsZero() {
		return time.Time{}, time.Time{}
	}
	return start, b.newestLocked()
}

// newestLocked is the time of the newest frame. Frames arrive nearly in
// time order (tracks interleave, B-frames reorder), so the newest is
// among the last few.
func (b *Buffer) newestLocked() time.Time {
	var newest time.Time
	for i := len(b.frames) - 1; i >= 0 && i >= len(b.frames)-8; i-- {
		if t := b.frames[i].Time; t.After(newest) {
			newest = t
		}
	}
	return newest
}

// Bytes is the payload size the buffer holds now.
func (b *Buffer) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}

// Seek returns a cursor at the newest key frame at or before t.
func (b *Buffer) Seek(t time.Time) (timeline.Cursor, time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	at := -1
	for i, f := range b.frames {
		if !f.key {
			continue
		}
		if f.Time.After(t) {
			break
		}
		at = i
	}
	if at < 0 {
		return nil, time.Time{}, timeline.ErrOutOfRange
	}
	// Past the newest frame is the future.
	if t.After(b.newestLocked().Add(time.Second)) {
		return nil, time.Time{}, timeline.ErrOutOfRange
	}
	return &cursor{b: b, pos: b.base + uint64(at), epoch: b.epoch}, b.frames[at].Time, nil
}

// reset drops every frame, for a stream whose codecs differ.
func (b *Buffer) resetLocked(desc *description.Session) {
	clear(b.frames)
	b.base += uint64(len(b.frames))
	b.frames = b.frames[:0]
	b.bytes = 0
	b.desc = desc
	b.epoch++
	b.wakeLocked()
}

func (b *Buffer) wakeLocked() {
	close(b.grow)
	b.grow = make(chan struct{})
}

// add appends a complete frame and evicts what falls out of the window.
func (b *Buffer) add(f *frame) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	b.frames = append(b.frames, f)
	b.bytes += int64(f.size)
	n := 0
	for n < len(b.frames)-1 {
		old := b.frames[n]
		if f.Time.Sub(old.Time) <= b.Window && (b.MaxBytes <= 0 || b.bytes <= b.MaxBytes) {
			break
		}
		b.bytes -= int64(old.size)
		b.frames[n] = nil
		n++
	}
	if n > 0 {
		// Shift in place now and then rather than on every eviction.
		b.frames = b.frames[n:]
		b.base += uint64(n)
		if cap(b.frames) > 2*len(b.frames)+1024 {
			b.frames = append(make([]*frame, 0, 2*len(b.frames)+64), b.frames...)
		}
	}
	b.wakeLocked()
}

// Close releases every frame. The buffer must not be fed afterwards.
func (b *Buffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	b.resetLocked(nil)
}

// cursor walks the buffer by absolute frame index.
type cursor struct {
	b     *Buffer
	pos   uint64
	epoch uint64
	done  bool
}

// Next returns the frame at the cursor and moves on. It waits at the live edge.
func (c *cursor) Next(ctx context.Context) (*timeline.Frame, error) {
	for {
		c.b.mu.Lock()
		if c.done {
			c.b.mu.Unlock()
			return nil, context.Canceled
		}
		if c.epoch != c.b.epoch || c.pos < c.b.base {
			c.b.mu.Unlock()
			return nil, timeline.ErrEvicted
		}
		if i := c.pos - c.b.base; i < uint64(len(c.b.frames)) {
			f := c.b.frames[i]
			c.pos++
			c.b.mu.Unlock()
			return &f.Frame, nil
		}
		grow := c.b.grow
		c.b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-grow:
		}
	}
}

// Close ends the cursor: Next returns an error from now on.
func (c *cursor) Close() {
	c.b.mu.Lock()
	c.done = true
	c.b.mu.Unlock()
}

// assembler groups a stream's units into frames for a buffer; it runs in
// the hub reader's goroutine.
type assembler struct {
	b       *Buffer
	key     *hub.Track
	medias  map[*description.Media]int
	pending [][]*hub.Unit // per track: the units of the access unit being received
}

func newAssembler(b *Buffer, st *hub.Stream) *assembler {
	a := &assembler{b: b, key: st.KeyTrack(), medias: make(map[*description.Media]int), pending: make([][]*hub.Unit, len(st.Tracks))}
	for i, m := range st.Desc.Medias {
		a.medias[m] = i
	}
	return a
}

func (a *assembler) unit(u *hub.Unit) {
	t := u.Track
	if u.AUStart {
		a.flush(t.Index)
	} else if len(a.pending[t.Index]) == 0 {
		return // the middle of a frame whose start we never saw
	}
	u.Retain()
	a.pending[t.Index] = append(a.pending[t.Index], u)
	if u.Packet.Marker || !t.IsVideo() {
		a.flush(t.Index)
	}
}

func (a *assembler) flush(i int) {
	units := a.pending[i]
	if len(units) == 0 {
		return
	}
	first := units[0]
	f := compact(units)
	f.Track = a.medias[first.Track.Media]
	f.Time = first.NTP
	f.Random = first.RandomAccess
	f.key = first.RandomAccess && (first.Track == a.key || a.key == nil)
	for j, u := range units {
		u.Release()
		units[j] = nil
	}
	a.pending[i] = units[:0]
	a.b.add(f)
}

// close drops frames that never completed.
func (a *assembler) close() {
	for i, units := range a.pending {
		for _, u := range units {
			u.Release()
		}
		a.pending[i] = nil
	}
}
