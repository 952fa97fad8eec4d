package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/gateway/timeline"
)

// ErrNotFound says a path has no recordings (in the asked range).
var ErrNotFound = errors.New("no recordings")

// ErrFormatChanged says the recordings change codecs (or their
// parameters) inside the asked range: a cursor met a segment its source's
// description does not fit, or a download would need two inits.
var ErrFormatChanged = errors.New("the recorded codecs change")

// Payload types of the description a recording source serves.
const (
	payloadTypeVideo = 96
	payloadTypeAudio = 97
)

// source plays the recordings of one path (timeline.Source).
type source struct {
	x    *pathIndex
	lay  *layout
	desc *description.Session
}

// Source returns the recordings of path as a timeline.Source. Its
// description is built from the tracks of the newest segment: one media
// per track, video first, each with one format (H264, H265, MPEG4Audio or
// Opus; payload types 96 for video, 97 for audio). A cursor that reaches a
// segment with other tracks or codecs fails with ErrFormatChanged
// (SourceAt serves older recordings with their own description); a change
// of video parameter sets alone is fine, they travel in band.
//
// Seek lands on the newest keyframe at or before t, or on the first
// keyframe after a gap when t falls between recordings. Cursors return
// the frames of all tracks in time order across segments (decode order:
// with B-frames, video frames come as they are decoded while Frame.Time
// is each one's presentation time), each frame's
// packets made by the format's packetiser (RTP timestamps are the
// wall-clock time in the track's clock, modulo 2^32; sequence numbers and
// SSRC are the packetiser's), and io.EOF after the last fragment written
// so far: a segment being recorded plays up to its newest fragment. It
// returns ErrNotFound when the path has no recording.
func (s *Store) Source(path string) (timeline.Source, error) {
	return s.sourceNear(path, time.Time{})
}

// SourceAt is Source with the description of the segment that holds t
// (or the first one after t), for playing recordings made before a codec
// change.
func (s *Store) SourceAt(path string, t time.Time) (timeline.Source, error) {
	if t.IsZero() {
		return nil, fmt.Errorf("path %s: %w", path, timeline.ErrOutOfRange)
	}
	return s.sourceNear(path, t)
}

func (s *Store) sourceNear(path string, t time.Time) (*source, error) {
	x, err := s.index(path)
	if err != nil {
		return nil, err
	}
	segs := x.snapshot(time.Time{}, time.Time{})
	if len(segs) == 0 {
		return nil, fmt.Errorf("path %s: %w", path, ErrNotFound)
	}
	pick := segs[len(segs)-1]
	if !t.IsZero() {
		i := sort.Search(len(segs), func(i int) bool { return segs[i].end.After(t) })
		if i == len(segs) {
			return nil, fmt.Errorf("path %s: %v: %w", path, t, timeline.ErrOutOfRange)
		}
		pick = segs[i]
	}
	lay, err := x.layoutOf(pick.name)
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", path, err)
	}
	desc, err := describe(lay)
	if err != nil {
		return nil, fmt.Errorf("path %s: segment %s: %w", path, pick.name, err)
	}
	return &source{x: x, lay: lay, desc: desc}, nil
}

