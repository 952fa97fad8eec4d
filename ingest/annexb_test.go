package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitAccessUnits(t *testing.T) {
	aud := []byte{0, 0, 0, 1, 0x09, 0xf0}
	sps := []byte{0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c}
	idr := []byte{0x65, 0x88, 0x84}
	slice := []byte{0x41, 0x9a, 0x02}
	annexB := func(nalus ...[]byte) []byte {
		var b []byte
		for _, n := range nalus {
			if n[0] == 0 {
				b = append(b, n...)
				continue
			}
			b = append(append(b, 0, 0, 1), n...)
		}
		return b
	}

	aus, gotSPS, gotPPS, err := SplitAccessUnits(annexB(aud, sps, pps, idr, aud, slice, aud, slice))
	require.NoError(t, err)
	require.Equal(t, [][][]byte{{sps, pps, idr}, {slice}, {slice}}, aus, "delimiters are dropped")
	require.Equal(t, sps, gotSPS)
	require.Equal(t, pps, gotPPS)

	for name, in := range map[string][]byte{
		"empty":            nil,
		"no parameter set": annexB(aud, idr, aud, slice),
		"no IDR first":     annexB(aud, sps, pps, slice, aud, idr),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := SplitAccessUnits(in)
			require.Error(t, err)
		})
	}
}
