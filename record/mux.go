package record

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// codecKind is a codec the recorder writes.
type codecKind int

const (
	kindOther codecKind = iota
	kindH264
	kindH265
	kindAAC
	kindOpus
)

// kindOf says how a format is recorded; kindOther is not recorded.
func kindOf(f format.Format) codecKind {
	switch f := f.(type) {
	case *format.H264:
		return kindH264
	case *format.H265:
		return kindH265
	case *format.MPEG4Audio:
		if f.Config != nil {
			return kindAAC
		}
	case *format.Opus:
		return kindOpus
	}
	return kindOther
}

// muxTrack is one recorded track and its state in the muxer.
type muxTrack struct {
	id        int
	kind      codecKind
	format    format.Format
	timescale uint32
	// nominal is the usual sample duration in ticks (audio frame length,
	// or the last video frame's duration), used where the next sample
	// cannot tell.
	nominal uint32

	h264DTS h264.DTSExtractor
	h265DTS h265.DTSExtractor
	// params are copies of the parameter sets seen last (see ownParams).
	params [][]byte

	// The first sample after a (re)start anchors the track's presentation
	// time to wall-clock ticks: decode ticks = anchor + dts - anchorPTS.
	anchored  bool
	anchor    uint64
	anchorPTS int64
	lastAt    uint64

	// pending is the newest sample, waiting for the next one to know its
	// duration; at is its decode time in epoch ticks.
	pending   *fmp4.Sample
	pendingAt uint64

	// frag holds the samples of the fragment being built; fragBase is the
	// decode time of the first.
	frag     []*fmp4.Sample
	fragBase uint64
}

// ownParams returns au with its parameter-set NAL units replaced by
// copies the track owns (kept while they do not change); au itself when it
// has none, so only keyframes cost an allocation.
func (t *muxTrack) ownParams(au [][]byte) [][]byte {
	var out [][]byte
	for i, n := range au {
		if !isParamSet(t.kind, n) {
			continue
		}
		if out == nil {
			out = slices.Clone(au)
		}
		own := slices.IndexFunc(t.params, func(p []byte) bool { return bytes.Equal(p, n) })
		if own < 0 {
			t.params = append(t.params, bytes.Clone(n))
			if len(t.params) > 8 {
				t.params = t.params[1:]
			}
			own = len(t.params) - 1
		}
		out[i] = t.params[own]
	}
	if out == nil {
		return au
	}
	return out
}

// decodeTicks places a sample's decode time (dts, in the track's clock)
// on the track's epoch-tick timeline, keeping it strictly increasing.
func (t *muxTrack) decodeTicks(dts, pts int64, ntp time.Time) uint64 {
	if !t.anchored {
		t.anchored = true
		t.anchor = timeToTicks(ntp, t.timescale)
		t.anchorPTS = pts
	}
	v := int64(t.anchor) + dts - t.anchorPTS
	if v < 0 {
		v = 0
	}
	at := uint64(v)
	if t.pending != nil && at <= t.pendingAt {
		at = t.pendingAt + 1
	} else if at <= t.lastAt && t.lastAt != 0 {
		at = t.lastAt + 1
	}
	t.lastAt = at
	return at
}

// muxConfig tunes a muxer.
type muxConfig struct {
	segmentDuration time.Duration
	partDuration    time.Duration
}

// muxer turns access units into segment files: one per
// segmentDuration (cut at the next keyframe), each made of fragments of
// about partDuration that are written as they complete.
type muxer struct {
	conf   muxConfig
	idx    *pathIndex
	tracks []*muxTrack
	// key is the index in tracks of the track segments and fragments are
	// cut on: the first video track, else the first track.
	key      int
	keyVideo bool

	seg       *openSegment
	fragStart time.Time
	buf       seekablebuffer.Buffer
	params    [][]byte // the parameter sets the current segment's init carries
	// onClose, when set, is called after a segment file was closed.
	onClose func()
}

// openSegment is the segment file being written.
type openSegment struct {
	f     *os.File
	name  string
	start time.Time
	size  int64
	seq   uint32
}

// errNoTracks says a stream has nothing the recorder can write.
var errNoTracks = errors.New("the stream has no track the recorder can write (H.264, H.265, AAC, Opus)")

