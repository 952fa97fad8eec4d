package rtspserver

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// BenchmarkNewReaderStart measures what a viewer of a camera with a 2 s
// GOP experiences when it joins over TCP: the time from the PLAY response
// request to the first keyframe packet, and how far its playout runs behind the
// camera one second after PLAY (the catch-up burst should have brought it
// back to live by then). Each op is one new reader.
func BenchmarkNewReaderStart(b *testing.B) {
	env := newEnv(b, envConfig{paths: map[string]hub.PathConf{"live": {AcceptPublishers: true}}})
	pub, err := startPublisher(b, env.url("live"), pubConfig{gop: 50})
	require.NoError(b, err)
	pub.pace(25)
	pub.waitFrames(b, 75) // one whole GOP, then 1 s into the next

	var toKey, behind time.Duration
	for b.Loop() {
		r := startReader(b, env.url("live"), gortsplib.ProtocolTCP)
		r.waitCount(b, 1)
		pub.waitFrames(b, pub.frames()+30) // a little over 1 s of live
		playResp := r.playResp.Load()
		require.NotNil(b, playResp)
		pkts := r.packets()
		vi := r.videoMedia()
		require.True(b, isIDRPayload(pkts[0].pkt.Payload), "the first packet must be the cached keyframe's")
		playReq := r.playReq.Load()
		require.NotNil(b, playReq)
		toKey += pkts[0].at.Sub(*playReq)
		behind += delayAt(b, pub, pkts, vi, playResp.Add(time.Second))
		r.c.Close()
	}
	b.ReportMetric(float64(toKey.Microseconds())/1000/float64(b.N), "ms-to-keyframe")
	b.ReportMetric(float64(behind.Microseconds())/1000/float64(b.N), "ms-behind-at-1s")
}

// delayAt is the reader's playout delay behind the publisher for the video
// packet received closest to at: a player anchors its clock at the first
// packet and plays the rest by RTP timestamp.
func delayAt(tb testing.TB, pub *testPublisher, pkts []recvPacket, vi int, at time.Time) time.Duration {
	tb.Helper()
	var first *recvPacket
	best, bestDist := time.Duration(0), time.Duration(-1)
	for i := range pkts {
		p := &pkts[i]
		if p.media != vi {
			continue
		}
		if first == nil {
			first = p
		}
		frame, ok := frameIndexOf(p.pkt.Payload)
		if !ok {
			continue
		}
		sentAt, ok := pub.sendTime(frame)
		if !ok {
			continue
		}
		media := time.Duration(int32(p.pkt.Timestamp-first.pkt.Timestamp)) * time.Second / 90000
		if d := p.at.Sub(at).Abs(); bestDist < 0 || d < bestDist {
			best, bestDist = first.at.Add(media).Sub(sentAt), d
		}
	}
	require.GreaterOrEqual(tb, bestDist, time.Duration(0), "no video frame received")
	return best
}

// BenchmarkTimeshiftSeek measures seek-to-first-frame over RTSP inside a
// timeshift window: from sending PLAY with a clock Range 2 s back to the
// first packet of the keyframe. Each op is one seek on a paused session.
func BenchmarkTimeshiftSeek(b *testing.B) {
	env := newEnv(b, envConfig{
		paths:     map[string]hub.PathConf{"ts": {HasSource: true, Extra: &synthConf{gop: 25, fps: 25}}},
		timeshift: map[string]time.Duration{"ts": time.Minute},
	})
	waitBuffered(b, env, "ts", 4*time.Second)
	r := startReader(b, env.url("ts"), gortsplib.ProtocolTCP)
	r.waitCount(b, 10)
	var total time.Duration
	for b.Loop() {
		_, err := r.c.Pause()
		require.NoError(b, err)
		n := r.count()
		_, end := env.keep.Buffer("ts").Span()
		sent := time.Now()
		_, err = r.c.Play(&headers.Range{Value: &headers.RangeUTC{Start: end.Add(-2 * time.Second).Truncate(time.Second)}})
		require.NoError(b, err)
		r.waitCount(b, n+1)
		total += r.packets()[n].at.Sub(sent)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-packet")
}

// BenchmarkRecordingsSeek measures seek-to-first-frame in recordings on
// disk: from PLAY with a clock Range older than the timeshift window to the
// first packet. Each op is one seek on a paused session.
func BenchmarkRecordingsSeek(b *testing.B) {
	env, st := recEnv(b)
	first := waitRecorded(b, st, "ts", 5*time.Second)
	r := startReader(b, env.url("ts"), gortsplib.ProtocolTCP)
	r.waitCount(b, 10)
	target := first.Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	var total time.Duration
	for b.Loop() {
		_, err := r.c.Pause()
		require.NoError(b, err)
		n := r.count()
		sent := time.Now()
		_, err = r.c.Play(&headers.Range{Value: &headers.RangeUTC{Start: target}})
		require.NoError(b, err)
		r.waitCount(b, n+1)
		total += r.packets()[n].at.Sub(sent)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-packet")
}
