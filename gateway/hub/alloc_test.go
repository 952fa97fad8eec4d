package hub

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitDelivered spins until every reader has taken n units. It does not
// allocate, so it may run inside testing.AllocsPerRun.
func waitDelivered(t testing.TB, readers []*Reader, n uint64) {
	deadline := time.Now().Add(testDeadline)
	for _, r := range readers {
		for r.Delivered() < n {
			if time.Now().After(deadline) {
				t.Fatalf("readers did not drain: %d of %d units", r.Delivered(), n)
			}
			runtime.Gosched()
		}
	}
}

func TestFanOutDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	cases := []struct {
		name   string
		stream StreamConfig
		// gop writes whole groups of pictures per run (the history recycles
		// its units at every keyframe); otherwise one non-IDR packet per run.
		gop int
	}{
		{"non-IDR packets without history", StreamConfig{NoGOPCache: true}, 0},
		{"non-IDR packets with a small history", StreamConfig{HistoryMaxBytes: 4096}, 0},
		{"whole GOPs with the GOP cache", StreamConfig{}, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true, Stream: tc.stream}, nil)
			desc := videoDesc(testSPS)
			_, pub := publish(t, h, "cam", desc)
			media := desc.Medias[0]

			var units atomic.Uint64
			readers := make([]*Reader, 10)
			for i := range readers {
				r, err := pub.Stream().AddReader(ReaderConfig{QueueSize: 4096, OnUnit: func(*Unit, bool) error {
					units.Add(1)
					return nil
				}})
				require.NoError(t, err)
				t.Cleanup(r.Close)
				readers[i] = r
			}

			// Pre-built packets: the test itself must not allocate per packet.
			g := h264Gen{GOP: max(tc.gop, 1<<30), PSize: 1000}
			idr := g.AU()
			var gopPkts []genPacket
			if tc.gop > 0 {
				g.n = 0
				gopPkts = g.AUs(tc.gop)
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: videoPT, Marker: true}, Payload: make([]byte, 1000)}
			p.Payload[0] = 0x41
			var sentN uint64
			write := func() {
				if tc.gop > 0 {
					for _, gp := range gopPkts {
						pub.WriteRTP(media, gp.Pkt, gp.PTS, time.Time{})
					}
					sentN += uint64(len(gopPkts))
				} else {
					p.SequenceNumber++
					p.Timestamp += 3000
					pub.WriteRTP(media, p, int64(p.Timestamp), time.Time{})
					sentN++
				}
				waitDelivered(t, readers, sentN)
			}

			for _, gp := range idr {
				pub.WriteRTP(media, gp.Pkt, gp.PTS, time.Time{})
			}
			sentN = uint64(len(idr))
			for range 200 { // warm the pool, the rings and the history
				write()
			}
			allocs := testing.AllocsPerRun(200, write)
			assert.Zero(t, allocs, "allocations per run")
			assert.Equal(t, 10*sentN, units.Load())
			for _, r := range readers {
				assert.Zero(t, r.Dropped())
			}
		})
	}
}
