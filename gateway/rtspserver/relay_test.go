package rtspserver

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// findRun returns where want[:2] starts in sent (two payloads, because the
// STAP-A with SPS and PPS repeats at every keyframe), or -1.
func findRun(sent, want [][]byte) int {
	for k := 0; k+len(want) <= len(sent) && len(want) > 0; k++ {
		if !bytes.Equal(sent[k], want[0]) {
			continue
		}
		if len(want) == 1 || bytes.Equal(sent[k+1], want[1]) {
			return k
		}
	}
	return -1
}

// requireSameRun checks that got is a contiguous run of sent, byte for byte.
func requireSameRun(t *testing.T, what string, sent, got [][]byte) {
	t.Helper()
	require.NotEmpty(t, got, "%s: nothing received", what)
	k := findRun(sent, got)
	require.GreaterOrEqual(t, k, 0, "%s: the first received payloads were never sent", what)
	require.LessOrEqual(t, k+len(got), len(sent), "%s: received more than was sent", what)
	for i, p := range got {
		if !bytes.Equal(sent[k+i], p) {
			t.Fatalf("%s: payload %d of %d differs from sent payload %d (%d vs %d bytes)",
				what, i, len(got), k+i, len(p), len(sent[k+i]))
		}
	}
}

// TestRelayPayloadsIdentical publishes the synthetic stream with a gortsplib
// client (ANNOUNCE/RECORD) and reads it with gortsplib clients over TCP and
// UDP: every payload from the cached keyframe on is the publisher's, byte
// for byte; the first packet is the keyframe; numbering is continuous
// across the catch-up burst. It also measures the time from PLAY to the
// keyframe and the delay behind the publisher for the closing report.
func TestRelayPayloadsIdentical(t *testing.T) {
	env := newEnv(t, envConfig{
		udp:   true,
		paths: map[string]hub.PathConf{"live": {AcceptPublishers: true}},
	})
	pub, err := startPublisher(t, env.url("live"), pubConfig{gop: 50, seq0: 65000, ts0: 0xFFF00000})
	require.NoError(t, err)
	pub.pace(25)
	// One whole 2 s GOP, then 1 s into the next: the cache holds 25 frames.
	pub.waitFrames(t, 75)

	protos := []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP}
	readers := make([]*testReader, len(protos))
	var wg sync.WaitGroup
	errs := make([]error, len(protos))
	for i, proto := range protos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readers[i], errs[i] = dialReader(t, env.url("live"), proto)
		}()
	}
	wg.Wait()
	for i := range protos {
		require.NoError(t, errs[i], "reader over %v", protos[i])
	}
	// 1.5 s of live after PLAY.
	pub.waitFrames(t, pub.frames()+38)
	for _, r := range readers {
		r.waitCount(t, 100)
	}
	pub.close()

	sentV, sentA := pub.sent()
	for i, proto := range protos {
		t.Run(proto.String(), func(t *testing.T) {
			r := readers[i]
			pkts := r.packets()
			vi := r.videoMedia()
			var gotV, gotA [][]byte
			var firstVideo *recvPacket
			for j := range pkts {
				if pkts[j].media == vi {
					if firstVideo == nil {
						firstVideo = &pkts[j]
					}
					gotV = append(gotV, pkts[j].pkt.Payload)
				} else {
					gotA = append(gotA, pkts[j].pkt.Payload)
				}
			}
			require.NotNil(t, firstVideo)
			require.True(t, isIDRPayload(firstVideo.pkt.Payload), "the first video packet must belong to an IDR access unit")
			if proto == gortsplib.ProtocolTCP {
				require.Equal(t, vi, pkts[0].media, "over TCP the very first packet is the keyframe's")
			}
			requireSameRun(t, "video", sentV, gotV)
			requireSameRun(t, "audio", sentA, gotA)
			requireVideoContinuous(t, pkts, vi)

			playResp := r.playResp.Load()
			require.NotNil(t, playResp)
			t.Logf("%v reader: first keyframe packet %v after the PLAY response; %d video, %d audio packets",
				proto, firstVideo.at.Sub(*playResp), len(gotV), len(gotA))
			logDelay(t, proto.String(), pub, pkts, vi, *playResp)
		})
	}
}

// requireVideoContinuous checks the video track's sequence numbers (+1 each
// packet) and timestamps (strictly increasing between access units) across
// the burst→live seam.
func requireVideoContinuous(t *testing.T, pkts []recvPacket, vi int) {
	t.Helper()
	var prev *recvPacket
	for i := range pkts {
		p := &pkts[i]
		if p.media != vi {
			continue
		}
		if prev != nil {
			require.Equal(t, prev.pkt.SequenceNumber+1, p.pkt.SequenceNumber, "video seq at packet %d", i)
			d := int32(p.pkt.Timestamp - prev.pkt.Timestamp)
			if prev.pkt.Marker {
				require.Positive(t, d, "video timestamp must increase at packet %d", i)
			} else {
				require.Zero(t, d, "video timestamp inside an access unit at packet %d", i)
			}
		}
		prev = p
	}
}

// logDelay reports the reader's delay behind the publisher: a player that
// starts at the first packet's arrival and then follows the RTP clock shows
// each frame at arrival_first + (ts - ts_first)/90000; the delay is that
// minus when the publisher sent the frame. It logs the value 1 s after PLAY.
func logDelay(t *testing.T, name string, pub *testPublisher, pkts []recvPacket, vi int, playResp time.Time) {
	t.Helper()
	var first *recvPacket
	type sample struct {
		at    time.Time
		delay time.Duration
	}
	var samples []sample
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
		samples = append(samples, sample{at: p.at, delay: first.at.Add(media).Sub(sentAt)})
	}
	require.NotEmpty(t, samples)
	target := playResp.Add(time.Second)
	best := samples[0]
	for _, s := range samples {
		if s.at.Sub(target).Abs() < best.at.Sub(target).Abs() {
			best = s
		}
	}
	last := samples[len(samples)-1]
	assert.Less(t, best.delay, time.Second, "a reader must be near live 1 s after PLAY")
	t.Logf("%s reader: delay behind the publisher %v at %v after PLAY (first frame: %v, last: %v)",
		name, best.delay.Round(time.Millisecond), best.at.Sub(playResp).Round(time.Millisecond),
		samples[0].delay.Round(time.Millisecond), last.delay.Round(time.Millisecond))
}

// TestSyntheticSourceReaders reads a path whose source is the gateway's own
// (a fake Runner through PublishSource), over TCP and UDP.
func TestSyntheticSourceReaders(t *testing.T) {
	env := newEnv(t, envConfig{
		udp: true,
		paths: map[string]hub.PathConf{
			"cam": {HasSource: true, OnDemand: true, Extra: &synthConf{gop: 10, fps: 50}},
		},
	})
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			r := startReader(t, env.url("cam"), proto)
			r.waitCount(t, 50)
			pkts := r.packets()
			vi := r.videoMedia()
			for _, p := range pkts {
				if p.media == vi {
					require.True(t, isIDRPayload(p.pkt.Payload), "first video packet is the keyframe's")
					break
				}
			}
			require.Equal(t, int32(len(r.desc.Medias)), r.setups.Load(), fmt.Sprintf("one SETUP per media over %v", proto))
		})
	}
}
