// Package auth decides who may read, publish, use the API or scrape metrics,
// for every protocol of the gateway alike (RTSP, HLS, WebRTC, REST, /metrics).
//
// The protocol layers turn what the client sent (HTTP Basic, a Bearer or
// ?token= JWT, RTSP Basic or Digest) into a Request and map the Decision
// back to their own status codes. This package imports no protocol library.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Realm is the authentication realm of every challenge the gateway sends,
// and the realm baked into DigestHA1 values.
const Realm = "streamgate"

// Action is what a client wants to do.
type Action string

// Actions a Permission can grant.
const (
	ActionRead    Action = "read"    // watch a path (RTSP PLAY, HLS, WHEP)
	ActionPublish Action = "publish" // feed a path (RTSP ANNOUNCE/RECORD, WHIP)
	ActionAPI     Action = "api"     // the REST API
	ActionMetrics Action = "metrics" // the Prometheus endpoint
)

// valid reports whether a is one of the known actions.
func (a Action) valid() bool {
	switch a {
	case ActionRead, ActionPublish, ActionAPI, ActionMetrics:
		return true
	}
	return false
}

// Decision is the outcome of Authorize. The zero value is Unauthorized, so
// a forgotten assignment can never let a request through.
type Decision int

// Decisions, each with the HTTP status a web layer answers with.
const (
	Unauthorized    Decision = iota // 401: no or bad credentials; send a challenge
	Allow                           // go ahead
	Forbidden                       // 403: authenticated but not permitted, address not allowed, or a bad path
	TooManyFailures                 // 429: this address failed too often; see TooManyFailuresError.RetryAfter
)

// String returns the decision's name.
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case TooManyFailures:
		return "too many failures"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// HTTPStatus returns the HTTP status code for the decision (200 for Allow).
func (d Decision) HTTPStatus() int {
	switch d {
	case Allow:
		return http.StatusOK
	case Forbidden:
		return http.StatusForbidden
	case TooManyFailures:
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

// Reasons returned next to a decision other than Allow. They are for logs
// and tests; callers branch on the Decision.
var (
	ErrNoCredentials      = errors.New("no credentials given")
	ErrBadCredentials     = errors.New("wrong user name, password or token")
	ErrAmbiguous          = errors.New("more than one kind of credentials given")
	ErrNotPermitted       = errors.New("not permitted")
	ErrAddressNotAllowed  = errors.New("client address not allowed")
	ErrBadPath            = errors.New("path name not acceptable")
	ErrBadAction          = errors.New("unknown action")
	ErrDigestNotAvailable = errors.New("user has no digestHA1: use RTSP Basic")
	ErrJWTDisabled        = errors.New("token given but no JWKS URL is configured")
	ErrTooManyFailures    = errors.New("too many failed attempts from this address")
)

// TooManyFailuresError comes with the TooManyFailures decision.
type TooManyFailuresError struct {
	RetryAfter time.Duration // when the address may try again; for a Retry-After header
}

// Error describes the refusal.
func (e *TooManyFailuresError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrTooManyFailures, e.RetryAfter.Round(time.Second))
}

// Unwrap lets errors.Is match ErrTooManyFailures.
func (e *TooManyFailuresError) Unwrap() error { return ErrTooManyFailures }

// Identity is who a request was authenticated as. Authorize returns nil
// for requests allowed anonymously.
type Identity struct {
	Name    string // the user name, or the JWT "sub" claim
	FromJWT bool   // authenticated by a token rather than a password
}
