package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"
)

// errRemote is why a non-loopback target is refused without -allow-remote.
var errRemote = errors.New("is not a loopback address (127.0.0.0/8 or ::1); pass -allow-remote to load a remote host")

// checkLoopbackURL refuses a URL whose host resolves to anything but loopback.
func checkLoopbackURL(ctx context.Context, raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	if allowRemote {
		return nil
	}
	if err := checkLoopbackHost(ctx, u.Hostname()); err != nil {
		return fmt.Errorf("URL %q: %w", raw, err)
	}
	return nil
}

// checkLoopbackHost resolves host and requires every address to be loopback.
func checkLoopbackHost(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("host %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("host %q resolves to nothing", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("host %q resolves to %s, which %w", host, a.IP, errRemote)
		}
	}
	return nil
}

// newDialer returns a dialer that, unless allowRemote, refuses at connect
// time any address that is not loopback: a second guard behind the URL check
// (DNS answers may change, redirects may point elsewhere).
func newDialer(allowRemote bool) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("dial %s: %w", address, errRemote)
			}
			return nil
		}
	}
	return d
}
