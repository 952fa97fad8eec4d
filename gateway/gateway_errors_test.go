package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
)

// A missing RTSPS certificate is caught by validation, with the file, line
// and key named; one that exists but is no certificate, or one set after
// validation, makes Start fail with the key and the file named.
func TestGatewayCertificateErrors(t *testing.T) {
	yml := e2eConfigYAML(e2eFreeUDPPair(t), `  rtspsAddress: "127.0.0.1:0"
  serverCert: testdata/config/missing.crt
  serverKey: testdata/config/server.key
`)
	_, err := gateway.ParseConfig("test.yml", []byte(yml), nil)
	require.Error(t, err)
	var ce *gateway.ConfigError
	require.True(t, errors.As(err, &ce), "%T: %v", err, err)
	line := 1 + slices.IndexFunc(strings.Split(yml, "\n"), func(l string) bool { return strings.Contains(l, "serverCert:") })
	require.Equal(t, "rtsp.serverCert", ce.Key)
	require.Equal(t, line, ce.Line)
	require.Contains(t, err.Error(), fmt.Sprintf("test.yml:%d: rtsp.serverCert:", line))
	require.Contains(t, err.Error(), "missing.crt")

	t.Run("not a certificate", func(t *testing.T) {
		// The files exist (validation passes) but hold no PEM data.
		requireStartFails(t, e2eConfigYAML(e2eFreeUDPPair(t), `  rtspsAddress: "127.0.0.1:0"
  serverCert: testdata/config/server.crt
  serverKey: testdata/config/server.key
`), nil, "rtsp.serverCert", "testdata/config/server.crt")
	})
	t.Run("removed after validation", func(t *testing.T) {
		requireStartFails(t, e2eConfigYAML(e2eFreeUDPPair(t), `  rtspsAddress: "127.0.0.1:0"`), func(c *gateway.Config) {
			c.RTSP.ServerCert, c.RTSP.ServerKey = "testdata/config/missing.crt", "testdata/config/server.key"
		}, "rtsp.serverCert", "missing.crt")
	})
}

// RTSPS serves the demo with a certificate on its own listener.
func TestGatewayRTSPS(t *testing.T) {
	cert, key := writeTestCert(t)
	g := startGateway(t, fmt.Sprintf(`  rtspsAddress: "127.0.0.1:0"
  serverCert: %q
  serverKey: %q
`, cert, key))
	addr := g.RTSPSAddr()
	require.NotNil(t, addr)
	require.NotEqual(t, g.RTSPAddr().String(), addr.String())
	r := mustReader(t, "rtsps://"+addr.String()+"/demo", gortsplib.ProtocolTCP)
	r.waitPackets(t, e2eCtx(t), 5)
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "streamgate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// A listener that cannot be bound makes Start fail with the address in the
// message, and leaves nothing running: Close afterwards is a no-op.
func TestGatewayPortTaken(t *testing.T) {
	t.Run("rtsp address", func(t *testing.T) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		yml := strings.Replace(e2eConfigYAML(e2eFreeUDPPair(t), ""), `address: "127.0.0.1:0"
  rtpAddress`, `address: `+strconv.Quote(l.Addr().String())+`
  rtpAddress`, 1)
		require.Contains(t, yml, l.Addr().String())
		requireStartFails(t, yml, nil, l.Addr().String())
	})
	t.Run("rtp address", func(t *testing.T) {
		rtp := e2eFreeUDPPair(t)
		pc, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", rtp))
		require.NoError(t, err)
		defer pc.Close()
		requireStartFails(t, e2eConfigYAML(rtp, ""), nil, strconv.Itoa(rtp))
	})
}

// requireStartFails parses yml, lets change alter the config (when not
// nil) and checks that Start fails with an error containing every want, and
// that Close after the failed Start is harmless.
func requireStartFails(t *testing.T, yml string, change func(*gateway.Config), want ...string) {
	t.Helper()
	conf, err := gateway.ParseConfig("test.yml", []byte(yml), nil)
	require.NoError(t, err)
	if change != nil {
		change(conf)
	}
	g := &gateway.Gateway{Config: conf, Logger: discardLogger()}
	err = g.Start()
	require.Error(t, err)
	t.Logf("Start: %v", err)
	for _, w := range want {
		require.Contains(t, err.Error(), w)
	}
	require.NotPanics(t, g.Close, "Close after a failed Start")
}
