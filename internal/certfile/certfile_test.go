package certfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writePair writes a self-signed certificate for cn and its key.
func writePair(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

func commonName(t *testing.T, c *tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	return leaf.Subject.CommonName
}

func TestReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "first.test")
	clock := time.Unix(1000, 0)
	var reloads []error
	l := &Loader{CertFile: certFile, KeyFile: keyFile, OnReload: func(err error) { reloads = append(reloads, err) }}
	l.now = func() time.Time { return clock }
	require.NoError(t, l.Load())

	c, err := l.GetCertificate(nil)
	require.NoError(t, err)
	require.Equal(t, "first.test", commonName(t, c))

	// A renewed pair on disk is served once the check interval passed.
	writePair(t, dir, "second.test")
	later := time.Unix(2000, 0)
	require.NoError(t, os.Chtimes(certFile, later, later))
	c, _ = l.GetCertificate(nil)
	require.Equal(t, "first.test", commonName(t, c), "no look at the files before the interval")
	clock = clock.Add(checkEvery)
	c, _ = l.GetCertificate(nil)
	require.Equal(t, "second.test", commonName(t, c))
	require.Equal(t, []error{nil}, reloads)

	// A broken renewal keeps the working certificate and is reported.
	require.NoError(t, os.WriteFile(certFile, []byte("not a certificate"), 0o600))
	clock = clock.Add(checkEvery)
	c, err = l.GetCertificate(nil)
	require.NoError(t, err)
	require.Equal(t, "second.test", commonName(t, c))
	require.Len(t, reloads, 2)
	require.Error(t, reloads[1])
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "x.test")
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantSubstr string
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), keyFile, "nope.pem"},
		{"missing key", certFile, filepath.Join(dir, "nokey.pem"), "nokey.pem"},
		{"key is not a key", certFile, certFile, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Loader{CertFile: tc.cert, KeyFile: tc.key}).Load()
			require.ErrorContains(t, err, tc.wantSubstr)
		})
	}
}
