// Package certfile serves a TLS certificate from PEM files and picks up new
// files when they change on disk (a renewed certificate), without a restart.
package certfile

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often the files are looked at: at most one stat
// pair per interval, however many handshakes there are.
const checkEvery = time.Second

// Loader loads a certificate and its key, and reloads them when either
// file's modification time or size changes. A reload that fails keeps the
// previous certificate (a half-written renewal must not take TLS down).
type Loader struct {
	CertFile string
	KeyFile  string
	// OnReload, if set, is told about every reload and failed reload.
	OnReload func(err error)

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp stamp
	keyStamp  stamp
	checked   time.Time
	now       func() time.Time
}

type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(name string) (stamp, error) {
	st, err := os.Stat(name)
	if err != nil {
		return stamp{}, err
	}
	return stamp{st.ModTime(), st.Size()}, nil
}

// Load reads the files once; it fails when they do not hold a valid pair.
func (l *Loader) Load() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now == nil {
		l.now = time.Now
	}
	return l.loadLocked()
}

func (l *Loader) loadLocked() error {
	cs, err := stampOf(l.CertFile)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", l.CertFile, err)
	}
	ks, err := stampOf(l.KeyFile)
	if err != nil {
		return fmt.Errorf("key %s: %w", l.KeyFile, err)
	}
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return fmt.Errorf("certificate %s and key %s: %w", l.CertFile, l.KeyFile, err)
	}
	l.cert, l.certStamp, l.keyStamp = &cert, cs, ks
	l.checked = l.now()
	return nil
}

// GetCertificate is a tls.Config.GetCertificate: it returns the current
// certificate, reloading it first when the files changed.
func (l *Loader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now == nil {
		l.now = time.Now
	}
	if l.cert == nil {
		if err := l.loadLocked(); err != nil {
			return nil, err
		}
		return l.cert, nil
	}
	if now := l.now(); now.Sub(l.checked) >= checkEvery {
		l.checked = now
		cs, err1 := stampOf(l.CertFile)
		ks, err2 := stampOf(l.KeyFile)
		if err1 == nil && err2 == nil && (cs != l.certStamp || ks != l.keyStamp) {
			err := l.loadLocked()
			if l.OnReload != nil {
				l.OnReload(err)
			}
		}
	}
	return l.cert, nil
}

// TLSConfig returns a server TLS config that serves the loader's
// certificate (net/http adds HTTP/2 to it by itself).
func (l *Loader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.GetCertificate}
}
