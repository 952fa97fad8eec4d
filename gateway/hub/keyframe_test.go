package hub

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestH264Scan(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"single IDR", []byte{0x65, 0x88, 0x84}, true},
		{"single IDR header only", []byte{0x65}, true},
		{"single non-IDR", []byte{0x41, 0x9a, 0x02}, false},
		{"single SPS", []byte{0x67, 0x42, 0xc0}, false},
		{"single AUD", []byte{0x09, 0xf0}, false},
		{"STAP-A SPS PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, false},
		{"STAP-A SPS PPS IDR", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}, true},
		{"STAP-A IDR first", []byte{0x78, 0x00, 0x01, 0x65}, true},
		{"STAP-A non-IDR", []byte{0x78, 0x00, 0x02, 0x41, 0x9a}, false},
		{"STAP-A size past end", []byte{0x78, 0x00, 0x09, 0x65, 0x88}, false},
		{"STAP-A zero size", []byte{0x78, 0x00, 0x00, 0x65}, false},
		{"STAP-A truncated size", []byte{0x78, 0x00}, false},
		{"STAP-A header only", []byte{0x78}, false},
		{"STAP-A IDR after truncated unit", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x05, 0x65}, false},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x88, 0x84}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A end of IDR", []byte{0x7c, 0x45, 0x88}, false},
		{"FU-A start of non-IDR", []byte{0x5c, 0x81, 0x9a}, false},
		{"FU-A without header", []byte{0x7c}, false},
		{"FU-B start of IDR", []byte{0x7d, 0x85, 0x00, 0x01, 0x88}, true},
		{"forbidden type 0", []byte{0x00, 0x65}, false},
		{"reserved type 30", []byte{0x7e, 0x65}, false},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, h264Scan(tc.payload))
			assert.Equal(t, tc.want, nalScan(codecH264, tc.payload))
		})
	}
}

// h265NAL is the two-byte header of an H.265 NAL unit of type typ.
func h265NAL(typ byte) []byte { return []byte{typ << 1, 0x01} }

func TestH265Scan(t *testing.T) {
	const (
		trailR   = 1
		idrWRADL = 19
		idrNLP   = 20
		cra      = 21
		vps      = 32
		aud      = 35
		ap       = 48
		fu       = 49
	)
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"one byte", []byte{idrWRADL << 1}, false},
		{"IDR_W_RADL", cat(h265NAL(idrWRADL), []byte{0xaf}), true},
		{"IDR_N_LP", h265NAL(idrNLP), true},
		{"CRA", cat(h265NAL(cra), []byte{0xaf}), true},
		{"TRAIL_R", cat(h265NAL(trailR), []byte{0xaf}), false},
		{"VPS", h265NAL(vps), false},
		{"AUD", h265NAL(aud), false},
		{"AP VPS then IDR", cat(h265NAL(ap), []byte{0, 3}, h265NAL(vps), []byte{0x0c}, []byte{0, 2}, h265NAL(idrWRADL)), true},
		{"AP VPS only", cat(h265NAL(ap), []byte{0, 2}, h265NAL(vps)), false},
		{"AP unit too small", cat(h265NAL(ap), []byte{0, 1}, h265NAL(idrWRADL)), false},
		{"AP size past end", cat(h265NAL(ap), []byte{0, 9}, h265NAL(idrWRADL)), false},
		{"AP truncated", cat(h265NAL(ap), []byte{0}), false},
		{"FU start of IDR", cat(h265NAL(fu), []byte{0x80 | idrWRADL, 0xaf}), true},
		{"FU start of CRA", cat(h265NAL(fu), []byte{0x80 | cra}), true},
		{"FU middle of IDR", cat(h265NAL(fu), []byte{idrWRADL, 0xaf}), false},
		{"FU end of IDR", cat(h265NAL(fu), []byte{0x40 | idrWRADL}), false},
		{"FU start of TRAIL", cat(h265NAL(fu), []byte{0x80 | trailR}), false},
		{"FU without header", h265NAL(fu), false},
		{"PACI", h265NAL(50), false},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, h265Scan(tc.payload))
			assert.Equal(t, tc.want, nalScan(codecH265, tc.payload))
		})
	}
}

func TestNALScanOtherCodec(t *testing.T) {
	// Only H.264 and H.265 are scanned; anything else is never a keyframe here.
	assert.False(t, nalScan(codecOther, []byte{0x65, 0x88}))
}

func TestNALScanDoesNotAllocate(t *testing.T) {
	payloads := [][]byte{
		{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x65, 0x88},
		{0x7c, 0x85, 0x88},
		{0x60, 0x01, 0x00, 0x02, 0x26, 0x01},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range payloads {
			nalScan(codecH264, p)
			nalScan(codecH265, p)
		}
	})
	assert.Zero(t, allocs)
}

func FuzzNALScan(f *testing.F) {
	seeds := [][]byte{
		nil,
		{0x65},
		{0x41, 0x9a},
		{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x65, 0x88},
		{0x78, 0xff, 0xff},
		{0x7c, 0x85},
		{0x7d, 0x85, 0x00},
		{0x26, 0x01, 0xaf},
		{0x60, 0x01, 0x00, 0x02, 0x26, 0x01},
		{0x60, 0x01, 0xff, 0xff, 0x26},
		{0x62, 0x01, 0x93},
		{0xff, 0xff, 0xff},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		h264 := nalScan(codecH264, p)
		h265 := nalScan(codecH265, p)
		// A random-access answer needs at least a NAL header to look at.
		if h264 && len(p) < 1 || h265 && len(p) < 2 {
			t.Fatalf("random access reported for %x", p)
		}
		if nalScan(codecOther, p) {
			t.Fatalf("codecOther reported random access for %x", p)
		}
	})
}
