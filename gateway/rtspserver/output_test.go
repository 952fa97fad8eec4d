package rtspserver

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway/hub"
)

// sessionFor returns the server's session whose client is at remote.
func (e *testEnv) sessionFor(t testing.TB, remote string) *session {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	for _, ses := range e.srv.sessions {
		if ses.remote == remote {
			return ses
		}
	}
	t.Fatalf("no session of %s", remote)
	return nil
}

// playRaw sets up every media of path over TCP on a raw connection and
// sends PLAY. It returns the first byte the server sent after the request.
func playRaw(t *testing.T, rc *rawConn, url string) byte {
	t.Helper()
	res := rc.mustDo(t, base.Describe, url, base.Header{"Accept": base.HeaderValue{"application/sdp"}}, nil)
	require.Equal(t, base.StatusOK, res.StatusCode)
	var raw sdp.SessionDescription
	require.NoError(t, raw.Unmarshal(res.Body))
	var sd description.Session
	require.NoError(t, sd.Unmarshal(&raw))
	var id string
	for i := range sd.Medias {
		th := headers.Transport{
			Protocol:       headers.TransportProtocolTCP,
			Delivery:       ptrTo(headers.TransportDeliveryUnicast),
			InterleavedIDs: &[2]int{2 * i, 2*i + 1},
		}
		h := base.Header{"Transport": th.Marshal()}
		if id != "" {
			h["Session"] = base.HeaderValue{id}
		}
		res = rc.mustDo(t, base.Setup, url+"/trackID="+strconv.Itoa(i), h, nil)
		require.Equal(t, base.StatusOK, res.StatusCode, "SETUP")
		id = sessionID(t, res)
	}
	rc.cseq++
	req := base.Request{Method: base.Play, URL: mustURL(t, url), Header: base.Header{
		"CSeq": base.HeaderValue{strconv.Itoa(rc.cseq)}, "Session": base.HeaderValue{id},
	}}
	buf, err := req.Marshal()
	require.NoError(t, err)
	_, err = rc.nc.Write(buf)
	require.NoError(t, err)
	first, err := rc.br.Peek(1)
	require.NoError(t, err)
	return first[0]
}

func (o *mediaOut) queuedBytes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued
}

func ptrTo[T any](v T) *T { return &v }

func mustURL(t testing.TB, s string) *base.URL {
	u, err := base.ParseURL(s)
	require.NoError(t, err)
	return u
}

// TestOutputPlayResponseFirst checks that the catch-up burst a PLAY starts
// reaches the client after the PLAY response, never before it.
func TestOutputPlayResponseFirst(t *testing.T) {
	env := newEnv(t, envConfig{paths: map[string]hub.PathConf{"live": {AcceptPublishers: true}}})
	pub, err := startPublisher(t, env.url("live"), pubConfig{gop: 10})
	require.NoError(t, err)
	pub.send(15) // a cached GOP to burst

	for i := range 5 {
		rc := dialRaw(t, env.host)
		first := playRaw(t, rc, env.url("live"))
		require.Equal(t, byte('R'), first, "session %d: the first byte after PLAY must start the response", i)
		res, err := rc.readResponse()
		require.NoError(t, err)
		require.Equal(t, base.StatusOK, res.StatusCode)
		// The burst follows as interleaved frames.
		var fr base.InterleavedFrame
		require.NoError(t, fr.Unmarshal(rc.br))
		require.Equal(t, 0, fr.Channel)
		rc.nc.Close()
	}
}

