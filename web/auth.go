package web

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/streamgate/streamgate/auth"
)

// Authorizer decides who may read, publish, use the API and scrape
// metrics; the gateway passes its *auth.Authorizer. The web layer uses the
// auth package's Request and Decision types directly: that package is
// protocol-neutral and imports nothing of ours, so no mirror is needed.
type Authorizer interface {
	Authorize(ctx context.Context, req auth.Request) (auth.Decision, *auth.Identity, error)
}

// What an HTTP request needs (routes.go has the routing table):
//
//	/{path}/, /{path}, /{path}/{file}    read on path (player page, redirect, HLS)
//	/{path}/whep[/{session}]             read on path
//	/{path}/whip[/{session}]             publish on path
//	/{path}/recordings/{file}            read on path
//	/api/v1/recordings/{path}            read on path
//	/api, /api/*                         api
//	/metrics                             metrics
//	/, /healthz, /readyz, /assets/*      nothing
//
// Credentials come from "Authorization: Basic", "Authorization: Bearer
// <jwt>" or "?token=<jwt>" (for players that cannot set headers). CORS
// preflights are answered before the check: browsers send them without
// credentials.

// failFunc writes an error response (plain text for pages and media, JSON
// for the API).
type failFunc func(c *gin.Context, status int, msg string)

func textFail(c *gin.Context, status int, msg string) {
	c.String(status, "%d %s\n", status, msg)
	c.Abort()
}

// authorizeRequest checks the request's credentials for action on path
// (already parsed and cleaned by the caller; "" for api and metrics). A
// nil Authorizer allows everything. When the request is refused it has
// been answered (401 with challenges, 403, or 429 with Retry-After) and
// authorizeRequest returns false.
func authorizeRequest(c *gin.Context, a Authorizer, action auth.Action, path string, fail failFunc) bool {
	if a == nil {
		return true
	}
	ar := auth.Request{Action: action, Path: path, IP: net.ParseIP(c.ClientIP())}
	d := auth.Unauthorized
	err := requestCredentials(c.Request, &ar)
	if err == nil {
		d, _, err = a.Authorize(c.Request.Context(), ar)
	}
	if d == auth.Allow {
		return true
	}
	c.Set(authErrorKey, err)
	switch d {
	case auth.Forbidden:
		fail(c, http.StatusForbidden, "forbidden: not permitted")
	case auth.TooManyFailures:
		secs := 1
		var tm *auth.TooManyFailuresError
		if errors.As(err, &tm) {
			secs = max(1, int(math.Ceil(tm.RetryAfter.Seconds())))
		}
		c.Header("Retry-After", strconv.Itoa(secs))
		fail(c, http.StatusTooManyRequests, "too many failed logins from this address: retry later")
	default:
		h := c.Writer.Header()
		h.Add("WWW-Authenticate", `Basic realm="`+auth.Realm+`", charset="UTF-8"`)
		h.Add("WWW-Authenticate", `Bearer realm="`+auth.Realm+`"`)
		fail(c, http.StatusUnauthorized, "unauthorized: log in, or give a token")
	}
	return false
}

// authErrorKey holds why a request was refused, for the access log.
const authErrorKey = "streamgate.authError"

// requestCredentials fills ar from the Authorization header (Basic or
// Bearer) and the token query parameter. Malformed or conflicting
// credentials are an error, answered with 401.
func requestCredentials(r *http.Request, ar *auth.Request) error {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
	case 1:
		scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
		switch {
		case strings.EqualFold(scheme, "Basic"):
			user, pass, ok := r.BasicAuth()
			if !ok {
				return errors.New("malformed Basic credentials")
			}
			ar.User, ar.Pass = user, pass
		case strings.EqualFold(scheme, "Bearer"):
			ar.Token = strings.TrimSpace(rest)
			if ar.Token == "" {
				return errors.New("empty Bearer token")
			}
		default:
			return errors.New("unsupported authorization scheme")
		}
	default:
		return errors.New("more than one Authorization header")
	}
	if q, ok := r.URL.Query()["token"]; ok {
		switch {
		case len(q) != 1 || q[0] == "":
			return errors.New("token query parameter given twice or empty")
		case ar.Token != "" && ar.Token != q[0]:
			return errors.New("different tokens in the Authorization header and the query")
		}
		ar.Token = q[0]
	}
	return nil
}

// requireAction is a handler that lets a request through only when it may
// do action (api or metrics).
func requireAction(a Authorizer, action auth.Action, fail failFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !authorizeRequest(c, a, action, "", fail) {
			c.Abort()
		}
	}
}

// readable filters the stream list down to the paths the request may
// read, so that the open list page does not name streams a visitor cannot
// watch. Credentials that fail are judged once: the remaining paths are
// judged as anonymous, so a wrong login costs one failure, not one per path.
func (s *Server) readable(c *gin.Context, paths []PathInfo) []PathInfo {
	if s.Auth == nil {
		return paths
	}
	ar := auth.Request{Action: auth.ActionRead, IP: net.ParseIP(c.ClientIP())}
	anonymous := func() { ar.User, ar.Pass, ar.Token = "", "", "" }
	if err := requestCredentials(c.Request, &ar); err != nil {
		anonymous()
	}
	out := make([]PathInfo, 0, len(paths))
	for _, p := range paths {
		ar.Path = p.Name
		d, _, _ := s.Auth.Authorize(c.Request.Context(), ar)
		if (d == auth.Unauthorized || d == auth.TooManyFailures) && (ar.User != "" || ar.Pass != "" || ar.Token != "") {
			anonymous()
			d, _, _ = s.Auth.Authorize(c.Request.Context(), ar)
		}
		if d == auth.Allow {
			out = append(out, p)
		}
	}
	return out
}