// describe builds the session description of a segment's tracks: one
// media per track, one format each, in track order.
func describe(lay *layout) (*description.Session, error) {
	desc := &description.Session{Title: "recording"}
	for _, t := range lay.tracks {
		var f format.Format
		typ := description.MediaTypeAudio
		switch c := t.codec.(type) {
		case *codecs.H264:
			f = &format.H264{PayloadTyp: payloadTypeVideo, SPS: c.SPS, PPS: c.PPS, PacketizationMode: 1}
			typ = description.MediaTypeVideo
		case *codecs.H265:
			f = &format.H265{PayloadTyp: payloadTypeVideo, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}
			typ = description.MediaTypeVideo
		case *codecs.MPEG4Audio:
			cfg := c.Config
			f = &format.MPEG4Audio{PayloadTyp: payloadTypeAudio, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		case *codecs.Opus:
			f = &format.Opus{PayloadTyp: payloadTypeAudio, ChannelCount: c.ChannelCount}
		default:
			return nil, fmt.Errorf("track %d: unsupported codec %T", t.id, t.codec)
		}
		desc.Medias = append(desc.Medias, &description.Media{Type: typ, Formats: []format.Format{f}})
	}
	return desc, nil
}

// compatible reports whether frames of segment layout b can be served
// under a description built from a: the same tracks with the same codecs
// and timescales. Video parameter sets may differ (they are in band).
func compatible(a, b *layout) bool {
	if len(a.tracks) != len(b.tracks) {
		return false
	}
	for i := range a.tracks {
		ta, tb := a.tracks[i], b.tracks[i]
		if ta.id != tb.id || ta.timescale != tb.timescale || reflect.TypeOf(ta.codec) != reflect.TypeOf(tb.codec) {
			return false
		}
		switch ca := ta.codec.(type) {
		case *codecs.MPEG4Audio:
			if ca.Config != tb.codec.(*codecs.MPEG4Audio).Config {
				return false
			}
		case *codecs.Opus:
			if ca.ChannelCount != tb.codec.(*codecs.Opus).ChannelCount {
				return false
			}
		}
	}
	return true
}

// Description implements timeline.Source.
func (src *source) Description() *description.Session { return src.desc }

// Span implements timeline.Source: from the start of the oldest segment
// to the end of the newest (gaps included).
func (src *source) Span() (start, end time.Time) {
	segs := src.x.snapshot(time.Time{}, time.Time{})
	if len(segs) == 0 {
		return time.Time{}, time.Time{}
	}
	return segs[0].start, segs[len(segs)-1].end
}

// Seek implements timeline.Source. A time inside a gap between recordings
// seeks to the first keyframe after the gap.
func (src *source) Seek(t time.Time) (timeline.Cursor, time.Time, error) {
	segs := src.x.snapshot(time.Time{}, time.Time{})
	if len(segs) == 0 || t.Before(segs[0].start) || t.After(segs[len(segs)-1].end) {
		return nil, time.Time{}, fmt.Errorf("path %s: %s: %w", src.x.name, t.UTC().Format(time.RFC3339Nano), timeline.ErrOutOfRange)
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].start.After(t) }) - 1
	if i < 0 {
		i = 0
	}
	if i+1 < len(segs) && !t.Before(segs[i].end) {
		i++ // in a gap: the recording after it
	}
	for ; i < len(segs); i++ {
		frags, _, err := src.x.fragmentsOf(segs[i].name)
		if err != nil {
			return nil, time.Time{}, err
		}
		k := -1
		for j, fi := range frags {
			if !fi.key {
				continue
			}
			if k < 0 || !fi.keyTime.After(t) {
				k = j
			}
			if fi.keyTime.After(t) {
				break
			}
		}
		if k < 0 {
			continue // no keyframe in this segment: try the next one
		}
		c, err := src.cursorAt(segs[i].name, k, frags[k].keyTime)
		if err != nil {
			return nil, time.Time{}, err
		}
		return c, frags[k].keyTime, nil
	}
	return nil, time.Time{}, fmt.Errorf("path %s: no keyframe at or after %s: %w", src.x.name, t.UTC().Format(time.RFC3339Nano), timeline.ErrOutOfRange)
}

// cursorAt opens a cursor at fragment k of segment name; frames before
// from in that fragment are skipped.
func (src *source) cursorAt(name string, k int, from time.Time) (*cursor, error) {
	c := &cursor{src: src, skipBefore: from, encs: make([]trackEncoder, len(src.lay.tracks))}
	for i := range src.lay.tracks {
		enc, err := newTrackEncoder(src.desc.Medias[i].Formats[0])
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", src.x.name, err)
		}
		c.encs[i] = enc
	}
	if err := c.openSegment(name, k); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// cursor walks recordings fragment by fragment (timeline.Cursor). It keeps
// the frames of the fragments read so far that may still be followed by
// earlier ones (tracks of one fragment overlap the next a little) and
// hands them out in decode-time order.
type cursor struct {
	src        *source
	encs       []trackEncoder
	skipBefore time.Time

	seg   string
	lay   *layout
	f     *os.File
	frags []fragInfo
	next  int // index of the next fragment to read

	buf    []queued
	done   bool
	closed bool
}

