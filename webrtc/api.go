package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	pwebrtc "github.com/pion/webrtc/v4"
)

// bindAttempts is how often a free port shared by UDP and TCP is looked for
// when Address has port 0.
const bindAttempts = 20

// muxes are the ICE sockets every peer shares.
type muxes struct {
	udp      ice.UDPMux
	tcp      ice.TCPMux
	udpAddr  net.Addr
	tcpAddr  net.Addr
	loopback bool // the explicit host is a loopback address: announce it
	ipv6     bool
}

func (m *muxes) close() {
	_ = m.tcp.Close()
	_ = m.udp.Close()
}

// listen binds the UDP mux and the ICE-TCP listener on the same port number.
func listen(address string, logger *slog.Logger) (*muxes, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("address %q: bad port", address)
	}
	var ip net.IP
	if host != "" {
		if ip = net.ParseIP(host); ip == nil {
			return nil, fmt.Errorf("address %q: the host must be an IP address", address)
		}
		if ip.IsUnspecified() {
			ip = nil
		}
	}
	lf := pionLoggerFactory{logger.With("component", "pion")}
	for attempt := 0; ; attempt++ {
		m, err := tryListen(ip, port, lf)
		if err == nil {
			return m, nil
		}
		// With port 0 the number UDP got may be taken for TCP: try another.
		if port != 0 || attempt >= bindAttempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
}

func tryListen(ip net.IP, port int, lf pionLoggerFactory) (*muxes, error) {
	m := &muxes{}
	if ip != nil {
		udpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, fmt.Errorf("ICE UDP: %w", err)
		}
		port = udpConn.LocalAddr().(*net.UDPAddr).Port
		tcpLn, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		if err != nil {
			udpConn.Close()
			return nil, fmt.Errorf("ICE TCP: %w", err)
		}
		m.udp = pwebrtc.NewICEUDPMux(lf.NewLogger("udp-mux"), udpConn)
		m.tcp = pwebrtc.NewICETCPMux(lf.NewLogger("tcp-mux"), tcpLn, 8)
		m.udpAddr, m.tcpAddr = udpConn.LocalAddr(), tcpLn.Addr()
		m.loopback = ip.IsLoopback()
		m.ipv6 = ip.To4() == nil
		return m, nil
	}
	if port == 0 {
		// Every interface must get the same number: find one free on all.
		probe, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return nil, fmt.Errorf("ICE UDP: %w", err)
		}
		port = probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
	}
	tcpLn, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("ICE TCP: %w", err)
	}
	udp, err := ice.NewMultiUDPMuxFromPort(port,
		ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
		ice.UDPMuxFromPortWithLogger(lf.NewLogger("udp-mux")))
	if err != nil {
		tcpLn.Close()
		return nil, fmt.Errorf("ICE UDP: %w", err)
	}
	m.udp = udp
	m.tcp = pwebrtc.NewICETCPMux(lf.NewLogger("tcp-mux"), tcpLn, 8)
	m.udpAddr = &net.UDPAddr{IP: net.IPv4zero, Port: port}
	m.tcpAddr = tcpLn.Addr()
	return m, nil
}

// buildAPI makes the pion API of the process's WHIP publishers.
func (s *Server) buildAPI(m *muxes) (*pwebrtc.API, error) {
	me := &pwebrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, fmt.Errorf("media engine: %w", err)
	}
	ir := &interceptor.Registry{}
	// NACK generator and responder, RTCP sender and receiver reports, TWCC
	// feedback for WHIP senders' bandwidth estimation.
	if err := pwebrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}
	return s.newAPI(m, me, ir)
}

// buildViewerAPI makes the pion API of the WHEP viewers, with only the
// interceptors a sender needs, since each runs for every packet of every
// viewer: the NACK responder, which keeps references to the packets sent
// rather than copies (payloads are immutable and owned by their frame,
// headers are not reused before the responder forgets them: outTrack),
// and RTCP reports. No TWCC (streamgate does no congestion control for
// viewers, so the browser's feedback would go unused) and no statistics
// interceptor (nothing reads GetStats).
func (s *Server) buildViewerAPI(m *muxes) (*pwebrtc.API, error) {
	me := &pwebrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, fmt.Errorf("media engine: %w", err)
	}
	ir := &interceptor.Registry{}
	responder, err := nack.NewResponderInterceptor(nack.DisableCopy(), nack.ResponderSize(nackHistory))
	if err != nil {
		return nil, fmt.Errorf("NACK responder: %w", err)
	}
	ir.Add(responder)
	if err := pwebrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("RTCP reports: %w", err)
	}
	return s.newAPI(m, me, ir)
}

func (s *Server) newAPI(m *muxes, me *pwebrtc.MediaEngine, ir *interceptor.Registry) (*pwebrtc.API, error) {

	se := pwebrtc.SettingEngine{LoggerFactory: pionLoggerFactory{s.logger().With("component", "pion")}}
	se.SetICEUDPMux(m.udp)
	se.SetICETCPMux(m.tcp)
	if m.ipv6 {
		se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP6, pwebrtc.NetworkTypeTCP6})
	} else {
		se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4, pwebrtc.NetworkTypeTCP4})
	}
	se.SetIncludeLoopbackCandidate(m.loopback)
	if s.DisableMDNS {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	} else {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	}
	if len(s.AdditionalHosts) > 0 {
		for _, h := range s.AdditionalHosts {
			if net.ParseIP(h) == nil {
				return nil, fmt.Errorf("additional host %q is not an IP address", h)
			}
		}
		err := se.SetICEAddressRewriteRules(pwebrtc.ICEAddressRewriteRule{
			External:        s.AdditionalHosts,
			AsCandidateType: pwebrtc.ICECandidateTypeHost,
			Mode:            pwebrtc.ICEAddressRewriteAppend,
		})
		if err != nil {
			return nil, fmt.Errorf("additional hosts: %w", err)
		}
	}
	return pwebrtc.NewAPI(
		pwebrtc.WithMediaEngine(me),
		pwebrtc.WithInterceptorRegistry(ir),
		pwebrtc.WithSettingEngine(se),
	), nil
}