// newMuxer prepares a muxer for the given formats (indexed as the caller
// will name them in write; unrecordable ones get a nil entry).
func newMuxer(conf muxConfig, idx *pathIndex, formats []format.Format) (*muxer, []*muxTrack, error) {
	m := &muxer{conf: conf, idx: idx, key: -1}
	byInput := make([]*muxTrack, len(formats))
	for i, f := range formats {
		k := kindOf(f)
		if k == kindOther {
			continue
		}
		t := &muxTrack{id: len(m.tracks) + 1, kind: k, format: f, timescale: uint32(f.ClockRate())}
		switch k {
		case kindH264:
			t.h264DTS.Initialize()
			t.nominal = t.timescale / 25
		case kindH265:
			t.h265DTS.Initialize()
			t.nominal = t.timescale / 25
		case kindAAC:
			sr := f.(*format.MPEG4Audio).Config.SampleRate
			if sr <= 0 {
				sr = int(t.timescale)
			}
			t.nominal = uint32(1024 * int64(t.timescale) / int64(sr))
		case kindOpus:
			t.nominal = t.timescale / 50
		}
		if t.timescale == 0 || t.nominal == 0 {
			continue
		}
		video := k == kindH264 || k == kindH265
		if m.key < 0 || (video && !m.keyVideo) {
			m.key, m.keyVideo = len(m.tracks), video
		}
		m.tracks = append(m.tracks, t)
		byInput[i] = t
	}
	if len(m.tracks) == 0 {
		return nil, nil, errNoTracks
	}
	return m, byInput, nil
}

// write records one access unit of track t: pts in the track's clock, ntp
// its wall-clock time, payloads as the hub decodes them (NAL units without
// start codes, AAC access units, one Opus packet).
func (m *muxer) write(t *muxTrack, pts int64, ntp time.Time, random bool, payloads [][]byte) error {
	switch t.kind {
	case kindH264, kindH265:
		dts, err := pts, error(nil)
		if !random && !t.anchored {
			return nil // the DTS extractor needs a keyframe first
		}
		// The extractor keeps the parameter sets it saw; the unit's memory
		// is recycled after the callback, so it gets the track's copies.
		in := t.ownParams(payloads)
		if t.kind == kindH264 {
			dts, err = t.h264DTS.Extract(in, pts)
		} else {
			dts, err = t.h265DTS.Extract(in, pts)
		}
		if err != nil {
			// A camera quirk (a reordering the extractor cannot follow):
			// decode in presentation order rather than lose the frame.
			dts = pts
		}
		avcc, err := h264.AVCC(payloads).Marshal()
		if err != nil {
			return nil
		}
		at := t.decodeTicks(dts, pts, ntp)
		s := &fmp4.Sample{PTSOffset: int32(max(pts-dts, 0)), IsNonSyncSample: !random, Payload: avcc}
		return m.add(t, at, s, random, payloads)
	case kindAAC:
		for i, au := range payloads {
			p := pts + int64(i)*int64(t.nominal)
			at := t.decodeTicks(p, p, ntp)
			// The unit (and au in it) is recycled after the callback: copy.
			if err := m.add(t, at, &fmp4.Sample{Payload: bytes.Clone(au)}, true, nil); err != nil {
				return err
			}
		}
	case kindOpus:
		if len(payloads) == 0 {
			return nil
		}
		at := t.decodeTicks(pts, pts, ntp)
		s := &fmp4.Sample{Payload: bytes.Clone(payloads[0])}
		if d := opus.PacketDuration2(payloads[0]); d > 0 {
			t.nominal = uint32(d * int64(t.timescale) / 48000)
		}
		return m.add(t, at, s, true, nil)
	}
	return nil
}

