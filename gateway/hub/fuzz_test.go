package hub

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtp"
)

// fuzzSDP is a camera's SDP with H.264, H.265 and AAC, the seed the fuzzer
// mutates into what publishers (RTSP ANNOUNCE) may send.
const fuzzSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
	"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAH9kA8BF+8BEAAAMAAQAAAwAyDxgxkg==,aMuDyyA=;profile-level-id=42C01F\r\na=control:trackID=0\r\n" +
	"m=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\n" +
	"a=fmtp:97 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ;sprop-sps=QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAQEAAAAMAQAAABkI=;sprop-pps=RAHBcrRiQA==\r\na=control:trackID=1\r\n" +
	"m=audio 0 RTP/AVP 98\r\na=rtpmap:98 mpeg4-generic/48000/2\r\n" +
	"a=fmtp:98 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190\r\na=control:trackID=2\r\n"

// FuzzPublish feeds what a publisher controls into the hub: its session
// description (as an ANNOUNCE body) and RTP payloads for every track, split
// from data at 0xff bytes and cut into access units by the marker bit of
// each even chunk. The hub must not panic, and a reader must see only
// whole units of the announced tracks.
func FuzzPublish(f *testing.F) {
	f.Add(fuzzSDP, []byte{0x7c, 0x85, 0x01, 0x02, 0xff, 0x7c, 0x45, 0x03, 0xff, 0x65, 0x88, 0x80})
	f.Add(fuzzSDP, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x65, 0x88, 0xff, 0x41, 0x9a})
	f.Add(fuzzSDP, []byte{0x62, 0x01, 0x93, 0xaf, 0xff, 0x62, 0x01, 0x53, 0xff, 0x26, 0x01, 0xaf})
	f.Add(fuzzSDP, []byte{0x60, 0x01, 0x00, 0x02, 0x26, 0x01, 0xff, 0x00, 0x10, 0x01, 0x00, 0x21})
	f.Add("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", []byte{0x65})
	f.Add("v=0\r\nm=audio 0 RTP/AVP 0\r\n", []byte{0x00, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, sdpText string, data []byte) {
		var sd sdp.SessionDescription
		if err := sd.Unmarshal([]byte(sdpText)); err != nil {
			return
		}
		var desc description.Session
		if err := desc.Unmarshal(&sd); err != nil {
			return
		}
		h := newHub(t, PathConf{AcceptPublishers: true}, nil)
		_, pub, ok := tryPublish(h, &desc)
		if !ok {
			return
		}
		st := pub.Stream()
		r, c := addReader(t, st, ReaderConfig{Start: StartNextKeyframe})
		var chunks [][]byte
		start := 0
		for i, b := range data {
			if b == 0xff {
				chunks = append(chunks, data[start:i])
				start = i + 1
			}
		}
		chunks = append(chunks, data[start:])
		seq := uint16(0)
		ts := uint32(0)
		for i, ch := range chunks {
			for _, m := range desc.Medias {
				for _, fo := range m.Formats {
					pkt := &rtp.Packet{Header: rtp.Header{
						Version: 2, PayloadType: fo.PayloadType(), SequenceNumber: seq, Timestamp: ts,
						Marker: i%2 == 0,
					}, Payload: ch}
					pub.WriteRTP(m, pkt, int64(ts), time.Time{})
					seq++
				}
			}
			ts += 3000
		}
		pub.Close()
		r.Close()
		for _, g := range c.snapshot() {
			if g.Track < 0 || g.Track >= len(st.Tracks) {
				t.Fatalf("a unit of track %d in a stream of %d tracks", g.Track, len(st.Tracks))
			}
		}
	})
}

// tryPublish publishes desc on a fresh path; false when the hub refuses it.
func tryPublish(h *Hub, desc *description.Session) (*Path, *Publisher, bool) {
	p, err := h.Acquire("fuzz")
	if err != nil {
		return nil, nil, false
	}
	pub, err := p.Publish(desc)
	if err != nil {
		p.Release()
		return nil, nil, false
	}
	return p, pub, true
}