// openSegment switches the cursor to segment name, at fragment k.
func (c *cursor) openSegment(name string, k int) error {
	x := c.src.x
	lay, err := x.layoutOf(name)
	if err != nil {
		return err
	}
	if !compatible(c.src.lay, lay) {
		return fmt.Errorf("path %s: segment %s: %w", x.name, name, ErrFormatChanged)
	}
	frags, _, err := x.fragmentsOf(name)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(x.dir, name))
	if err != nil {
		return fmt.Errorf("path %s: %w", x.name, err)
	}
	if c.f != nil {
		c.f.Close()
	}
	c.seg, c.lay, c.f, c.frags, c.next = name, lay, f, frags, k
	return nil
}

// Next implements timeline.Cursor.
func (c *cursor) Next(ctx context.Context) (*timeline.Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.closed {
			return nil, errors.New("cursor closed")
		}
		if len(c.buf) > 0 {
			bound, more, err := c.boundary()
			if err != nil {
				return nil, err
			}
			if !more || !c.buf[0].dts.After(bound) {
				fr := c.buf[0].frame
				c.buf[0] = queued{}
				c.buf = c.buf[1:]
				return fr, nil
			}
		}
		if c.done {
			return nil, io.EOF
		}
		ok, err := c.advance()
		if err != nil {
			return nil, err
		}
		if !ok {
			c.done = true
		}
	}
}

// boundary is the earliest time a frame not yet read can have: the start
// of the next fragment (more is false when there is none now).
func (c *cursor) boundary() (time.Time, bool, error) {
	if c.done {
		return time.Time{}, false, nil
	}
	if c.next < len(c.frags) {
		return c.frags[c.next].start, true, nil
	}
	if err := c.refresh(); err != nil {
		return time.Time{}, false, err
	}
	if c.next < len(c.frags) {
		return c.frags[c.next].start, true, nil
	}
	name, ok := c.following()
	if !ok {
		return time.Time{}, false, nil
	}
	frags, _, err := c.src.x.fragmentsOf(name)
	if err != nil || len(frags) == 0 {
		return time.Time{}, false, err
	}
	return frags[0].start, true, nil
}

// refresh picks up fragments written since the segment was opened.
func (c *cursor) refresh() error {
	frags, _, err := c.src.x.fragmentsOf(c.seg)
	if errors.Is(err, os.ErrNotExist) {
		return nil // deleted by retention: what is left of it is gone
	}
	if err != nil {
		return err
	}
	if len(frags) > len(c.frags) {
		c.frags = frags
	}
	return nil
}

// following returns the segment after the cursor's (names sort by time,
// so this also works when retention deleted the cursor's segment).
func (c *cursor) following() (string, bool) {
	x := c.src.x
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.segs {
		if s.name > c.seg {
			return s.name, true
		}
	}
	return "", false
}

// advance reads the next fragment into the buffer, moving on to the next
// segment when this one is done. It returns false at the end.
func (c *cursor) advance() (bool, error) {
	if c.next >= len(c.frags) {
		if err := c.refresh(); err != nil {
			return false, err
		}
	}
	if c.next >= len(c.frags) {
		name, ok := c.following()
		if !ok {
			return false, nil
		}
		if err := c.openSegment(name, 0); err != nil {
			return false, err
		}
		if len(c.frags) == 0 {
			return true, nil
		}
	}
	fi := c.frags[c.next]
	c.next++
	frames, err := c.readFragment(fi)
	if err != nil {
		return false, fmt.Errorf("path %s: segment %s at %d: %w", c.src.x.name, c.seg, fi.off, err)
	}
	c.buf = append(c.buf, frames...)
	sort.SliceStable(c.buf, func(i, j int) bool { return c.buf[i].dts.Before(c.buf[j].dts) })
	return true, nil
}

// queued is a frame read ahead, with its decode time: frames go out in
// decode order (a track with B-frames must be sent as it is decoded),
// while Frame.Time is the presentation time.
type queued struct {
	frame *timeline.Frame
	dts   time.Time
}

