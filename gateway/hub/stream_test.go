package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamFanOut(t *testing.T) {
	for _, n := range []int{1, 10, 50} {
		t.Run(fmt.Sprintf("readers=%d", n), func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true}, nil)
			desc := avDesc()
			_, pub := publish(t, h, "cam", desc)
			cols := make([]*collector, n)
			for i := range cols {
				_, cols[i] = addReader(t, pub.Stream(), ReaderConfig{Name: fmt.Sprintf("r%d", i)})
			}

			f := newFeeder(pub, desc, 10)
			f.AUs(35)

			for i, c := range cols {
				units := c.wait(t, len(f.log))
				requireSame(t, f.log, units)
				for j, u := range units {
					require.False(t, u.Cached, "reader %d unit %d", i, j)
					require.Equal(t, uint32(1), u.Gen, "reader %d unit %d", i, j)
				}
			}
		})
	}
}

func TestStreamNTP(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := videoDesc(testSPS)
	_, pub := publish(t, h, "cam", desc)
	var ntps []time.Time
	done := make(chan struct{})
	_, err := pub.Stream().AddReader(ReaderConfig{OnUnit: func(u *Unit, _ bool) error {
		ntps = append(ntps, u.NTP)
		if len(ntps) == 2 {
			close(done)
		}
		return nil
	}})
	require.NoError(t, err)

	// Without a sender report the first packet anchors the clock; later
	// packets are placed by their PTS, never by their arrival.
	pkt := func(ts uint32, payload byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: videoPT, Timestamp: ts}, Payload: []byte{payload}}
	}
	pub.WriteRTP(desc.Medias[0], pkt(0, 0x65), 90000, time.Time{})
	pub.WriteRTP(desc.Medias[0], pkt(90000*3, 0x41), 90000*3, time.Time{})
	within(t, testDeadline, done, "two units")
	assert.Equal(t, 2*time.Second, ntps[1].Sub(ntps[0]))

	// A known NTP time is kept as it is.
	sr := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	done2 := make(chan struct{})
	var gotNTP time.Time
	_, err = pub.Stream().AddReader(ReaderConfig{Start: StartNextKeyframe, OnUnit: func(u *Unit, _ bool) error {
		gotNTP = u.NTP
		close(done2)
		return nil
	}})
	require.NoError(t, err)
	pub.WriteRTP(desc.Medias[0], pkt(90000*4, 0x65), 90000*4, sr)
	within(t, testDeadline, done2, "unit with NTP")
	assert.Equal(t, sr, gotNTP)
}

// TestStreamStart checks where a new reader starts: which unit comes first,
// which units are the cached burst, and that live units follow the burst
// without a gap or a duplicate.
func TestStreamStart(t *testing.T) {
	const gop = 10
	const next = -1 // the next keyframe after the reader joined
	cases := []struct {
		name   string
		desc   func() *description.Session
		stream StreamConfig
		start  StartMode
		before int // access units written before the reader joins
		// wantKeyAU is the access unit (an IDR) the reader starts at, or next.
		wantKeyAU int
	}{
		{"default starts at latest keyframe", avDesc, StreamConfig{}, StartDefault, 25, 20},
		{"latest GOP", avDesc, StreamConfig{}, StartLatestGOP, 25, 20},
		{"latest GOP right after a keyframe", avDesc, StreamConfig{}, StartLatestGOP, 21, 20},
		{"latest GOP with more kept", avDesc, StreamConfig{HistoryGOPs: 3}, StartLatestGOP, 45, 40},
		{"next keyframe", avDesc, StreamConfig{}, StartNextKeyframe, 25, next},
		{"path without GOP cache", avDesc, StreamConfig{NoGOPCache: true}, StartDefault, 25, next},
		{"GOP cache off still keeps the configured history", avDesc, StreamConfig{NoGOPCache: true, HistoryGOPs: 1}, StartLatestGOP, 25, 20},
		{"GOP cache off and no history keeps nothing", avDesc, StreamConfig{NoGOPCache: true}, StartLatestGOP, 25, next},
		{"history of 3 GOPs", avDesc, StreamConfig{HistoryGOPs: 3}, StartHistory, 45, 20},
		{"history shorter than kept", avDesc, StreamConfig{HistoryGOPs: 3}, StartHistory, 25, 0},
		{"history of 1 GOP", avDesc, StreamConfig{}, StartHistory, 45, 40},
		{"history capped by bytes", avDesc, StreamConfig{HistoryGOPs: 3, HistoryMaxBytes: 25000}, StartHistory, 45, 30},
		{"byte cap smaller than a GOP keeps nothing", avDesc, StreamConfig{HistoryMaxBytes: 5000}, StartDefault, 25, next},
		{"video only", func() *description.Session { return videoDesc(testSPS) }, StreamConfig{}, StartDefault, 25, 20},
		{"joined before the first packet", avDesc, StreamConfig{}, StartDefault, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true, Stream: tc.stream}, nil)
			desc := tc.desc()
			_, pub := publish(t, h, "cam", desc)
			f := newFeeder(pub, desc, gop)
			f.AUs(tc.before)
			join := len(f.log)

			_, c := addReader(t, pub.Stream(), ReaderConfig{Start: tc.start})
			f.AUs(2 * gop)

			keys := f.keyIndices()
			from := -1
			if tc.wantKeyAU == next {
				for _, k := range keys {
					if k >= join {
						from = k
						break
					}
				}
			} else {
				from = keys[tc.wantKeyAU/gop]
			}
			require.GreaterOrEqual(t, from, 0)
			want := f.log[from:]
			units := c.wait(t, len(want))
			requireSame(t, want, units)
			require.True(t, units[0].AUStart && units[0].RandomAccess, "first unit must start a keyframe")
			for i, u := range units {
				require.Equal(t, from+i < join, u.Cached, "unit %d (log %d, joined at %d): cached", i, from+i, join)
			}
		})
	}
}

