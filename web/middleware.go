package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// mediaKey marks a request as media (playlist, segment, part) in the gin
// context, so the access log writes it at Debug.
const mediaKey = "streamgate.media"

// markMedia marks the request as media for the access log.
func markMedia(c *gin.Context) { c.Set(mediaKey, true) }

// accessLog writes one record per request after it completes: Info for
// pages and API, Debug for media so HLS never floods the log, Warn for
// server errors outside media.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		path := c.Request.URL.Path
		c.Next()
		level := slog.LevelInfo
		status := c.Writer.Status()
		switch {
		case c.GetBool(mediaKey):
			level = slog.LevelDebug
		case status >= 500:
			level = slog.LevelWarn
		}
		ctx := c.Request.Context()
		if !log.Enabled(ctx, level) {
			return
		}
		// The request context is canceled once the client goes; the record
		// is still wanted.
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("path", path),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.ClientIP()),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
		}
		if err, ok := c.Get(authErrorKey); ok && err != nil {
			attrs = append(attrs, slog.Any("authError", err))
		}
		if q := c.Request.URL.RawQuery; q != "" {
			// LL-HLS blocking reloads differ only by their query.
			attrs = append(attrs, slog.String("query", redactQuery(q)))
		}
		log.LogAttrs(context.WithoutCancel(ctx), level, "http request", attrs...)
	}
}

// secretParams are query parameters whose values never reach the log.
var secretParams = []string{"token", "jwt", "access_token", "password"}

// redactQuery masks the values of secret parameters in a raw query.
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && slices.Contains(secretParams, strings.ToLower(k)) {
			parts[i] = key + "=***"
		}
	}
	return strings.Join(parts, "&")
}

// corsMethods and corsHeaders are what a preflight for media may ask for.
const (
	corsMethods = "GET, HEAD, OPTIONS"
	corsHeaders = "Authorization, Range, Content-Type"
)

// cors answers cross-origin requests for media and playlists per
// allowOrigins ("*" allows any origin). It reports false when it has
// answered the request itself (an OPTIONS preflight).
func cors(c *gin.Context, allowOrigins []string) bool {
	return corsWith(c, allowOrigins, mediaCORS)
}

// corsPolicy is what one kind of resource lets other origins do.
type corsPolicy struct {
	methods, headers, expose string
}

var (
	mediaCORS  = corsPolicy{methods: corsMethods, headers: corsHeaders, expose: "Content-Length, Content-Range"}
	webrtcCORS = corsPolicy{
		methods: "POST, PATCH, DELETE, OPTIONS",
		headers: "Authorization, Content-Type, If-Match",
		expose:  "Location, ETag, Link, Accept-Patch",
	}
)

// corsWith sets the CORS headers of policy and answers a preflight; it
// returns false when the request is fully answered.
func corsWith(c *gin.Context, allowOrigins []string, policy corsPolicy) bool {
	h := c.Writer.Header()
	origin := c.Request.Header.Get("Origin")
	allowed := ""
	switch {
	case slices.Contains(allowOrigins, "*"):
		allowed = "*"
	case origin != "" && slices.Contains(allowOrigins, origin):
		allowed = origin
		h.Add("Vary", "Origin")
	default:
		h.Add("Vary", "Origin")
	}
	if allowed != "" {
		h.Set("Access-Control-Allow-Origin", allowed)
		h.Set("Access-Control-Expose-Headers", policy.expose)
	}
	if c.Request.Method != http.MethodOptions {
		return true
	}
	if allowed == "" && origin != "" {
		c.String(http.StatusForbidden, "origin not allowed\n")
		return false
	}
	h.Set("Allow", policy.methods)
	h.Set("Access-Control-Allow-Methods", policy.methods)
	h.Set("Access-Control-Allow-Headers", policy.headers)
	h.Set("Access-Control-Max-Age", "86400")
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
	return false
}

// recoveryLog adapts gin's recovery output (one Write per panic) to the
// logger.
type recoveryLog struct{ log *slog.Logger }

// Write logs one recovered panic.
func (w recoveryLog) Write(p []byte) (int, error) {
	w.log.Error("panic serving http request", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}