// readFragment reads one fragment and turns its samples into frames.
func (c *cursor) readFragment(fi fragInfo) ([]queued, error) {
	data := make([]byte, fi.size)
	if _, err := c.f.ReadAt(data, fi.off); err != nil {
		return nil, err
	}
	msize, _, _, err := boxHeader(data)
	if err != nil || msize > uint64(len(data)) {
		return nil, fmt.Errorf("%w: bad moof", errBox)
	}
	tracks, err := parseMoof(data[:msize])
	if err != nil {
		return nil, err
	}
	var out []queued
	for _, t := range tracks {
		ti := c.lay.trackIndex(t.id)
		if ti < 0 {
			continue
		}
		ts := c.lay.tracks[ti].timescale
		dts := t.base
		for _, s := range t.samples {
			decode := ticksToTime(dts, ts)
			at := uint64(max(int64(dts)+int64(s.cto), 0))
			dts += uint64(s.dur)
			if s.offset < 0 || s.offset+int64(s.size) > int64(len(data)) {
				return nil, fmt.Errorf("%w: sample outside the fragment", errBox)
			}
			when := ticksToTime(at, ts)
			if !c.skipBefore.IsZero() && when.Before(c.skipBefore) {
				continue
			}
			pkts, err := c.encs[ti].encode(data[s.offset:s.offset+int64(s.size)], at)
			if err != nil || len(pkts) == 0 {
				continue // a sample the packetiser refuses is left out
			}
			out = append(out, queued{&timeline.Frame{Track: ti, Time: when, Random: s.sync, Packets: pkts}, decode})
		}
	}
	c.skipBefore = time.Time{}
	return out, nil
}

// Close implements timeline.Cursor.
func (c *cursor) Close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.f != nil {
		c.f.Close()
	}
	c.buf = nil
}

// trackEncoder packetises the samples of one track.
type trackEncoder struct {
	encode func(sample []byte, ticks uint64) ([]*rtp.Packet, error)
}

// auEncoder is an RTP packetiser of access units (H.264, H.265, AAC).
type auEncoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

func newTrackEncoder(f format.Format) (trackEncoder, error) {
	// unit turns a sample into what the packetiser takes: the NAL units of
	// an AVCC/HVCC sample, or one audio frame.
	unit := func(sample []byte) [][]byte { return [][]byte{sample} }
	var enc auEncoder
	var err error
	switch f := f.(type) {
	case *format.H264:
		enc, err = f.CreateEncoder()
		unit = nalus
	case *format.H265:
		enc, err = f.CreateEncoder()
		unit = nalus
	case *format.MPEG4Audio:
		enc, err = f.CreateEncoder()
	case *format.Opus:
		e, err := f.CreateEncoder()
		if err != nil {
			return trackEncoder{}, err
		}
		return trackEncoder{func(s []byte, ticks uint64) ([]*rtp.Packet, error) {
			if len(s) == 0 {
				return nil, nil
			}
			p, err := e.Encode(s)
			if err != nil {
				return nil, err
			}
			p.Timestamp = uint32(ticks)
			return []*rtp.Packet{p}, nil
		}}, nil
	default:
		return trackEncoder{}, fmt.Errorf("no packetiser for %T", f)
	}
	if err != nil {
		return trackEncoder{}, err
	}
	return trackEncoder{func(s []byte, ticks uint64) ([]*rtp.Packet, error) {
		au := unit(s)
		if len(au) == 0 || len(au[0]) == 0 {
			return nil, nil // the packetisers panic on empty input
		}
		pkts, err := enc.Encode(au)
		for _, p := range pkts {
			p.Timestamp = uint32(ticks)
		}
		return pkts, err
	}}, nil
}

// nalus splits an AVCC/HVCC sample into its non-empty NAL units.
func nalus(sample []byte) [][]byte {
	var au h264.AVCC
	if au.Unmarshal(sample) != nil {
		return nil
	}
	out := au[:0]
	for _, n := range au {
		if len(n) > 0 {
			out = append(out, n)
		}
	}
	return out
}
