package web

import (
	"strconv"

	"github.com/gin-gonic/gin"
)

// Route classes of Metrics.ObserveHTTP: a small fixed set, so a metric
// labelled with them stays bounded whatever URLs clients send.
const (
	// ClassPage is the stream list, player pages, their assets and 404 pages.
	ClassPage = "page"
	// ClassMedia is HLS playlists, segments and parts.
	ClassMedia = "media"
	// ClassWebRTC is WHEP and WHIP.
	ClassWebRTC = "webrtc"
	// ClassAPI is everything under /api.
	ClassAPI = "api"
	// ClassOther is /metrics and the health probes.
	ClassOther = "other"
)

// Metrics receives one observation per HTTP request.
type Metrics interface {
	// ObserveHTTP counts one request of route class (one of the Class
	// constants) answered with status.
	ObserveHTTP(class string, status int)
}

// CountRequests is the middleware that reports every request it sees to m
// once it is answered.
func CountRequests(m Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		m.ObserveHTTP(routeClass(c), c.Writer.Status())
	}
}

// routeClass says which class an answered request belongs to.
func routeClass(c *gin.Context) string {
	switch c.FullPath() {
	case "/api", "/api/*rest":
		return ClassAPI
	case "/metrics", "/healthz", "/readyz":
		return ClassOther
	case "":
		// Answered by dispatch: parse as it did.
	default:
		return ClassPage
	}
	switch parseTarget(c.Request.URL.EscapedPath(), c.Request.URL.Path).kind {
	case targetMedia:
		return ClassMedia
	case targetWHEP, targetWHIP:
		return ClassWebRTC
	}
	return ClassPage
}

// StatusClass is the class label of an HTTP status: "2xx", "4xx"...
// Anything outside 100–599 is "other".
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
