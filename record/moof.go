package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A small reader of the fMP4 boxes this package writes (moof with mfhd and
// traf/tfhd/tfdt/trun), used to index fragments without reading their media
// and to find every sample of a fragment. It reads files from disk that a
// crash may have cut short, so it checks every length and never panics.

// errBox is wrapped by the box readers.
var errBox = errors.New("malformed box")

// moofTrack is one traf of a moof.
type moofTrack struct {
	id uint32
	// base is the tfdt base media decode time; baseAt is the offset of its
	// 64-bit value from the start of the moof (-1 for a 32-bit tfdt).
	base   uint64
	baseAt int
	// samples of the track; offset is relative to the start of the moof.
	samples []moofSample
}

// moofSample is one trun entry.
type moofSample struct {
	offset int64
	size   uint32
	dur    uint32
	cto    int32
	sync   bool
}

// boxHeader reads the header of the box at b[0:]: its total size and type,
// and the header length. A size of 0 (to the end) is refused: we never
// write it and cannot tell where such a box ends in a growing file.
func boxHeader(b []byte) (size uint64, typ string, hdr int, err error) {
	if len(b) < 8 {
		return 0, "", 0, fmt.Errorf("%w: short header", errBox)
	}
	size = uint64(binary.BigEndian.Uint32(b))
	typ = string(b[4:8])
	hdr = 8
	if size == 1 {
		if len(b) < 16 {
			return 0, "", 0, fmt.Errorf("%w: short large header", errBox)
		}
		size = binary.BigEndian.Uint64(b[8:])
		hdr = 16
	}
	if size < uint64(hdr) {
		return 0, "", 0, fmt.Errorf("%w: %q size %d", errBox, typ, size)
	}
	return size, typ, hdr, nil
}

// children calls fn for every box inside b (a box's payload); off is the
// offset of b from the start of the moof.
func children(b []byte, off int, fn func(typ string, payload []byte, payloadAt int) error) error {
	for len(b) > 0 {
		size, typ, hdr, err := boxHeader(b)
		if err != nil {
			return err
		}
		if size > uint64(len(b)) {
			return fmt.Errorf("%w: %q overruns its parent", errBox, typ)
		}
		if err := fn(typ, b[hdr:size], off+hdr); err != nil {
			return err
		}
		b = b[size:]
		off += int(size)
	}
	return nil
}

// maxSamples bounds the trun entries of one fragment, so a corrupt count
// cannot make the reader allocate without limit.
const maxSamples = 1 << 16

// parseMoof reads a whole moof box (header included).
func parseMoof(moof []byte) ([]moofTrack, error) {
	size, typ, hdr, err := boxHeader(moof)
	if err != nil {
		return nil, err
	}
	if typ != "moof" || size != uint64(len(moof)) {
		return nil, fmt.Errorf("%w: want a whole moof, got %q of %d bytes", errBox, typ, size)
	}
	var tracks []moofTrack
	total := 0
	err = children(moof[hdr:], hdr, func(typ string, p []byte, at int) error {
		if typ != "traf" {
			return nil
		}
		t, err := parseTraf(p, at)
		if err != nil {
			return err
		}
		if total += len(t.samples); total > maxSamples {
			return fmt.Errorf("%w: more than %d samples", errBox, maxSamples)
		}
		tracks = append(tracks, t)
		return nil
	})
	return tracks, err
}

func parseTraf(b []byte, off int) (moofTrack, error) {
	t := moofTrack{baseAt: -1}
	var haveTfhd, haveTfdt bool
	var defDur, defSize, defFlags uint32
	err := children(b, off, func(typ string, p []byte, at int) error {
		switch typ {
		case "tfhd":
			if len(p) < 8 {
				return fmt.Errorf("%w: short tfhd", errBox)
			}
			flags := binary.BigEndian.Uint32(p) & 0xFFFFFF
			t.id = binary.BigEndian.Uint32(p[4:])
			r := p[8:]
			take := func(n int) ([]byte, error) {
				if len(r) < n {
					return nil, fmt.Errorf("%w: short tfhd", errBox)
				}
				v := r[:n]
				r = r[n:]
				return v, nil
			}
			if flags&0x1 != 0 {
				// An absolute base data offset: we never write it.
				return fmt.Errorf("%w: tfhd base-data-offset is not supported", errBox)
			}
			if flags&0x2 != 0 {
				if _, err := take(4); err != nil {
					return err
				}
			}
			for _, f := range []struct {
				bit uint32
				v   *uint32
			}{{0x8, &defDur}, {0x10, &defSize}, {0x20, &defFlags}} {
				if flags&f.bit != 0 {
					v, err := take(4)
					if err != nil {
						return err
					}
					*f.v = binary.BigEndian.Uint32(v)
				}
			}
			haveTfhd = true
		case "tfdt":
			if len(p) < 8 {
				return fmt.Errorf("%w: short tfdt", errBox)
			}
			if p[0] == 1 {
				if len(p) < 12 {
					return fmt.Errorf("%w: short tfdt", errBox)
				}
				t.base = binary.BigEndian.Uint64(p[4:])
				t.baseAt = at + 4
			} else {
				t.base = uint64(binary.BigEndian.Uint32(p[4:]))
			}
			haveTfdt = true
		case "trun":
			if !haveTfhd {
				return fmt.Errorf("%w: trun before tfhd", errBox)
			}
			return parseTrun(p, &t, defDur, defSize, defFlags)
		}
		return nil
	})
	if err == nil && (!haveTfhd || !haveTfdt) {
		err = fmt.Errorf("%w: traf without tfhd or tfdt", errBox)
	}
	return t, err
}

func parseTrun(p []byte, t *moofTrack, defDur, defSize, defFlags uint32) error {
	if len(p) < 8 {
		return fmt.Errorf("%w: short trun", errBox)
	}
	version := p[0]
	flags := binary.BigEndian.Uint32(p) & 0xFFFFFF
	count := binary.BigEndian.Uint32(p[4:])
	r := p[8:]
	if count > maxSamples {
		return fmt.Errorf("%w: trun of %d samples", errBox, count)
	}
	if flags&0x1 == 0 {
		return fmt.Errorf("%w: trun without data offset", errBox)
	}
	if len(r) < 4 {
		return fmt.Errorf("%w: short trun", errBox)
	}
	off := int64(int32(binary.BigEndian.Uint32(r)))
	r = r[4:]
	firstFlags, haveFirst := uint32(0), false
	if flags&0x4 != 0 {
		if len(r) < 4 {
			return fmt.Errorf("%w: short trun", errBox)
		}
		firstFlags, haveFirst = binary.BigEndian.Uint32(r), true
		r = r[4:]
	}
	per := 0
	for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&bit != 0 {
			per += 4
		}
	}
	if uint64(len(r)) < uint64(count)*uint64(per) {
		return fmt.Errorf("%w: trun entries overrun the box", errBox)
	}
	for i := uint32(0); i < count; i++ {
		s := moofSample{offset: off, dur: defDur, size: defSize}
		sf := defFlags
		if i == 0 && haveFirst {
			sf = firstFlags
		}
		if flags&0x100 != 0 {
			s.dur = binary.BigEndian.Uint32(r)
			r = r[4:]
		}
		if flags&0x200 != 0 {
			s.size = binary.BigEndian.Uint32(r)
			r = r[4:]
		}
		if flags&0x400 != 0 {
			sf = binary.BigEndian.Uint32(r)
			r = r[4:]
		}
		if flags&0x800 != 0 {
			v := binary.BigEndian.Uint32(r)
			if version == 0 {
				s.cto = int32(min(v, 1<<31-1))
			} else {
				s.cto = int32(v)
			}
			r = r[4:]
		}
		s.sync = sf&0x10000 == 0
		off += int64(s.size)
		t.samples = append(t.samples, s)
	}
	return nil
}

// timeToTicks is t as ticks of a clock of rate ts since the Unix epoch.
func timeToTicks(t time.Time, ts uint32) uint64 {
	ns := t.UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns/1e9)*uint64(ts) + uint64(ns%1e9)*uint64(ts)/1e9
}

// ticksToTime is the inverse of timeToTicks.
func ticksToTime(v uint64, ts uint32) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	sec, rem := v/uint64(ts), v%uint64(ts)
	return time.Unix(int64(sec), int64(rem*1e9/uint64(ts))).UTC()
}
