package rtspserver

import (
	"net"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"
)

// writePacket sends one RTP packet of the session's medias to its client.
// Every media packet a reader session sends goes through here, live and
// played back alike, so the way packets reach the wire is decided in one
// place. pkt may be reused by the caller once writePacket returns.
//
// Plain RTSP sessions over TCP and unicast UDP have their own writer
// (mediaOut), which batches a whole access unit into one system call.
// Everything else (RTSPS with SRTP, multicast, tunnels, a media the writer
// does not know) goes through gortsplib, one queued write per packet.
func (ses *session) writePacket(m *description.Media, pkt *rtp.Packet, ntp time.Time) {
	if o := ses.out.Load(); o != nil && o.writeRTP(m, pkt, ntp) {
		return
	}
	if err := ses.ss.WritePacketRTPWithNTP(m, pkt, ntp); err != nil {
		ses.writeErrors.Add(1)
	}
}

// closeOutput stops the session's own media writer, if it has one.
func (ses *session) closeOutput() {
	if o := ses.out.Load(); o != nil {
		o.close()
	}
}

// outputBytes is what the session's own writer has sent; gortsplib's
// statistics only count what went through gortsplib.
func (ses *session) outputBytes() uint64 {
	if o := ses.out.Load(); o != nil {
		return o.sent.Load()
	}
	return 0
}

// noteRequest holds a TCP session's writer while a PLAY is handled: the
// catch-up burst it starts must not reach the client before the response.
func (s *Server) noteRequest(c *gortsplib.ServerConn, req *base.Request) {
	if req.Method != base.Play {
		return
	}
	if o, _ := tcpOutOf(c); o != nil {
		o.setOpen(false)
	}
}

// tcpOutOf returns the own writer of the session on c and c's connection,
// when the session has one and c is one of ours.
func tcpOutOf(c *gortsplib.ServerConn) (*mediaOut, *mediaConn) {
	ses := sessionOfConn(c)
	if ses == nil {
		return nil, nil
	}
	o := ses.out.Load()
	_, mc := mediaConnOf(c.NetConn())
	if o == nil || mc == nil {
		return nil, nil
	}
	return o, mc
}

// sessionOfConn is our session of the gortsplib session on c, or nil.
func sessionOfConn(c *gortsplib.ServerConn) *session {
	if ss := c.Session(); ss != nil {
		return sessionOf(ss)
	}
	return nil
}

// noteResponse learns from each successful SETUP response where the
// session's media go (interleaved channels, or client ports), and opens a
// TCP session's writer once the PLAY response has been written. method is
// the request's.
func (s *Server) noteResponse(c *gortsplib.ServerConn, method base.Method, res *base.Response) {
	if res.StatusCode != base.StatusOK || (method != base.Setup && method != base.Play) {
		return
	}
	if method == base.Play {
		if o, mc := tcpOutOf(c); o != nil {
			mc.afterWrite.Store(o)
		}
		return
	}
	ses := sessionOfConn(c)
	if ses == nil {
		return
	}
	ss := ses.ss
	if st := ss.State(); st != gortsplib.ServerSessionStateInitial && st != gortsplib.ServerSessionStatePrePlay {
		return // a publisher's SETUP
	}
	tr := ss.Transport()
	if tr == nil || tr.Profile != headers.TransportProfileAVP {
		return // SRTP is gortsplib's business
	}
	var th headers.Transport
	if err := th.Unmarshal(res.Header["Transport"]); err != nil {
		return
	}
	medias := ss.Medias()
	if len(medias) == 0 {
		return
	}
	m := medias[len(medias)-1]
	ssrcs := make(map[uint8]uint32)
	if st := ss.Stats(); st != nil {
		for f, fs := range st.Medias[m].Formats {
			ssrcs[f.PayloadType()] = fs.LocalSSRC
		}
	}
	for _, f := range m.Formats {
		if _, ok := ssrcs[f.PayloadType()]; !ok {
			return
		}
	}

	switch tr.Protocol {
	case gortsplib.ProtocolTCP:
		w, mc := mediaConnOf(c.NetConn())
		if mc == nil || th.InterleavedIDs == nil || th.InterleavedIDs[0] < 0 || th.InterleavedIDs[0] > 254 {
			return
		}
		o := ses.out.Load()
		if o == nil {
			o = newMediaOut(ses, &tcpSink{w: w, nc: mc, timeout: s.WriteTimeout}, &s.chunks, s.WriteQueueBytes, s.srPeriod, &s.wg)
			ses.out.Store(o)
			o.start()
		}
		if _, ok := o.sink.(*tcpSink); !ok {
			return
		}
		o.addMedia(m, th.InterleavedIDs[0], ssrcs)

	case gortsplib.ProtocolUDP:
		rtpConn, rtcpConn := s.udpConns(c)
		addr, ok := c.NetConn().RemoteAddr().(*net.TCPAddr)
		if rtpConn == nil || !ok || th.ClientPorts == nil {
			return
		}
		o := ses.out.Load()
		if o == nil {
			o = newMediaOut(ses, newUDPSink(rtpConn, rtcpConn, s.WriteTimeout), &s.chunks, s.WriteQueueBytes, s.srPeriod, &s.wg)
			o.open = true // gortsplib too sends UDP media as soon as PLAY is handled
			ses.out.Store(o)
			o.start()
		}
		sink, ok := o.sink.(*udpSink)
		if !ok {
			return
		}
		ch := len(sink.dst)
		if ch > 254 {
			return
		}
		sink.setDest(ch,
			&net.UDPAddr{IP: addr.IP, Zone: addr.Zone, Port: th.ClientPorts[0]},
			&net.UDPAddr{IP: addr.IP, Zone: addr.Zone, Port: th.ClientPorts[1]})
		o.addMedia(m, ch, ssrcs)
	}
}

// udpConns returns the server's unicast RTP and RTCP sockets of the
// listener c came through, when both were bound by listenPacket.
func (s *Server) udpConns(c *gortsplib.ServerConn) (*net.UDPConn, *net.UDPConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, mc := mediaConnOf(c.NetConn()); mc == nil {
		return nil, nil
	}
	return s.udpRTP, s.udpRTCP
}

// listenPacket binds gortsplib's UDP sockets and remembers the unicast RTP
// and RTCP ones, from which the sessions' own writers send.
func (s *Server) listenPacket(network, address string) (net.PacketConn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		s.mu.Lock()
		switch address {
		case s.RTPAddress:
			s.udpRTP = uc
		case s.RTCPAddress:
			s.udpRTCP = uc
		}
		s.mu.Unlock()
	}
	return pc, nil
}
