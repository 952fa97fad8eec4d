package main

import (
	"encoding/binary"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// The camera stamps every frame with an SEI NAL unit (user_data_unregistered)
// holding the wall-clock time it was sent: the gateway rewrites RTP
// timestamps per reader, so a reader can only recover the send time from the
// payload. The SEI passes through RTSP unchanged and into HLS fMP4 samples.

// stampUUID identifies our user_data_unregistered message among others
// (x264 writes its own with a different UUID).
var stampUUID = [16]byte{
	0x73, 0x67, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d, // "sgbench-"
	0x73, 0x74, 0x61, 0x6d, 0x70, 0x2d, 0x76, 0x31, // "stamp-v1"
}

const (
	naluTypeSEI   = 6
	seiUserDataUn = 5          // payloadType user_data_unregistered
	stampPayload  = 16 + 8     // UUID + big-endian unix nanoseconds
	naluTypeSTAPA = 24         // RTP aggregation packet
	naluTypeFUA   = 28         // RTP fragmentation unit
	stampMinFUA   = 2 + 3 + 24 // FU indicator+header, SEI type+size, payload
	naluTypeIDR   = byte(h264.NALUTypeIDR)
	naluTypeSPS   = byte(h264.NALUTypeSPS)
	naluTypePPS   = byte(h264.NALUTypePPS)
	naluTypeAUD   = byte(h264.NALUTypeAccessUnitDelimiter)
)

// makeStampSEI returns an SEI NAL unit carrying t. padding > 0 appends a
// second user_data_unregistered message of that many bytes (tests use it to
// force fragmentation).
func makeStampSEI(t time.Time, padding int) []byte {
	rbsp := make([]byte, 0, 3+stampPayload+padding+8)
	rbsp = append(rbsp, seiUserDataUn, stampPayload)
	rbsp = append(rbsp, stampUUID[:]...)
	rbsp = binary.BigEndian.AppendUint64(rbsp, uint64(t.UnixNano()))
	if padding > 0 {
		rbsp = append(rbsp, seiUserDataUn)
		size := 16 + padding
		for ; size >= 255; size -= 255 {
			rbsp = append(rbsp, 0xFF)
		}
		rbsp = append(rbsp, byte(size))
		rbsp = append(rbsp, make([]byte, 16+padding)...) // a zero UUID: not ours
	}
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits
	return append([]byte{naluTypeSEI}, addEmulationPrevention(rbsp)...)
}

// addEmulationPrevention inserts 0x03 after two zero bytes followed by a byte <= 3.
func addEmulationPrevention(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64+2)
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// parseStampSEI returns the send time of a NAL unit made by makeStampSEI.
// The NAL may be truncated after our message (the start of an FU-A).
func parseStampSEI(nalu []byte) (time.Time, bool) {
	if len(nalu) < 3 || nalu[0]&0x1F != naluTypeSEI {
		return time.Time{}, false
	}
	b := h264.EmulationPreventionRemove(nalu[1:])
	for len(b) >= 2 { // a lone 0x80 is the trailing bits
		typ, n := seiNumber(b)
		if n == 0 {
			return time.Time{}, false
		}
		b = b[n:]
		size, n := seiNumber(b)
		if n == 0 {
			return time.Time{}, false
		}
		b = b[n:]
		if typ == seiUserDataUn && size >= stampPayload && len(b) >= stampPayload &&
			[16]byte(b[:16]) == stampUUID {
			return time.Unix(0, int64(binary.BigEndian.Uint64(b[16:24]))), true
		}
		if size > len(b) {
			return time.Time{}, false
		}
		b = b[size:]
	}
	return time.Time{}, false
}

// seiNumber reads an SEI payloadType or payloadSize (0xFF bytes add 255).
func seiNumber(b []byte) (v, n int) {
	for n < len(b) {
		v += int(b[n])
		if b[n] != 0xFF {
			return v, n + 1
		}
		n++
	}
	return 0, 0
}

// stampFromRTP finds our SEI in an H.264 RTP payload: a single NAL unit, an
// STAP-A, or the first fragment of an FU-A.
func stampFromRTP(payload []byte) (time.Time, bool) {
	if len(payload) < 1 {
		return time.Time{}, false
	}
	switch payload[0] & 0x1F {
	case naluTypeSEI:
		return parseStampSEI(payload)
	case naluTypeSTAPA:
		b := payload[1:]
		for len(b) >= 2 {
			size := int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if size > len(b) {
				break
			}
			if t, ok := parseStampSEI(b[:size]); ok {
				return t, true
			}
			b = b[size:]
		}
	case naluTypeFUA:
		if len(payload) < stampMinFUA || payload[1]&0x80 == 0 || payload[1]&0x1F != naluTypeSEI {
			return time.Time{}, false
		}
		// Rebuild the NAL header from the FU indicator and header.
		nalu := make([]byte, len(payload)-1)
		nalu[0] = payload[0]&0xE0 | payload[1]&0x1F
		copy(nalu[1:], payload[2:])
		return parseStampSEI(nalu)
	}
	return time.Time{}, false
}

// isKeyframePacket reports whether an H.264 RTP payload starts or carries a
// keyframe: an SPS or IDR slice, alone, aggregated, or as a first fragment.
func isKeyframePacket(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch typ := payload[0] & 0x1F; typ {
	case naluTypeIDR, naluTypeSPS:
		return true
	case naluTypeSTAPA:
		b := payload[1:]
		for len(b) >= 3 {
			size := int(binary.BigEndian.Uint16(b))
			if t := b[2] & 0x1F; t == naluTypeIDR || t == naluTypeSPS {
				return true
			}
			if size+2 > len(b) {
				break
			}
			b = b[2+size:]
		}
	case naluTypeFUA:
		return len(payload) >= 2 && payload[1]&0x80 != 0 && payload[1]&0x1F == naluTypeIDR
	}
	return false
}

// stampFromAVCC finds our SEI in a sample of length-prefixed NAL units.
func stampFromAVCC(sample []byte) (time.Time, bool) {
	for len(sample) >= 4 {
		size := int(binary.BigEndian.Uint32(sample))
		sample = sample[4:]
		if size > len(sample) || size < 0 {
			return time.Time{}, false
		}
		if t, ok := parseStampSEI(sample[:size]); ok {
			return t, true
		}
		sample = sample[size:]
	}
	return time.Time{}, false
}
