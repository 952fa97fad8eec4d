package ingest

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// SplitAccessUnits cuts an Annex-B H.264 stream that carries access unit
// delimiters (as `-x264-params aud=1` or h264_metadata=aud=insert write)
// into access units, NAL unit lists without the delimiters, and returns the
// first SPS and PPS. The stream must start with an IDR access unit. The
// demo source and the load tool's camera both loop such clips.
func SplitAccessUnits(annexB []byte) (aus [][][]byte, sps, pps []byte, err error) {
	for i, chunk := range splitOnAUD(annexB) {
		// h264.AnnexB.Unmarshal caps NAL units per call: one access unit at a time.
		var nalus h264.AnnexB
		if err := nalus.Unmarshal(chunk); err != nil {
			return nil, nil, nil, fmt.Errorf("access unit %d: %w", i, err)
		}
		var au [][]byte
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1F) {
			case h264.NALUTypeAccessUnitDelimiter:
				continue
			case h264.NALUTypeSPS:
				if sps == nil {
					sps = n
				}
			case h264.NALUTypePPS:
				if pps == nil {
					pps = n
				}
			}
			au = append(au, n)
		}
		if len(au) > 0 {
			aus = append(aus, au)
		}
	}
	if len(aus) == 0 || sps == nil || pps == nil {
		return nil, nil, nil, errors.New("no access units or no SPS/PPS")
	}
	if !h264.IsRandomAccess(aus[0]) {
		return nil, nil, nil, errors.New("does not start with an IDR")
	}
	return aus, sps, pps, nil
}

// splitOnAUD cuts an Annex-B stream before each access unit delimiter
// (a start code followed by NAL type 9).
func splitOnAUD(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+3 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 || b[i+3]&0x1F != byte(h264.NALUTypeAccessUnitDelimiter) {
			continue
		}
		at := i
		if at > 0 && b[at-1] == 0 { // four-byte start code
			at--
		}
		if at > start {
			out = append(out, b[start:at])
		}
		start = at
		i += 3
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
