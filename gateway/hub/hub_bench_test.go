package hub

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkHubFanout writes one packet of about 1200 bytes per op into a
// stream with n readers that do nothing with their units. The packets are an
// H.264 camera's: a keyframe every 50 access units, access units of several
// packets. Readers' cost is counted: the writer lets them fall at most
// fanoutWindow packets behind and waits for them to drain at the end.
func BenchmarkHubFanout(b *testing.B) {
	const fanoutWindow = 1024
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			h := &Hub{
				Resolve: func(string) (PathConf, bool) { return PathConf{AcceptPublishers: true}, true },
				Logger:  discardLogger(),
			}
			if err := h.Start(); err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			p, err := h.Acquire("cam")
			if err != nil {
				b.Fatal(err)
			}
			defer p.Release()
			desc := videoDesc(testSPS)
			pub, err := p.Publish(desc)
			if err != nil {
				b.Fatal(err)
			}
			media := desc.Medias[0]

			readers := make([]*Reader, n)
			for i := range readers {
				r, err := pub.Stream().AddReader(ReaderConfig{
					Name:      fmt.Sprint("bench", i),
					QueueSize: 4 * fanoutWindow,
					OnUnit:    func(*Unit, bool) error { return nil },
				})
				if err != nil {
					b.Fatal(err)
				}
				readers[i] = r
			}

			// One GOP of packets, written over and over.
			g := h264Gen{GOP: 50, IDRSize: 12000, PSize: 3500, MTU: 1200}
			cycle := g.AUs(50)

			// flushed counts the packets of completed access units: what
			// the readers will have received once they caught up.
			var flushed uint64
			waitReaders := func(n uint64) {
				for _, r := range readers {
					for r.Delivered() < n {
						runtime.Gosched()
					}
				}
			}

			b.ReportAllocs()
			b.SetBytes(1200)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%fanoutWindow == 0 && flushed > fanoutWindow {
					waitReaders(flushed - fanoutWindow)
				}
				gp := cycle[i%len(cycle)]
				pub.WriteRTP(media, gp.Pkt, gp.PTS, time.Time{})
				if gp.Pkt.Marker {
					flushed = uint64(i + 1)
				}
			}
			waitReaders(flushed)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pkt/reader")
			b.StopTimer()

			var drops uint64
			for _, r := range readers {
				drops += r.Dropped()
				r.Close()
			}
			b.ReportMetric(float64(drops), "drops")
		})
	}
}

func BenchmarkNALScan(b *testing.B) {
	cases := []struct {
		name string
		kind codecKind
		p    []byte
	}{
		{"h264/single", codecH264, []byte{0x41, 0x9a, 0x02}},
		{"h264/FU-A", codecH264, []byte{0x7c, 0x85, 0x88, 0x84}},
		{"h264/STAP-A", codecH264, []byte{0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}},
		{"h265/FU", codecH265, []byte{0x62, 0x01, 0x93, 0xaf}},
		{"h265/AP", codecH265, []byte{0x60, 0x01, 0x00, 0x02, 0x40, 0x01, 0x00, 0x02, 0x42, 0x01, 0x00, 0x02, 0x44, 0x01, 0x00, 0x02, 0x26, 0x01}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				nalScan(tc.kind, tc.p)
			}
		})
	}
}