// TestOutputSlowReader checks that a TCP reader that stops reading loses
// packets in its own bounded queue, while a reader beside it receives
// every packet the publisher sent.
func TestOutputSlowReader(t *testing.T) {
	env := newEnv(t, envConfig{
		paths:           map[string]hub.PathConf{"live": {AcceptPublishers: true}},
		writeQueueBytes: 256 << 10,
	})
	pub, err := startPublisher(t, env.url("live"), pubConfig{gop: 25})
	require.NoError(t, err)
	pub.send(1)
	_, a0 := pub.sent()

	good := startReader(t, env.url("live"), gortsplib.ProtocolTCP)
	good.waitCount(t, 1)
	vi := good.videoMedia()
	// It gets every video packet (the first frame from the cache) and the
	// audio from about when it joined on.
	counts := func() (video, audio int) {
		for _, p := range good.packets() {
			if p.media == vi {
				video++
			} else {
				audio++
			}
		}
		return video, audio
	}
	caughtUp := func() {
		t.Helper()
		v, a := pub.sent()
		deadline := time.Now().Add(testTimeout)
		for {
			gv, ga := counts()
			if gv >= len(v) && ga >= len(a)-len(a0) {
				return
			}
			require.True(t, time.Now().Before(deadline), "the good reader has %d/%d video and %d/%d audio packets",
				gv, len(v), ga, len(a)-len(a0))
			select {
			case <-good.notify:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	// The stalled reader: a tiny receive buffer, and nobody reads it.
	nc, err := (&net.Dialer{Timeout: testTimeout}).Dial("tcp", env.host)
	require.NoError(t, err)
	require.NoError(t, nc.(*net.TCPConn).SetReadBuffer(4096))
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(testTimeout)))
	rc := &rawConn{nc: nc, br: bufio.NewReader(nc)}
	require.Equal(t, byte('R'), playRaw(t, rc, env.url("live")))
	_, err = rc.readResponse()
	require.NoError(t, err)
	slow := env.sessionFor(t, nc.LocalAddr().String())
	require.NotNil(t, slow.out.Load(), "a plain TCP reader has its own writer")

	// Write in steps the good reader can follow (so the hub never drops
	// for it), until the stalled one has overflowed its queue.
	deadline := time.Now().Add(testTimeout)
	for slow.writeErrors.Load() == 0 {
		require.True(t, time.Now().Before(deadline), "the stalled reader never dropped")
		pub.send(20) // about 35 KB: well within the good reader's queue
		caughtUp()
	}
	pub.send(10)
	caughtUp()

	v, a := pub.sent()
	gv, ga := counts()
	require.Equal(t, len(v), gv, "the reader that keeps up gets every video packet, once")
	require.LessOrEqual(t, ga, len(a), "no audio packet twice")
	pkts := good.packets()
	lastSeq := map[int]uint16{}
	for i, p := range pkts {
		if prev, ok := lastSeq[p.media]; ok {
			require.Equal(t, prev+1, p.pkt.SequenceNumber, "packet %d of media %d: a sequence gap", i, p.media)
		}
		lastSeq[p.media] = p.pkt.SequenceNumber
	}
	var goodSes *session
	env.srv.mu.Lock()
	for _, ses := range env.srv.sessions {
		if ses != slow && ses.ss.State() == gortsplib.ServerSessionStatePlay {
			goodSes = ses
		}
	}
	env.srv.mu.Unlock()
	require.NotNil(t, goodSes)
	require.Zero(t, goodSes.writeErrors.Load(), "the reader that keeps up lost packets")
	require.NotZero(t, goodSes.outputBytes(), "the good reader is served by its own writer")
}

// TestOutputSenderReports checks, over TCP and UDP, that a reader gets RTCP
// sender reports with the SSRC of the packets, whose RTP-to-NTP mapping
// agrees with the packets' own timing.
func TestOutputSenderReports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto gortsplib.Protocol
	}{
		{"tcp", gortsplib.ProtocolTCP},
		{"udp", gortsplib.ProtocolUDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, envConfig{
				paths:    map[string]hub.PathConf{"cam": {HasSource: true, Extra: &synthConf{gop: 10, fps: 25}}},
				udp:      tc.proto == gortsplib.ProtocolUDP,
				srPeriod: 100 * time.Millisecond,
			})
			type sr struct {
				rep *rtcp.SenderReport
				at  int // packets received before it
			}
			var mu sync.Mutex
			var reports []sr
			var pkts []*rtp.Packet
			got := make(chan struct{}, 1)

			u := mustURL(t, env.url("cam"))
			proto := tc.proto
			c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 5 * time.Second}
			require.NoError(t, c.Start())
			t.Cleanup(c.Close)
			desc, _, err := c.Describe(u)
			require.NoError(t, err)
			require.NoError(t, c.SetupAll(desc.BaseURL, desc.Medias))
			var video *description.Media
			var h264 *format.H264
			desc.FindFormat(&h264)
			for _, m := range desc.Medias {
				if m.Type == description.MediaTypeVideo {
					video = m
				}
			}
			c.OnPacketRTP(video, h264, func(p *rtp.Packet) {
				mu.Lock()
				pkts = append(pkts, p)
				mu.Unlock()
			})
			c.OnPacketRTCP(video, func(p rtcp.Packet) {
				if rep, ok := p.(*rtcp.SenderReport); ok {
					mu.Lock()
					reports = append(reports, sr{rep: rep, at: len(pkts)})
					n := len(reports)
					mu.Unlock()
					if n >= 15 {
						select {
						case got <- struct{}{}:
						default:
						}
					}
				}
			})
			_, err = c.Play(nil)
			require.NoError(t, err)
			waitFor(t, got, "15 sender reports")
			env.srv.mu.Lock()
			for _, ses := range env.srv.sessions {
				o := ses.out.Load()
				require.NotNil(t, o, "a plain %s reader has its own writer", tc.name)
				if us, ok := o.sink.(*udpSink); ok {
					require.NotNil(t, us.brtp, "an IPv4 RTP socket sends with sendmmsg")
				}
			}
			env.srv.mu.Unlock()

			mu.Lock()
			defer mu.Unlock()
			// Reports after the first second describe live packets (the
			// catch-up burst has its own, squeezed timing).
			var live []sr
			for _, r := range reports {
				if r.at > 0 && r.at >= len(pkts)/2 {
					live = append(live, r)
				}
			}
			require.NotEmpty(t, live)
			var offsets []float64
			for _, r := range live {
				for _, p := range pkts[len(pkts)/2:] {
					require.Equal(t, p.SSRC, r.rep.SSRC, "the report's SSRC is the packets'")
					idx, ok := frameIndexOf(p.Payload)
					if !ok {
						continue
					}
					at := ntp.Decode(r.rep.NTPTime).Add(time.Duration(int32(p.Timestamp-r.rep.RTPTime)) * time.Second / 90000)
					// The synthetic source's NTP is its start plus 40 ms per frame.
					offsets = append(offsets, float64(at.Add(-time.Duration(idx)*40*time.Millisecond).UnixNano()))
				}
			}
			require.NotEmpty(t, offsets)
			lo, hi := offsets[0], offsets[0]
			for _, o := range offsets {
				lo, hi = min(lo, o), max(hi, o)
			}
			require.Less(t, hi-lo, float64(2*time.Millisecond),
				"every report maps every live packet to the source's NTP within 2 ms")
		})
	}
}

// BenchmarkOutputWriteRTP measures one packet written by a reader session
// through its own writer to a loopback TCP connection: the per-packet
// cost of an RTSP/TCP reader. It must not allocate.
func BenchmarkOutputWriteRTP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) //nolint:errcheck // ends when the writer closes
		c.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)

	ses := &session{}
	m := avDesc(testSPS).Medias[0]
	var writers sync.WaitGroup
	o := newMediaOut(ses, &tcpSink{w: nc, nc: nc, timeout: 10 * time.Second}, &chunkPool{}, 4<<20, time.Hour, &writers)
	o.addMedia(m, 0, map[uint8]uint32{videoPT: 1234})
	o.open = true
	o.start()

	payload := make([]byte, 1200)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: videoPT}, Payload: payload}
	now := time.Now()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt.SequenceNumber++
		pkt.Marker = i%15 == 14 // 15 packets per access unit
		pkt.Timestamp = uint32(i/15) * 3000
		o.writeRTP(m, pkt, now)
		if pkt.Marker {
			// Let the writer take the access unit, as a live source would.
			for o.queuedBytes() > 0 {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	o.close()
	nc.Close()
	writers.Wait()
	wg.Wait()
	require.Zero(b, ses.writeErrors.Load(), "dropped packets")
}