// add places a sample: it completes the track's pending sample, cuts a
// fragment or a segment where the key track says so, and keeps s pending.
func (m *muxer) add(t *muxTrack, at uint64, s *fmp4.Sample, random bool, au [][]byte) error {
	isKey := t == m.tracks[m.key]
	if m.seg == nil && !(isKey && random) {
		return nil // a segment starts at a keyframe of the key track
	}
	if t.pending != nil {
		d := at - t.pendingAt
		if t.kind == kindH264 || t.kind == kindH265 {
			t.nominal = uint32(min(d, 1<<31))
		}
		t.pending.Duration = uint32(min(d, 1<<31))
		t.push(t.pending, t.pendingAt)
		t.pending = nil
	}
	if isKey {
		now := ticksToTime(at, t.timescale)
		if m.seg != nil && (random && m.keyVideo || now.Sub(m.fragStart) >= m.conf.partDuration) {
			if err := m.flush(); err != nil {
				return err
			}
			m.fragStart = now
		}
		if random && (m.seg == nil || now.Sub(m.seg.start) >= m.conf.segmentDuration || m.paramsChanged(t, au)) {
			if err := m.closeSegment(false); err != nil {
				return err
			}
			if err := m.openSegment(now, au); err != nil {
				return err
			}
			m.fragStart = now
		}
	}
	t.pending, t.pendingAt = s, at
	return nil
}

// push appends a completed sample to the track's fragment.
func (t *muxTrack) push(s *fmp4.Sample, at uint64) {
	if len(t.frag) == 0 {
		t.fragBase = at
	}
	t.frag = append(t.frag, s)
}

// flush writes the fragment being built, if it has samples.
func (m *muxer) flush() error {
	if m.seg == nil {
		return nil
	}
	part := fmp4.Part{SequenceNumber: m.seg.seq + 1}
	fi := fragInfo{off: m.seg.size, key: !m.keyVideo}
	for i, t := range m.tracks {
		if len(t.frag) == 0 {
			continue
		}
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: t.id, BaseTime: t.fragBase, Samples: t.frag})
		var dur uint64
		for _, s := range t.frag {
			dur += uint64(s.Duration)
		}
		start, end := ticksToTime(t.fragBase, t.timescale), ticksToTime(t.fragBase+dur, t.timescale)
		if fi.start.IsZero() || start.Before(fi.start) {
			fi.start = start
		}
		if end.After(fi.end) {
			fi.end = end
		}
		if i == m.key {
			// The keyframe's presentation time, as frames are timed.
			fi.keyTime = ticksToTime(uint64(int64(t.fragBase)+int64(t.frag[0].PTSOffset)), t.timescale)
			if m.keyVideo {
				fi.key = !t.frag[0].IsNonSyncSample
			}
		}
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	if fi.keyTime.IsZero() {
		fi.keyTime = fi.start
	}
	m.buf.Reset()
	if err := part.Marshal(&m.buf); err != nil {
		return fmt.Errorf("marshal fragment of %s: %w", m.seg.name, err)
	}
	for _, t := range m.tracks {
		clear(t.frag)
		t.frag = t.frag[:0]
	}
	b := m.buf.Bytes()
	// One write per fragment: a kill leaves whole fragments behind (the
	// scanner drops a torn one after a power loss).
	if _, err := m.seg.f.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", m.seg.f.Name(), err)
	}
	m.seg.seq++
	m.seg.size += int64(len(b))
	fi.size = int64(len(b))
	m.idx.fragmentWritten(m.seg.name, fi, m.seg.size)
	return nil
}

// openSegment starts a segment file at the keyframe au (the key track's
// random-access unit at time start).
func (m *muxer) openSegment(start time.Time, au [][]byte) error {
	init := fmp4.Init{}
	lay := &layout{key: -1}
	for i, t := range m.tracks {
		c := t.codec(au, i == m.key)
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: t.id, TimeScale: t.timescale, Codec: c})
		if lay.key < 0 && c.IsVideo() {
			lay.key = len(lay.tracks)
		}
		lay.tracks = append(lay.tracks, layoutTrack{id: t.id, timescale: t.timescale, codec: c})
	}
	m.buf.Reset()
	if err := init.Marshal(&m.buf); err != nil {
		return fmt.Errorf("marshal init: %w", err)
	}
	lay.init = bytes.Clone(m.buf.Bytes())
	m.params = nil
	if m.keyVideo {
		m.params = paramSets(m.tracks[m.key].kind, au)
	}

	if err := os.MkdirAll(m.idx.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", m.idx.dir, err)
	}
	var f *os.File
	var name string
	for try := 0; ; try++ {
		name = segmentName(start.Add(time.Duration(try) * time.Microsecond))
		var err error
		f, err = os.OpenFile(filepath.Join(m.idx.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || try > 1000 {
			return fmt.Errorf("create segment: %w", err)
		}
	}
	if _, err := f.Write(lay.init); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	m.seg = &openSegment{f: f, name: name, start: start, size: int64(len(lay.init))}
	m.idx.segmentOpened(name, start, lay)
	return nil
}

// closeSegment writes what is complete and closes the segment file. With
// final, the pending samples are completed with their usual duration
// first (the stream ends); else they move on to the next segment.
func (m *muxer) closeSegment(final bool) error {
	if m.seg == nil {
		return nil
	}
	if final {
		for _, t := range m.tracks {
			if t.pending != nil {
				t.pending.Duration = t.nominal
				t.push(t.pending, t.pendingAt)
				t.pending = nil
			}
		}
	}
	err := m.flush()
	seg := m.seg
	m.seg = nil
	if serr := seg.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("sync %s: %w", seg.f.Name(), serr)
	}
	if cerr := seg.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", seg.f.Name(), cerr)
	}
	m.idx.segmentClosed(seg.name, seg.size)
	if m.onClose != nil {
		m.onClose()
	}
	return err
}

