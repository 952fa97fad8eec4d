package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Kinds of SessionStatus.
const (
	SessionRTSPRead    = "rtsp-read"
	SessionRTSPPublish = "rtsp-publish"
	SessionWHEP        = "whep"
	SessionWHIP        = "whip"
)

// SessionStatus is one session as GET /api/v1/sessions shows it.
type SessionStatus struct {
	// ID is "rtsp-", "whep-" or "whip-" and the protocol's own session id.
	ID string `json:"id"`
	// Kind is rtsp-read, rtsp-publish, whep or whip.
	Kind string `json:"kind"`
	// Path is the path read or published; "" for an RTSP session that has
	// not chosen one yet.
	Path string `json:"path"`
	// Remote is the client's address.
	Remote string `json:"remote"`
	// Since is when the session was created.
	Since time.Time `json:"since"`
	// BytesReceived and BytesSent count media bytes where the protocol
	// keeps the count (RTSP); nil elsewhere.
	BytesReceived *uint64 `json:"bytesReceived,omitempty"`
	BytesSent     *uint64 `json:"bytesSent,omitempty"`
}

func listSessions(c *gin.Context, api API, _ string) {
	list := api.Sessions()
	if list == nil {
		list = []SessionStatus{}
	}
	c.JSON(http.StatusOK, gin.H{"items": list})
}

func kickSession(c *gin.Context, api API, id string) {
	if err := api.KickSession(id); err != nil {
		failWith(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