func TestStreamStartAudioOnly(t *testing.T) {
	for _, start := range []StartMode{StartDefault, StartLatestGOP, StartHistory, StartNextKeyframe} {
		t.Run(fmt.Sprint("start=", start), func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true}, nil)
			desc := audioDesc()
			_, pub := publish(t, h, "mic", desc)
			require.Nil(t, pub.Stream().KeyTrack())
			f := newFeeder(pub, desc, 10)
			f.AUs(5)
			join := len(f.log)

			_, c := addReader(t, pub.Stream(), ReaderConfig{Start: start})
			f.AUs(5)
			units := c.wait(t, len(f.log)-join)
			requireSame(t, f.log[join:], units)
			for _, u := range units {
				require.False(t, u.Cached)
			}
		})
	}
}

// pk is a hand-made RTP packet of a grouping test.
type pk struct {
	payload []byte
	ts      uint32
	marker  bool
}

// fl is what the hub must have derived for a packet: AUStart and RandomAccess.
type fl struct {
	i       int // index of the packet in the case's packets
	auStart bool
	ra      bool
}

func TestStreamAccessUnits(t *testing.T) {
	h265 := &format.H265{PayloadTyp: videoPT}
	vp8 := &format.VP8{PayloadTyp: videoPT}
	cases := []struct {
		name string
		f    format.Format
		pkts []pk
		want []fl
	}{
		{
			name: "H.264 IDR after AUD and parameter sets",
			f:    h264Format(testSPS),
			pkts: []pk{
				{[]byte{0x09, 0xf0}, 0, false},
				{testSPS, 0, false},
				{testPPS, 0, false},
				{[]byte{0x7c, 0x85, 1, 2}, 0, false},
				{[]byte{0x7c, 0x05, 3, 4}, 0, false},
				{[]byte{0x7c, 0x45, 5, 6}, 0, true},
				{[]byte{0x09, 0xf0}, 3000, false},
				{[]byte{0x41, 7, 8}, 3000, true},
			},
			want: []fl{{0, true, true}, {1, false, true}, {2, false, true}, {3, false, true}, {4, false, true}, {5, false, true}, {6, true, false}, {7, false, false}},
		},
		{
			name: "H.264 IDR in a STAP-A after SEI",
			f:    h264Format(testSPS),
			pkts: []pk{
				{[]byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x65, 0x88}, 0, true},
				{[]byte{0x5c, 0x81, 1}, 3000, false},
				{[]byte{0x5c, 0x41, 2}, 3000, true},
			},
			want: []fl{{0, true, true}, {1, true, false}, {2, false, false}},
		},
		{
			name: "H.264 access units without marker end when the timestamp changes",
			f:    h264Format(testSPS),
			pkts: []pk{
				{[]byte{0x7c, 0x85, 1}, 0, false},
				{[]byte{0x7c, 0x45, 2}, 0, false},
				{[]byte{0x41, 3}, 3000, false},
				{[]byte{0x41, 4}, 6000, false},
				{[]byte{0x41, 5}, 6000, false},
				{[]byte{0x41, 6}, 9000, true},
			},
			want: []fl{{0, true, true}, {1, false, true}, {2, true, false}, {3, true, false}, {4, false, false}, {5, true, false}},
		},
		{
			name: "H.264 units before the first keyframe are not delivered",
			f:    h264Format(testSPS),
			pkts: []pk{
				{[]byte{0x41, 1}, 0, true},
				{[]byte{0x09, 0xf0}, 3000, false},
				{[]byte{0x65, 2}, 3000, true},
			},
			want: []fl{{1, true, true}, {2, false, true}},
		},
		{
			name: "H.265 IDR after AUD and parameter sets in an AP",
			f:    h265,
			pkts: []pk{
				{append(h265NAL(35), 0x50), 0, false},
				{[]byte{48 << 1, 1, 0, 2, 32 << 1, 1, 0, 2, 33 << 1, 1, 0, 2, 34 << 1, 1}, 0, false},
				{[]byte{49 << 1, 1, 0x80 | 19, 1}, 0, false},
				{[]byte{49 << 1, 1, 0x40 | 19, 2}, 0, true},
				{append(h265NAL(1), 3), 3000, true},
			},
			want: []fl{{0, true, true}, {1, false, true}, {2, false, true}, {3, false, true}, {4, true, false}},
		},
		{
			name: "H.265 CRA",
			f:    h265,
			pkts: []pk{
				{append(h265NAL(1), 1), 0, true},
				{append(h265NAL(21), 2), 3000, true},
				{append(h265NAL(1), 3), 6000, true},
			},
			want: []fl{{1, true, true}, {2, true, false}},
		},
		{
			name: "VP8 is not grouped and never random access",
			f:    vp8,
			pkts: []pk{
				{[]byte{0x10, 1}, 0, false},
				{[]byte{0x00, 2}, 0, true},
			},
			want: []fl{{0, true, false}, {1, true, false}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, PathConf{AcceptPublishers: true}, nil)
			desc := &description.Session{Medias: []*description.Media{
				{Type: description.MediaTypeVideo, Formats: []format.Format{tc.f}},
			}}
			_, pub := publish(t, h, "cam", desc)
			_, c := addReader(t, pub.Stream(), ReaderConfig{})
			for i, p := range tc.pkts {
				pub.WriteRTP(desc.Medias[0], &rtp.Packet{
					Header:  rtp.Header{Version: 2, PayloadType: videoPT, SequenceNumber: uint16(i), Timestamp: p.ts, Marker: p.marker},
					Payload: p.payload,
				}, int64(p.ts), time.Time{})
			}
			units := c.wait(t, len(tc.want))
			require.Len(t, units, len(tc.want))
			for j, w := range tc.want {
				u := units[j]
				assert.Equal(t, uint16(w.i), u.Seq, "unit %d", j)
				assert.Equal(t, tc.pkts[w.i].payload, u.Payload, "unit %d", j)
				assert.Equal(t, w.auStart, u.AUStart, "unit %d (packet %d): AUStart", j, w.i)
				assert.Equal(t, w.ra, u.RandomAccess, "unit %d (packet %d): RandomAccess", j, w.i)
			}
		})
	}
}

