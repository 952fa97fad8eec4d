package web

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/streamgate/streamgate/auth"
)

// mountPprof serves Go's runtime profiles under /debug/pprof/ for those
// with the api permission: the index, cmdline, profile (CPU), symbol,
// trace, and every named profile (heap, goroutine, allocs, block, mutex,
// threadcreate).
func mountPprof(r *gin.Engine, a Authorizer) {
	guard := requireAction(a, auth.ActionAPI, textFail)
	serve := func(c *gin.Context) {
		switch strings.TrimPrefix(c.Param("rest"), "/") {
		case "cmdline":
			pprof.Cmdline(c.Writer, c.Request)
		case "profile":
			pprof.Profile(c.Writer, c.Request)
		case "symbol":
			pprof.Symbol(c.Writer, c.Request)
		case "trace":
			pprof.Trace(c.Writer, c.Request)
		default:
			// Index serves the named profiles from the path's last segment.
			pprof.Index(c.Writer, c.Request)
		}
	}
	r.GET("/debug/pprof", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/debug/pprof/") })
	r.GET("/debug/pprof/*rest", guard, serve)
	r.POST("/debug/pprof/*rest", guard, serve) // pprof's symbol lookup posts
}
