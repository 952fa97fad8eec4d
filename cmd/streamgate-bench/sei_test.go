package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/stretchr/testify/require"
)

func TestStampSEIRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"now", time.Now()},
		// Zero bytes followed by 0..3 need emulation prevention.
		{"emulation prevention", time.Unix(0, 0x0000000100000003)},
		{"zero", time.Unix(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sei := makeStampSEI(tc.at, 0)
			require.NotContains(t, string(sei[1:]), "\x00\x00\x00")
			got, ok := parseStampSEI(sei)
			require.True(t, ok)
			require.Equal(t, tc.at.UnixNano(), got.UnixNano())
		})
	}
}

func TestStampSEIForeign(t *testing.T) {
	// x264's own user_data_unregistered message has another UUID.
	foreign := append([]byte{naluTypeSEI, 5, 20}, bytes.Repeat([]byte{0xAB}, 20)...)
	foreign = append(foreign, 0x80)
	_, ok := parseStampSEI(foreign)
	require.False(t, ok)
	_, ok = parseStampSEI([]byte{0x65, 1, 2, 3})
	require.False(t, ok)
}

// slice is a fake coded slice of n bytes.
func slice(typ byte, n int) []byte {
	b := bytes.Repeat([]byte{0x55}, n)
	b[0] = 0x60 | typ
	return b
}

func TestStampFromRTP(t *testing.T) {
	at := time.Unix(1_700_000_000, 123456789)
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9}
	pps := []byte{0x68, 0xeb, 0xe3, 0xcb}
	for _, tc := range []struct {
		name    string
		au      [][]byte
		wantTyp byte // payload type of the packet with the stamp
		key     bool
	}{
		{"single NAL", [][]byte{makeStampSEI(at, 0), slice(1, 5000)}, naluTypeSEI, false},
		{"STAP-A", [][]byte{sps, pps, makeStampSEI(at, 0), slice(5, 5000)}, naluTypeSTAPA, true},
		{"FU-A", [][]byte{makeStampSEI(at, 3000), slice(1, 5000)}, naluTypeFUA, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: cameraMaxPayload}
			require.NoError(t, enc.Init())
			pkts, err := enc.Encode(tc.au)
			require.NoError(t, err)
			require.Equal(t, tc.wantTyp, pkts[0].Payload[0]&0x1F)
			got, ok := stampFromRTP(pkts[0].Payload)
			require.True(t, ok)
			require.Equal(t, at.UnixNano(), got.UnixNano())
			require.Equal(t, tc.key, isKeyframePacket(pkts[0].Payload))
			for _, p := range pkts[1:] {
				_, ok := stampFromRTP(p.Payload)
				require.False(t, ok, "only the first packet carries the stamp")
			}
		})
	}
}

func TestIsKeyframePacket(t *testing.T) {
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: cameraMaxPayload}
	require.NoError(t, enc.Init())
	pkts, err := enc.Encode([][]byte{slice(5, 5000)})
	require.NoError(t, err)
	require.True(t, isKeyframePacket(pkts[0].Payload), "FU-A start of an IDR")
	require.False(t, isKeyframePacket(pkts[1].Payload), "FU-A continuation")
	require.True(t, isKeyframePacket(slice(5, 100)))
	require.False(t, isKeyframePacket(slice(1, 100)))
}

func TestStampFromAVCC(t *testing.T) {
	at := time.Unix(1_700_000_000, 42)
	sample, err := h264.AVCC{makeStampSEI(at, 0), slice(5, 300)}.Marshal()
	require.NoError(t, err)
	got, ok := stampFromAVCC(sample)
	require.True(t, ok)
	require.Equal(t, at.UnixNano(), got.UnixNano())

	sample, err = h264.AVCC{slice(1, 300)}.Marshal()
	require.NoError(t, err)
	_, ok = stampFromAVCC(sample)
	require.False(t, ok)
	_, ok = stampFromAVCC([]byte{0, 0, 0, 99, 1})
	require.False(t, ok, "a length past the end")
}

func FuzzStampFromRTP(f *testing.F) {
	f.Add(makeStampSEI(time.Now(), 0))
	f.Add([]byte{naluTypeSTAPA, 0, 2, 6, 5})
	f.Add([]byte{naluTypeFUA, 0x86, 5, 24})
	f.Fuzz(func(_ *testing.T, b []byte) {
		stampFromRTP(b)
		isKeyframePacket(b)
		stampFromAVCC(b)
	})
}