func TestStreamBoundsPendingAccessUnit(t *testing.T) {
	// A camera that never sets the marker bit nor changes the timestamp must
	// not make the hub hold packets without limit.
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := videoDesc(testSPS)
	_, pub := publish(t, h, "cam", desc)
	_, c := addReader(t, pub.Stream(), ReaderConfig{QueueSize: 4 * maxPendingAU})
	n := maxPendingAU + 10
	for i := range n {
		payload := []byte{0x41, byte(i)}
		if i == 0 {
			payload[0] = 0x65
		}
		pub.WriteRTP(desc.Medias[0], &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: videoPT, SequenceNumber: uint16(i), Timestamp: 1000},
			Payload: payload,
		}, 0, time.Time{})
	}
	units := c.wait(t, maxPendingAU)
	for i, u := range units[:maxPendingAU] {
		require.Equal(t, uint16(i), u.Seq)
		require.Equal(t, i == 0, u.AUStart, "unit %d", i)
		require.True(t, u.RandomAccess, "unit %d", i)
	}
	// The rest waits for its end; a timestamp change releases it as a new unit.
	pub.WriteRTP(desc.Medias[0], &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: videoPT, SequenceNumber: uint16(n), Timestamp: 4000, Marker: true},
		Payload: []byte{0x41},
	}, 3000, time.Time{})
	units = c.wait(t, n+1)
	require.Len(t, units, n+1)
	assert.True(t, units[maxPendingAU].AUStart)
	assert.False(t, units[maxPendingAU].RandomAccess)
	assert.True(t, units[n].AUStart)
}

