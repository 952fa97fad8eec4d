package hub

// Codec kinds the hub understands well enough to find access units and
// random-access points without decoding the bitstream.
type codecKind int

const (
	codecOther codecKind = iota
	codecH264
	codecH265
)

// nalScan reports whether an RTP payload of kind k holds (or starts) a
// random-access picture. It looks only at NAL unit headers and never allocates.
func nalScan(k codecKind, p []byte) (randomAccess bool) {
	switch k {
	case codecH264:
		return h264Scan(p)
	case codecH265:
		return h265Scan(p)
	}
	return false
}

func h264Scan(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	typ := p[0] & 0x1F
	switch {
	case typ >= 1 && typ <= 23:
		return typ == 5
	case typ == 24: // STAP-A: 16-bit size, then the NAL unit, repeated
		p = p[1:]
		for len(p) >= 3 {
			size := int(p[0])<<8 | int(p[1])
			p = p[2:]
			if size == 0 || size > len(p) {
				return false
			}
			if p[0]&0x1F == 5 {
				return true
			}
			p = p[size:]
		}
	case typ == 28 || typ == 29: // FU-A, FU-B: the start fragment names the type
		if len(p) >= 2 && p[1]&0x80 != 0 {
			return p[1]&0x1F == 5
		}
	}
	return false
}

func h265RandomAccess(typ byte) bool {
	// IDR_W_RADL, IDR_N_LP and CRA, the pictures a decoder can start at.
	return typ >= 19 && typ <= 21
}

func h265Scan(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	typ := (p[0] >> 1) & 0x3F
	switch {
	case typ < 48:
		return h265RandomAccess(typ)
	case typ == 48: // aggregation packet
		p = p[2:]
		for len(p) >= 4 {
			size := int(p[0])<<8 | int(p[1])
			p = p[2:]
			if size < 2 || size > len(p) {
				return false
			}
			if h265RandomAccess((p[0] >> 1) & 0x3F) {
				return true
			}
			p = p[size:]
		}
	case typ == 49: // fragmentation unit
		if len(p) >= 3 && p[2]&0x80 != 0 {
			return h265RandomAccess(p[2] & 0x3F)
		}
	}
	return false
}
