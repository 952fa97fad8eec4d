package rtspserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// mediaListener hands gortsplib connections it can tell apart later, so a
// session's own media writer can find its connection and learn when the
// PLAY response has been written.
type mediaListener struct {
	net.Listener
}

func (l mediaListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &mediaConn{Conn: c}, nil
}

// mediaConn is an accepted RTSP connection (under TLS for RTSPS).
type mediaConn struct {
	net.Conn
	// afterWrite is opened by the next write: the PLAY response, which
	// gortsplib writes right after the handler's OnResponse.
	afterWrite atomic.Pointer[mediaOut]
}

func (c *mediaConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if o := c.afterWrite.Swap(nil); o != nil {
		o.setOpen(true)
	}
	return n, err
}

// mediaConnOf finds our connection under a gortsplib connection: the
// writer to send media through (the TLS layer for RTSPS) and the raw one.
func mediaConnOf(nc net.Conn) (io.Writer, *mediaConn) {
	switch c := nc.(type) {
	case *mediaConn:
		return c.Conn, c
	case *tls.Conn:
		if mc, ok := c.NetConn().(*mediaConn); ok {
			return c, mc
		}
	}
	return nil, nil
}

// tcpSink writes chunks to an interleaved session's connection with one
// vectored write (writev on a TCP connection; one Write per chunk on a
// tls.Conn, which has no vectored write, each still whole frames).
type tcpSink struct {
	w       io.Writer
	nc      net.Conn // for the deadline
	timeout time.Duration
	vec     [][]byte
	bufs    net.Buffers
}

func (s *tcpSink) write(batch []*chunk) error {
	s.vec = s.vec[:0]
	for _, c := range batch {
		s.vec = append(s.vec, c.b)
	}
	s.bufs = s.vec
	s.nc.SetWriteDeadline(time.Now().Add(s.timeout)) //nolint:errcheck // the write reports it
	_, err := s.bufs.WriteTo(s.w)
	clear(s.vec)
	return err
}

// udpSink sends the frames of a UDP session from the server's RTP and
// RTCP sockets, so the client sees them come from the ports announced in
// SETUP. On an IPv4 socket it sends each batch with sendmmsg; otherwise
// (a dual-stack socket, where x/net would pick the wrong address family)
// with one write per packet, still from the session's own goroutine and
// bounded queue.
type udpSink struct {
	rtp, rtcp   *net.UDPConn
	brtp, brtcp *ipv4.PacketConn // nil: no sendmmsg
	timeout     time.Duration
	// dst holds, by channel, where that channel's packets go.
	dst  []*net.UDPAddr
	msgs []ipv4.Message
	n    int // messages in msgs being filled
	cur  *net.UDPConn
}

func newUDPSink(rtpConn, rtcpConn *net.UDPConn, timeout time.Duration) *udpSink {
	s := &udpSink{rtp: rtpConn, rtcp: rtcpConn, timeout: timeout}
	if ipv4Socket(rtpConn) && ipv4Socket(rtcpConn) {
		s.brtp, s.brtcp = ipv4.NewPacketConn(rtpConn), ipv4.NewPacketConn(rtcpConn)
	}
	return s
}

// ipv4Socket says whether c is an AF_INET socket (bound to an IPv4
// address), the only kind x/net's WriteBatch addresses right.
func ipv4Socket(c *net.UDPConn) bool {
	a, ok := c.LocalAddr().(*net.UDPAddr)
	return ok && a.IP.To4() != nil
}

// setDest records where channel ch (RTP) and ch+1 (RTCP) go.
func (s *udpSink) setDest(ch int, rtpAddr, rtcpAddr *net.UDPAddr) {
	for len(s.dst) < ch+2 {
		s.dst = append(s.dst, nil)
	}
	s.dst[ch], s.dst[ch+1] = rtpAddr, rtcpAddr
}

var errBadFrame = errors.New("malformed queued frame")

func (s *udpSink) write(batch []*chunk) error {
	deadline := time.Now().Add(s.timeout)
	s.rtp.SetWriteDeadline(deadline)  //nolint:errcheck // the write reports it
	s.rtcp.SetWriteDeadline(deadline) //nolint:errcheck // as above
	s.n, s.cur = 0, nil
	for _, c := range batch {
		b := c.b
		for len(b) > 0 {
			if len(b) < 4 {
				return errBadFrame
			}
			ch, size := int(b[1]), int(b[2])<<8|int(b[3])
			if len(b) < 4+size || ch >= len(s.dst) || s.dst[ch] == nil {
				return errBadFrame
			}
			if err := s.add(ch, b[4:4+size]); err != nil {
				return err
			}
			b = b[4+size:]
		}
	}
	return s.flush()
}

func (s *udpSink) add(ch int, pkt []byte) error {
	conn := s.rtp
	if ch&1 == 1 {
		conn = s.rtcp
	}
	if s.brtp == nil {
		_, err := conn.WriteToUDP(pkt, s.dst[ch])
		return ignoreRefused(err)
	}
	if conn != s.cur {
		if err := s.flush(); err != nil {
			return err
		}
		s.cur = conn
	}
	if s.n == len(s.msgs) {
		s.msgs = append(s.msgs, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	m := &s.msgs[s.n]
	m.Buffers[0] = pkt
	m.Addr = s.dst[ch]
	s.n++
	return nil
}

func (s *udpSink) flush() error {
	if s.n == 0 {
		return nil
	}
	pc := s.brtp
	if s.cur == s.rtcp {
		pc = s.brtcp
	}
	msgs := s.msgs[:s.n]
	for len(msgs) > 0 {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			if ignoreRefused(err) == nil {
				n = max(n, 1) // skip the packet the kernel refused
			} else {
				return fmt.Errorf("sendmmsg: %w", err)
			}
		}
		msgs = msgs[n:]
	}
	for i := range s.msgs[:s.n] {
		s.msgs[i].Buffers[0] = nil
		s.msgs[i].Addr = nil
	}
	s.n = 0
	return nil
}

// ignoreRefused drops the ICMP port-unreachable errors a UDP socket reports
// for an earlier datagram (a reader that closed its socket is noticed by
// the session timeout), and a full interface queue, which loses the
// datagram like the network would.
func ignoreRefused(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOBUFS) {
		return nil // ENOBUFS: the interface queue is full; a lost datagram
	}
	return err
}