func TestStreamIgnoresUnknownPackets(t *testing.T) {
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := avDesc()
	_, pub := publish(t, h, "cam", desc)
	_, c := addReader(t, pub.Stream(), ReaderConfig{})

	other := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format(testSPS)}}
	pub.WriteRTP(other, &rtp.Packet{Header: rtp.Header{PayloadType: videoPT, Marker: true}, Payload: []byte{0x65}}, 0, time.Time{})
	pub.WriteRTP(desc.Medias[0], &rtp.Packet{Header: rtp.Header{PayloadType: 111, Marker: true}, Payload: []byte{0x65}}, 0, time.Time{})
	assert.Equal(t, uint64(2), pub.unknown.Load())

	f := newFeeder(pub, desc, 10)
	f.AUs(3)
	requireSame(t, f.log, c.wait(t, len(f.log)))
}

func TestSameCodecs(t *testing.T) {
	withSPS := func(sps []byte) func() *description.Session {
		return func() *description.Session { return videoDesc(sps) }
	}
	cases := []struct {
		name string
		a, b func() *description.Session
		want bool
	}{
		{"identical", avDesc, avDesc, true},
		{"SPS missing from the new SDP", withSPS(testSPS), withSPS(nil), true},
		{"SPS missing from the old SDP", withSPS(nil), withSPS(testSPS), true},
		{"other SPS", withSPS(testSPS), withSPS(testSPS2), false},
		{"media missing", avDesc, withSPS(testSPS), false},
		{"other payload type", avDesc, func() *description.Session {
			d := avDesc()
			d.Medias[0].Formats[0].(*format.H264).PayloadTyp = 98
			return d
		}, false},
		{"other audio config", avDesc, func() *description.Session {
			d := avDesc()
			d.Medias[1].Formats[0].(*format.MPEG4Audio).Config.SampleRate = 44100
			return d
		}, false},
		{"other codec", withSPS(testSPS), func() *description.Session {
			return &description.Session{Medias: []*description.Media{
				{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H265{PayloadTyp: videoPT}}},
			}}
		}, false},
		{"media order swapped", avDesc, func() *description.Session {
			d := avDesc()
			d.Medias[0], d.Medias[1] = d.Medias[1], d.Medias[0]
			return d
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, sameCodecs(tc.a(), tc.b()))
		})
	}
}

func TestAccessUnitOfRecycledUnits(t *testing.T) {
	// Units are recycled once every reader and the history let go of them;
	// a recycled unit must decode its new access unit, not the old one.
	h := newHub(t, PathConf{AcceptPublishers: true}, nil)
	desc := videoDesc(testSPS)
	_, pub := publish(t, h, "cam", desc)
	type frame struct {
		n     int
		nalus [][]byte
	}
	frames := make(chan frame, 100)
	count := 0
	_, err := pub.Stream().AddReader(ReaderConfig{OnUnit: func(u *Unit, _ bool) error {
		if !u.AUStart {
			return nil
		}
		au, err := u.AccessUnit()
		if err != nil {
			return err
		}
		nalus := make([][]byte, len(au.Payloads))
		for i, p := range au.Payloads {
			nalus[i] = append([]byte(nil), p...)
		}
		frames <- frame{count, nalus}
		count++
		return nil
	}})
	require.NoError(t, err)

	const gop, total = 5, 60
	f := newFeeder(pub, desc, gop)
	for k := range total {
		// One access unit at a time, so the next reuses recycled units.
		f.AUs(1)
		select {
		case fr := <-frames:
			require.Equal(t, k, fr.n)
			// The generator's NAL of access unit k: header, then bytes k*7+i.
			size, hdr := f.vg.PSize, byte(0x41)
			if k%gop == 0 {
				size, hdr = f.vg.IDRSize, 0x65
			}
			nal := []byte{hdr}
			for i := range size - 1 {
				nal = append(nal, byte(k*7+i))
			}
			want := [][]byte{nal}
			if k%gop == 0 {
				want = [][]byte{testSPS, testPPS, nal}
			}
			require.Equal(t, want, fr.nalus, "access unit %d", k)
		case <-time.After(testDeadline):
			t.Fatalf("access unit %d not received", k)
		}
	}
}
