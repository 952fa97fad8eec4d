package rtspserver

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// outageLength is how long the publisher stays away: the scenario itself,
// not a synchronisation.
const outageLength = 600 * time.Millisecond

// outage runs publisher A, a TCP reader, A's departure, a pause of
// outageLength and publisher B with sps; it returns the reader and B.
func outage(t *testing.T, sps []byte) (*testEnv, *testReader, *testPublisher) {
	env := newEnv(t, envConfig{
		paths: map[string]hub.PathConf{"live": {AcceptPublishers: true, OutageGrace: 5 * time.Second}},
	})
	a, err := startPublisher(t, env.url("live"), pubConfig{gop: 10, seq0: 100, ts0: 1000})
	require.NoError(t, err)
	a.pace(25)
	a.waitFrames(t, 12)
	r := startReader(t, env.url("live"), gortsplib.ProtocolTCP)
	r.waitCount(t, 40)

	a.close()
	env.logs.waitCount(t, 1, "session closed", "path=live")
	<-time.After(outageLength)

	// The new session numbers from elsewhere, as a restarted camera does.
	b, err := startPublisher(t, env.url("live"), pubConfig{gop: 10, sps: sps, seq0: 50000, ts0: 0x90000000})
	require.NoError(t, err)
	b.pace(25)
	return env, r, b
}

func TestOutageSameCodecsResumes(t *testing.T) {
	env, r, b := outage(t, testSPS)
	b.waitFrames(t, 20)
	r.waitMore(t, 40)
	env.logs.waitCount(t, 1, "source is back with the same codecs")

	pkts := r.packets()
	vi := r.videoMedia()
	requireVideoContinuous(t, pkts, vi)

	// Find the seam: the longest silence on the video track.
	seam, gap := 0, time.Duration(0)
	prev := -1
	for i := range pkts {
		if pkts[i].media != vi {
			continue
		}
		if prev >= 0 {
			if d := pkts[i].at.Sub(pkts[prev].at); d > gap {
				seam, gap = i, d
			}
		}
		prev = i
	}
	before := lastVideoBefore(pkts, vi, seam)
	after := pkts[seam]
	require.GreaterOrEqual(t, gap, outageLength, "the seam is the outage")
	require.True(t, isIDRPayload(after.pkt.Payload), "the new source resumes at its keyframe")
	assert.Equal(t, before.pkt.SequenceNumber+1, after.pkt.SequenceNumber, "seq +1 at the seam")
	tsGap := time.Duration(after.pkt.Timestamp-before.pkt.Timestamp) * time.Second / 90000
	assert.InDelta(t, gap.Seconds(), tsGap.Seconds(), 0.15,
		"timestamps advance by the outage wall time (arrival gap %v, timestamp gap %v)", gap, tsGap)
	t.Logf("outage seam: arrival gap %v, timestamp gap %v, seq %d → %d", gap, tsGap,
		before.pkt.SequenceNumber, after.pkt.SequenceNumber)

	// Audio continues its numbering too.
	var lastA *recvPacket
	for i := range pkts {
		if pkts[i].media == vi {
			continue
		}
		if lastA != nil {
			require.Equal(t, lastA.pkt.SequenceNumber+1, pkts[i].pkt.SequenceNumber, "audio seq at packet %d", i)
		}
		lastA = &pkts[i]
	}
	assert.Equal(t, int32(2), r.setups.Load(), "the reader never set up again")
	assert.Equal(t, 1, env.logs.count("reader playing"), "one PLAY for the whole test")
}

func lastVideoBefore(pkts []recvPacket, vi, i int) recvPacket {
	for j := i - 1; j >= 0; j-- {
		if pkts[j].media == vi {
			return pkts[j]
		}
	}
	return recvPacket{}
}

func TestOutageOtherCodecsClosesReader(t *testing.T) {
	env, r, _ := outage(t, testSPS2)
	done := make(chan error, 1)
	go func() { done <- r.c.Wait() }()
	err := waitFor(t, done, "the reader's session to be closed")
	require.Error(t, err)
	env.logs.waitCount(t, 1, "source is back with other codecs")
	t.Logf("reader ended with: %v", err)
}
