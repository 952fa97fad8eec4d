package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// A segment file is an fMP4 init (ftyp and moov) followed by fragments (a
// moof and its mdat), each written with one write call as it completes.
// Every track's tfdt is its decode time in ticks of the track's timescale
// since the Unix epoch, so a sample's wall-clock time is in the file itself
// and fragments of consecutive segments continue one timeline (an HLS
// playlist can chain them without discontinuities).

// fragInfo is one fragment of a segment file.
type fragInfo struct {
	// off and size locate the moof and its mdat in the file.
	off, size int64
	// start and end are the earliest sample time and the latest sample
	// end over every track.
	start, end time.Time
	// key says the fragment starts with a keyframe of the key track
	// (always true without video); keyTime is that sample's presentation
	// time (start when the fragment has no sample of the key track).
	key     bool
	keyTime time.Time
}

// layout is the track layout of a segment, from its init.
type layout struct {
	// init is the raw ftyp and moov.
	init   []byte
	tracks []layoutTrack
	// key is the index in tracks of the track keyframes are counted on
	// (the first video track), -1 when there is none.
	key int
}

// layoutTrack is one track of a segment.
type layoutTrack struct {
	id        int
	timescale uint32
	codec     codecs.Codec
}

// trackIndex returns the index in l.tracks of the track with the given id.
func (l *layout) trackIndex(id uint32) int {
	for i, t := range l.tracks {
		if uint32(t.id) == id {
			return i
		}
	}
	return -1
}

// maxInitSize and maxMoofSize bound what the scanner reads into memory.
const (
	maxInitSize = 1 << 20
	maxMoofSize = 16 << 20
)

// errNoInit says a file does not start with a readable init.
var errNoInit = errors.New("no fMP4 init at the start of the file")

// readLayout reads the init of a segment file.
func readLayout(r io.ReaderAt, size int64) (*layout, error) {
	var hdr [16]byte
	pos := int64(0)
	for _, want := range []string{"ftyp", "moov"} {
		n, _ := r.ReadAt(hdr[:], pos)
		bsize, typ, _, err := boxHeader(hdr[:n])
		if err != nil || typ != want || pos+int64(bsize) > size || pos+int64(bsize) > maxInitSize {
			return nil, fmt.Errorf("%w: want %s at %d", errNoInit, want, pos)
		}
		pos += int64(bsize)
	}
	init := make([]byte, pos)
	if _, err := r.ReadAt(init, 0); err != nil {
		return nil, fmt.Errorf("read init: %w", err)
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoInit, err)
	}
	l := &layout{init: init, key: -1}
	for _, t := range in.Tracks {
		if t.TimeScale == 0 {
			return nil, fmt.Errorf("%w: track %d has no timescale", errNoInit, t.ID)
		}
		if l.key < 0 && t.Codec.IsVideo() {
			l.key = len(l.tracks)
		}
		l.tracks = append(l.tracks, layoutTrack{id: t.ID, timescale: t.TimeScale, codec: t.Codec})
	}
	if len(l.tracks) == 0 {
		return nil, fmt.Errorf("%w: no track", errNoInit)
	}
	return l, nil
}

// scanFragments lists the complete fragments of a segment file after its
// init. It stops at the first box that is cut short or malformed (what a
// crash leaves at the end) and returns the size of the readable part.
func scanFragments(r io.ReaderAt, size int64, l *layout) ([]fragInfo, int64) {
	var frags []fragInfo
	pos := int64(len(l.init))
	var hdr [16]byte
	for {
		n, _ := r.ReadAt(hdr[:], pos)
		msize, typ, _, err := boxHeader(hdr[:n])
		if err != nil || typ != "moof" || msize > maxMoofSize || pos+int64(msize) > size {
			return frags, pos
		}
		moof := make([]byte, msize)
		if _, err := r.ReadAt(moof, pos); err != nil {
			return frags, pos
		}
		n, _ = r.ReadAt(hdr[:], pos+int64(msize))
		dsize, dtyp, _, err := boxHeader(hdr[:n])
		end := pos + int64(msize) + int64(dsize)
		if err != nil || dtyp != "mdat" || end > size || end < pos {
			return frags, pos
		}
		fi, ok := fragmentInfo(moof, l, pos, end-pos)
		if !ok {
			return frags, pos
		}
		frags = append(frags, fi)
		pos = end
	}
}

// fragmentInfo sums up a fragment from its moof.
func fragmentInfo(moof []byte, l *layout, off, size int64) (fragInfo, bool) {
	tracks, err := parseMoof(moof)
	if err != nil || len(tracks) == 0 {
		return fragInfo{}, false
	}
	fi := fragInfo{off: off, size: size, key: l.key < 0}
	for _, t := range tracks {
		i := l.trackIndex(t.id)
		if i < 0 || len(t.samples) == 0 {
			continue
		}
		ts := l.tracks[i].timescale
		var dur uint64
		for _, s := range t.samples {
			if s.offset < 0 || s.offset+int64(s.size) > size {
				return fragInfo{}, false
			}
			dur += uint64(s.dur)
		}
		start, end := ticksToTime(t.base, ts), ticksToTime(t.base+dur, ts)
		if fi.start.IsZero() || start.Before(fi.start) {
			fi.start = start
		}
		if end.After(fi.end) {
			fi.end = end
		}
		if i == l.key {
			fi.key = t.samples[0].sync
			fi.keyTime = ticksToTime(uint64(max(int64(t.base)+int64(t.samples[0].cto), 0)), ts)
		}
	}
	if fi.start.IsZero() {
		return fragInfo{}, false
	}
	if fi.keyTime.IsZero() {
		fi.keyTime = fi.start
	}
	return fi, true
}
