package ingest

import (
	"net/url"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// maskURL returns raw with its credentials replaced, for logs and status.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// unparsable: drop everything up to the last '@' of the authority, if any
		rest, ok := strings.CutPrefix(raw, "rtsp://")
		scheme := "rtsp://"
		if !ok {
			rest, ok = strings.CutPrefix(raw, "rtsps://")
			scheme = "rtsps://"
		}
		if !ok {
			return "(invalid URL)"
		}
		host, path, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = "***@" + host[i+1:]
		}
		if path != "" {
			return scheme + host + "/" + path
		}
		return scheme + host
	}
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://***@" + rest
}

// urlSecrets lists the credential strings of u, in the forms they may appear in
// error messages, so that redact can remove them.
func urlSecrets(u *base.URL) []string {
	if u.User == nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 3 { // shorter strings would mangle unrelated text
			out = append(out, s)
		}
	}
	add(u.User.String())
	if pass, ok := u.User.Password(); ok {
		add(pass)
		add(url.QueryEscape(pass))
		add(url.PathEscape(pass))
	}
	return out
}

// redact removes every secret from msg.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	return msg
}
