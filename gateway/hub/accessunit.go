package hub

import (
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// AccessUnit is one decoded frame of a track, made once for every reader
// that wants frames rather than packets (HLS, WebRTC, recorders). For H.264
// and H.265 it is the NAL units of one picture, without start codes, with
// the parameter sets in front of every random-access picture; for audio it
// is the codec frames of one packet (AAC access units, an Opus packet, G.711
// samples). It is immutable and shared.
type AccessUnit struct {
	Track        *Track
	PTS          int64
	NTP          time.Time
	RandomAccess bool
	Payloads     [][]byte
}

// Errors of AccessUnit.
var (
	// ErrNotAUStart is returned for a unit that does not start an access unit.
	ErrNotAUStart = errors.New("hub: unit does not start an access unit")
	// ErrIncompleteAU is returned for a frame whose packets were lost or fragmented beyond what the hub reassembles.
	ErrIncompleteAU = errors.New("hub: incomplete access unit")
)

// AccessUnit returns the frame this unit starts (u.AUStart must be set),
// decoding it on first use. Every reader gets the same value; it stays
// valid as long as the unit is retained.
func (u *Unit) AccessUnit() (*AccessUnit, error) {
	if !u.AUStart {
		return nil, ErrNotAUStart
	}
	u.auOnce.Do(func() {
		u.au, u.auErr = u.decodeAU()
		if u.auErr != nil {
			u.Track.badAU(u.Gen, u.auErr)
		}
	})
	return u.au, u.auErr
}

func (u *Unit) decodeAU() (*AccessUnit, error) {
	au := &AccessUnit{Track: u.Track, PTS: u.PTS, NTP: u.NTP, RandomAccess: u.RandomAccess}
	var err error
	switch u.Track.kind {
	case codecH264:
		au.Payloads, err = u.depacketize(h264Split)
		if err == nil && au.RandomAccess {
			f := u.Track.Format.(*format.H264)
			sps, pps := f.SafeParams()
			au.Payloads = prependParams(au.Payloads, func(n []byte) byte { return n[0] & 0x1F }, []byte{7, 8}, sps, pps)
		}
	case codecH265:
		au.Payloads, err = u.depacketize(h265Split)
		if err == nil && au.RandomAccess {
			f := u.Track.Format.(*format.H265)
			vps, sps, pps := f.SafeParams()
			au.Payloads = prependParams(au.Payloads, func(n []byte) byte { return (n[0] >> 1) & 0x3F }, []byte{32, 33, 34}, vps, sps, pps)
		}
	default:
		if f, ok := u.Track.Format.(*format.MPEG4Audio); ok {
			au.Payloads, err = splitAAC(f, u.Packet.Payload)
		} else {
			au.Payloads = [][]byte{u.Packet.Payload}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(au.Payloads) == 0 {
		return nil, ErrIncompleteAU
	}
	return au, nil
}

// splitter turns one RTP payload into NAL units: complete ones, and the
// fragment of a fragmented one (start/end flags and its reconstructed header).
type splitter func(p []byte, nalus [][]byte, frag *fragment) ([][]byte, error)

type fragment struct {
	buf    []byte
	active bool
}

// depacketize reassembles the NAL units of the access unit this unit starts.
func (u *Unit) depacketize(split splitter) ([][]byte, error) {
	var nalus [][]byte
	var frag fragment
	var err error
	nalus, err = split(u.Packet.Payload, nalus, &frag)
	for _, part := range u.auParts {
		if err != nil {
			break
		}
		nalus, err = split(part.Packet.Payload, nalus, &frag)
	}
	if err != nil {
		return nil, err
	}
	if frag.active {
		return nil, ErrIncompleteAU
	}
	return nalus, nil
}

func h264Split(p []byte, nalus [][]byte, frag *fragment) ([][]byte, error) {
	if len(p) < 1 {
		return nalus, ErrIncompleteAU
	}
	typ := p[0] & 0x1F
	switch {
	case typ >= 1 && typ <= 23:
		return append(nalus, p), nil
	case typ == 24: // STAP-A
		return splitAggregate(p[1:], nalus)
	case typ == 28: // FU-A
		if len(p) < 3 {
			return nalus, ErrIncompleteAU
		}
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		return frag.add(nalus, start, end, []byte{p[0]&0xE0 | p[1]&0x1F}, p[2:])
	}
	return nalus, nil // STAP-B, MTAP, FU-B: not used by cameras in practice
}

func h265Split(p []byte, nalus [][]byte, frag *fragment) ([][]byte, error) {
	if len(p) < 2 {
		return nalus, ErrIncompleteAU
	}
	typ := (p[0] >> 1) & 0x3F
	switch {
	case typ < 48:
		return append(nalus, p), nil
	case typ == 48: // aggregation packet
		return splitAggregate(p[2:], nalus)
	case typ == 49: // fragmentation unit
		if len(p) < 4 {
			return nalus, ErrIncompleteAU
		}
		start, end := p[2]&0x80 != 0, p[2]&0x40 != 0
		hdr := []byte{p[0]&0x81 | (p[2]&0x3F)<<1, p[1]}
		return frag.add(nalus, start, end, hdr, p[3:])
	}
	return nalus, nil
}

func splitAggregate(p []byte, nalus [][]byte) ([][]byte, error) {
	for len(p) > 0 {
		if len(p) < 2 {
			return nalus, ErrIncompleteAU
		}
		size := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if size == 0 || size > len(p) {
			return nalus, ErrIncompleteAU
		}
		nalus = append(nalus, p[:size])
		p = p[size:]
	}
	return nalus, nil
}

func (f *fragment) add(nalus [][]byte, start, end bool, hdr, body []byte) ([][]byte, error) {
	switch {
	case start:
		f.buf = append(append(make([]byte, 0, len(hdr)+len(body)*4), hdr...), body...)
		f.active = true
	case !f.active:
		return nalus, ErrIncompleteAU
	default:
		f.buf = append(f.buf, body...)
	}
	if end {
		nalus = append(nalus, f.buf)
		f.buf, f.active = nil, false
	}
	return nalus, nil
}

// prependParams puts the parameter sets in front of a random-access picture
// that does not carry them in band.
func prependParams(nalus [][]byte, typeOf func([]byte) byte, types []byte, params ...[]byte) [][]byte {
	have := make(map[byte]bool, len(types))
	for _, n := range nalus {
		if len(n) > 0 {
			have[typeOf(n)] = true
		}
	}
	var front [][]byte
	for i, ps := range params {
		if len(ps) > 0 && !have[types[i]] {
			front = append(front, ps)
		}
	}
	if len(front) == 0 {
		return nalus
	}
	return append(front, nalus...)
}

// splitAAC parses the AU-header section of an RFC 3640 (mpeg4-generic)
// payload and returns its access units. Fragmented access units are not
// reassembled.
func splitAAC(f *format.MPEG4Audio, p []byte) ([][]byte, error) {
	if len(p) < 2 {
		return nil, ErrIncompleteAU
	}
	headersBits := int(p[0])<<8 | int(p[1])
	headersLen := (headersBits + 7) / 8
	if 2+headersLen > len(p) || f.SizeLength <= 0 {
		return nil, ErrIncompleteAU
	}
	hdr := bitReader{buf: p[2 : 2+headersLen]}
	data := p[2+headersLen:]
	var aus [][]byte
	for i := 0; hdr.pos+f.SizeLength <= headersBits; i++ {
		size := hdr.read(f.SizeLength)
		idx := f.IndexLength
		if i > 0 {
			idx = f.IndexDeltaLength
		}
		hdr.read(idx)
		if size > len(data) {
			return nil, ErrIncompleteAU
		}
		aus = append(aus, data[:size])
		data = data[size:]
	}
	return aus, nil
}

type bitReader struct {
	buf []byte
	pos int
}

func (b *bitReader) read(n int) int {
	v := 0
	for range n {
		byteIdx := b.pos / 8
		bit := 0
		if byteIdx < len(b.buf) {
			bit = int(b.buf[byteIdx]>>(7-b.pos%8)) & 1
		}
		v = v<<1 | bit
		b.pos++
	}
	return v
}

// badAU says, once per source session, that the source sent a frame the
// outputs that decode (HLS, WebRTC) have to skip: truncated or reordered
// fragments, packets lost on the way. RTSP readers get the packets as sent.
func (t *Track) badAU(gen uint32, err error) {
	st := t.stream
	if st == nil || st.badAUGen.Swap(gen) == gen {
		return
	}
	st.logger.Warn("source sent a frame that cannot be decoded: HLS and WebRTC skip it",
		"track", t.Index, "codec", t.CodecName(), "error", err)
}
