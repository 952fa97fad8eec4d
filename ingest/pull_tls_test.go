package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a TLS certificate for 127.0.0.1 and its SHA-256 fingerprint
// written the way browsers show it (upper case, colon separated).
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test camera"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	var parts []string
	for _, b := range sum {
		parts = append(parts, strings.ToUpper(hex.EncodeToString([]byte{b})))
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.Join(parts, ":")
}

func TestPullRTSPS(t *testing.T) {
	checkLeaks(t)
	cert, fingerprint := selfSigned(t)
	other := sha256.Sum256([]byte("another certificate"))
	tests := []struct {
		name        string
		fingerprint string
		skipVerify  bool
		protocol    string
		wantErr     string // empty: the source must come up
	}{
		{name: "fingerprint match", fingerprint: fingerprint},
		{name: "fingerprint match without colons", fingerprint: strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))},
		{name: "fingerprint match over UDP (SRTP)", fingerprint: fingerprint, protocol: "udp"},
		{name: "fingerprint mismatch", fingerprint: hex.EncodeToString(other[:]), wantErr: "fingerprint mismatch"},
		{name: "skip verify", skipVerify: true},
		{name: "self-signed without fingerprint fails", wantErr: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 15*time.Second)
			_, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
			cam := newTestCam(t, camOptions{
				desc: desc, // RTSPS: the server describes its own SRTP keys
				tls:  &tls.Config{Certificates: []tls.Certificate{cert}},
				udp:  tc.protocol == "udp",
			})
			cam.startFeeding()
			protocol := tc.protocol
			if protocol == "" {
				protocol = "tcp"
			}
			h := startPull(t, &Pull{URL: cam.url(""), Protocol: protocol, Fingerprint: tc.fingerprint, SkipVerify: tc.skipVerify})

			if tc.wantErr == "" {
				w := h.target.nextPublish(ctx, t)
				checkPayloads(t, w.desc, w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 10)))
				return
			}
			s := waitStatus(ctx, t, h.p, stateIs(StateWaiting))
			if !strings.Contains(s.LastError, tc.wantErr) {
				t.Fatalf("LastError %q, want it to mention %q", s.LastError, tc.wantErr)
			}
			if !strings.Contains(h.logs.String(), tc.wantErr) {
				t.Fatalf("%q not logged:\n%s", tc.wantErr, h.logs)
			}
		})
	}
}