// restart ends the current segment and forgets the tracks' timing: the
// source's timestamps start over (a new source session or stream).
func (m *muxer) restart() error {
	err := m.closeSegment(true)
	for _, t := range m.tracks {
		t.anchored, t.lastAt, t.pending = false, 0, nil
		clear(t.frag)
		t.frag = t.frag[:0]
		t.h264DTS = h264.DTSExtractor{}
		t.h264DTS.Initialize()
		t.h265DTS = h265.DTSExtractor{}
		t.h265DTS.Initialize()
	}
	return err
}

// codec is the track's codec for an init; au is the key track's keyframe
// (its parameter sets win over the SDP's, which may be missing or stale).
func (t *muxTrack) codec(au [][]byte, isKey bool) codecs.Codec {
	switch f := t.format.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		if isKey {
			for _, n := range au {
				if len(n) == 0 {
					continue
				}
				switch n[0] & 0x1F {
				case 7:
					sps = n
				case 8:
					pps = n
				}
			}
		}
		return &codecs.H264{SPS: bytes.Clone(sps), PPS: bytes.Clone(pps)}
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		if isKey {
			for _, n := range au {
				if len(n) == 0 {
					continue
				}
				switch (n[0] >> 1) & 0x3F {
				case 32:
					vps = n
				case 33:
					sps = n
				case 34:
					pps = n
				}
			}
		}
		return &codecs.H265{VPS: bytes.Clone(vps), SPS: bytes.Clone(sps), PPS: bytes.Clone(pps)}
	case *format.MPEG4Audio:
		return &codecs.MPEG4Audio{Config: *f.Config}
	case *format.Opus:
		ch := f.ChannelCount
		if ch == 0 {
			ch = 2
		}
		return &codecs.Opus{ChannelCount: ch}
	}
	return nil
}

// paramSets returns copies of the parameter-set NAL units of a video
// access unit (H.264 SPS/PPS, H.265 VPS/SPS/PPS), in order.
func paramSets(k codecKind, au [][]byte) [][]byte {
	var out [][]byte
	for _, n := range au {
		if isParamSet(k, n) {
			out = append(out, bytes.Clone(n))
		}
	}
	return out
}

// isParamSet reports whether NAL unit n is a parameter set of codec k.
func isParamSet(k codecKind, n []byte) bool {
	if len(n) == 0 {
		return false
	}
	switch k {
	case kindH264:
		return n[0]&0x1F == 7 || n[0]&0x1F == 8
	case kindH265:
		typ := (n[0] >> 1) & 0x3F
		return typ >= 32 && typ <= 34
	}
	return false
}

// paramsChanged reports whether a keyframe carries other parameter sets
// than the current segment's init (a resolution change): the segment ends
// so that every file has one init that fits its samples.
func (m *muxer) paramsChanged(t *muxTrack, au [][]byte) bool {
	if m.seg == nil || !m.keyVideo || t != m.tracks[m.key] {
		return false
	}
	ps := paramSets(t.kind, au)
	if len(ps) == 0 {
		return false
	}
	if len(ps) != len(m.params) {
		return true
	}
	for i := range ps {
		if !bytes.Equal(ps[i], m.params[i]) {
			return true
		}
	}
	return false
}
