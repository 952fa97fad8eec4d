package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrFingerprintMismatch means the rtsps server presented a certificate whose
// SHA-256 fingerprint is not the configured one.
var ErrFingerprintMismatch = errors.New("rtsps server certificate fingerprint mismatch")

// tlsConfigFor returns the TLS configuration for rtsps sources: nil (system roots)
// by default, a pinned certificate when fingerprint is set, or no verification.
func tlsConfigFor(fingerprint string, skipVerify bool) (*tls.Config, error) {
	if fingerprint == "" {
		if skipVerify {
			return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // asked for by the operator
		}
		return nil, nil
	}

	want, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fingerprint), ":", ""))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("invalid fingerprint: want %d hex bytes of SHA-256, colons allowed", sha256.Size)
	}

	return &tls.Config{
		// the chain is not verified: the pinned fingerprint below replaces it,
		// which is how self-signed camera certificates are trusted.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate presented", ErrFingerprintMismatch)
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("%w: got %s, want %s", ErrFingerprintMismatch,
					hex.EncodeToString(got[:]), hex.EncodeToString(want))
			}
			return nil
		},
	}, nil
}
