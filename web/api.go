package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamgate/streamgate/auth"
)

// API is what the REST API needs to know about paths; the gateway
// implements it.
type API interface {
	// Paths lists the configured paths (in file order) and the live
	// instances of pattern paths.
	Paths() []PathStatus
	// Path describes one path by its exact (case-sensitive) name; pattern
	// instances exist only while in use.
	Path(name string) (PathStatus, bool)
	// Sessions lists the RTSP sessions and the WebRTC viewers and
	// publishers (HLS viewers are stateless HTTP clients: not listed).
	Sessions() []SessionStatus
	// KickSession closes one session; ErrNotFound when id is unknown.
	KickSession(id string) error
	// AddPath adds a configured path from the path keys in body (as in the
	// YAML path section); ErrConflict when it exists, ErrInvalid when the
	// keys do not make a valid path.
	AddPath(name string, body map[string]any) error
	// PatchPath sets the keys in body on a configured path; ErrNotFound
	// when there is none, ErrInvalid as for AddPath.
	PatchPath(name string, body map[string]any) error
	// DeletePath removes a configured path; ErrNotFound when there is none.
	DeletePath(name string) error
	// ReloadConfig reads the config file again and applies it; ErrConflict
	// when there is no file, ErrInvalid when it does not load.
	ReloadConfig() error
}

// Errors the API methods wrap so that the handlers answer with the right
// status; the message shown is the whole error text.
var (
	// ErrNotFound answers 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict answers 409.
	ErrConflict = errors.New("conflict")
	// ErrInvalid answers 400.
	ErrInvalid = errors.New("invalid")
)

// PathStatus is one path as GET /api/v1/paths shows it. docs/openapi.yaml
// describes the same shape; a test keeps the two in step.
type PathStatus struct {
	// Name is the path name, may contain '/'.
	Name string `json:"name"`
	// State is idle, waiting, connecting, ready or failed.
	State string `json:"state"`
	// Since is when State last changed, when known.
	Since *time.Time `json:"since,omitempty"`
	// LastError is why the source last failed, credentials removed; set
	// while State is failed.
	LastError string `json:"lastError,omitempty"`
	// NextRetry is when a failed source tries again; set while State is failed.
	NextRetry *time.Time `json:"nextRetry,omitempty"`
	// Source says where the path's media comes from.
	Source SourceStatus `json:"source"`
	// OnDemand is true when the source runs only while someone reads.
	OnDemand bool `json:"onDemand"`
	// Readers counts the readers of every kind (RTSP sessions, the HLS
	// muxer, WebRTC viewers).
	Readers int `json:"readers"`
	// ReadersByProtocol splits the readers by protocol, as the metric
	// streamgate_path_readers_by_protocol does.
	ReadersByProtocol ReadersByProtocol `json:"readersByProtocol"`
	// BytesSent counts the bytes sent to the path's readers by protocol,
	// as the metric streamgate_path_bytes_sent_total does.
	BytesSent BytesSentByProtocol `json:"bytesSent"`
	// ReaderDrops counts the units the current stream's readers lost
	// because they fell behind; nil when the hub does not say.
	ReaderDrops *uint64 `json:"readerDrops,omitempty"`
	// BytesReceived and PacketsReceived count the RTP payload bytes and the
	// packets the current stream took from its sources; nil without a stream.
	BytesReceived   *uint64 `json:"bytesReceived,omitempty"`
	PacketsReceived *uint64 `json:"packetsReceived,omitempty"`
	// PacketsLost counts the RTP packets the source lost on the way in:
	// over every session of a pull, over the current RTSP publishers of a
	// publisher path; nil for other sources.
	PacketsLost *uint64 `json:"packetsLost,omitempty"`
	// Bitrate is the bits per second (RTP payload) the stream received
	// over the last summary interval; nil until one was measured.
	Bitrate *float64 `json:"bitrate,omitempty"`
	// KeyframeInterval is the time between the last two keyframes of the
	// stream's video, in seconds; nil until two were seen.
	KeyframeInterval *float64 `json:"keyframeInterval,omitempty"`
	// LastPacketAge is how long ago the stream last received a packet, in
	// seconds; nil before the first.
	LastPacketAge *float64 `json:"lastPacketAge,omitempty"`
	// Tracks are the tracks of the current stream; empty (not null) when
	// there is none.
	Tracks []TrackStatus `json:"tracks"`
	// HLS is the path's HLS muxer; nil while none runs.
	HLS *HLSStatus `json:"hls,omitempty"`
	// WebRTC is the WebRTC side of the path; nil when WebRTC is off.
	WebRTC *WebRTCStatus `json:"webrtc,omitempty"`
	// Timeshift is the path's timeshift buffer; nil when the path has none.
	Timeshift *TimeshiftStatus `json:"timeshift,omitempty"`
}

// TimeshiftStatus describes what a path's timeshift buffer holds: the
// range RTSP clients can seek into and the memory it takes.
type TimeshiftStatus struct {
	// Window is the configured window in seconds.
	Window float64 `json:"window"`
	// Start and End bound what can be played now; nil while empty.
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
	// Bytes is the media the buffer holds.
	Bytes int64 `json:"bytes"`
}

// ReadersByProtocol counts a path's readers by protocol: RTSP sessions,
// 1 for a running HLS muxer, WebRTC viewers (0 when WebRTC is off).
type ReadersByProtocol struct {
	RTSP   int `json:"rtsp"`
	HLS    int `json:"hls"`
	WebRTC int `json:"webrtc"`
}

// BytesSentByProtocol counts the bytes sent to a path's readers by
// protocol: rtsp sums the current RTSP reader sessions (it drops when one
// leaves); hls (response bodies) and webrtc (RTP packets) are totals that
// do not go down.
type BytesSentByProtocol struct {
	RTSP   uint64 `json:"rtsp"`
	HLS    uint64 `json:"hls"`
	WebRTC uint64 `json:"webrtc"`
}

// SourceStatus describes the source of a path.
type SourceStatus struct {
	// Type is pull, publisher or demo.
	Type string `json:"type"`
	// URL is the pulled URL with its password masked; empty for other types.
	URL string `json:"url,omitempty"`
	// Publisher is rtsp or whip while someone publishes to a publisher path.
	Publisher string `json:"publisher,omitempty"`
	// Reconnects counts the connection attempts of a pull after its first.
	Reconnects int `json:"reconnects"`
}

// TrackStatus describes one track of a path's stream and what each output
// makes of it.
type TrackStatus struct {
	// Index is the track's position in the stream.
	Index int `json:"index"`
	// Kind is video or audio.
	Kind string `json:"kind"`
	// Codec is the codec's short name (H264, H265, AAC, Opus...).
	Codec string `json:"codec"`
	// Width and Height are in pixels, 0 (left out) when unknown or audio.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// FPS is the frame rate the parameter sets declare, 0 (left out) when
	// they do not.
	FPS float64 `json:"fps,omitempty"`
	// HLS says whether HLS carries the track; nil while no muxer runs
	// (the muxer decides when it starts).
	HLS *TrackOutput `json:"hls,omitempty"`
	// WebRTC says whether WebRTC viewers get the track; nil when WebRTC is off.
	WebRTC *TrackOutput `json:"webrtc,omitempty"`
}

// TrackOutput says whether an output carries a track, and why not.
type TrackOutput struct {
	Carried bool   `json:"carried"`
	Reason  string `json:"reason,omitempty"`
}

// HLSStatus describes a path's HLS muxer.
type HLSStatus struct {
	// Running is false while the muxer starts.
	Running bool `json:"running"`
	// Variant is lowLatency, fmp4 or mpegts.
	Variant string `json:"variant"`
	// AlwaysOn is true for a muxer kept without requests.
	AlwaysOn bool `json:"alwaysOn"`
}

// WebRTCStatus describes the WebRTC side of a path.
type WebRTCStatus struct {
	// Viewers counts WHEP sessions.
	Viewers int `json:"viewers"`
	// Publishers counts WHIP publishers (0 or 1).
	Publishers int `json:"publishers"`
	// Warnings are problems seen while sending the stream; empty, not null.
	Warnings []string `json:"warnings"`
}

// apiError is the body of every API error.
type apiError struct {
	Error string `json:"error"`
}

// apiRoute is one route of the REST API. Patterns are written as in
// docs/openapi.yaml; a final "{name}" or "{id}" takes the rest of the URL,
// '/' included, because path names may contain '/'.
type apiRoute struct {
	method  string
	pattern string
	handle  func(c *gin.Context, api API, name string)
}

// apiRoutes is the API's routing table; the OpenAPI test walks it.
func apiRoutes() []apiRoute {
	return []apiRoute{
		{http.MethodGet, "/api/v1/paths", listPaths},
		{http.MethodGet, "/api/v1/paths/{name}", getPath},
		{http.MethodPost, "/api/v1/paths/{name}", addPath},
		{http.MethodPatch, "/api/v1/paths/{name}", patchPath},
		{http.MethodDelete, "/api/v1/paths/{name}", deletePath},
		{http.MethodGet, "/api/v1/sessions", listSessions},
		{http.MethodDelete, "/api/v1/sessions/{id}", kickSession},
		{http.MethodPost, "/api/v1/config/reload", reloadConfig},
		{http.MethodGet, recordingsRoute, listRecordings},
	}
}

// recordingsRoute lists a path's recordings. Unlike the rest of the API it
// needs read on the path, not api: the player page of a viewer uses it.
const recordingsRoute = "/api/v1/recordings/{name}"

// recordingsKey carries APIRoutes.Recordings to listRecordings.
const recordingsKey = "streamgate.recordings"

// listRecordings answers GET /api/v1/recordings/{name} through Recordings.
func listRecordings(c *gin.Context, _ API, name string) {
	if !validAPIPathName(name) {
		apiFail(c, http.StatusBadRequest, fmt.Sprintf("invalid path name %q", name))
		return
	}
	rec, _ := c.Get(recordingsKey)
	r, _ := rec.(Recordings)
	if r == nil {
		apiFail(c, http.StatusNotFound, "recording is off")
		return
	}
	c.Status(http.StatusOK)
	r.ServeSpans(c.Writer, c.Request, name)
}

// APIRoutes adds the REST API and the metrics endpoint to the front door;
// its Mount method is meant for Server.Extra.
type APIRoutes struct {
	// API answers /api/v1/paths; nil answers 404 to every API request.
	API API
	// Metrics counts every request that reaches a route registered after
	// Mount, and the pages, media and WebRTC requests; nil counts nothing.
	Metrics Metrics
	// MetricsHandler serves GET /metrics (Prometheus exposition); nil
	// leaves /metrics 404.
	MetricsHandler http.Handler
	// Auth judges /api (action api) and /metrics (action metrics); nil
	// lets everyone in.
	Auth Authorizer
	// Recordings answers GET /api/v1/recordings/{path} (action read on the
	// path); nil answers 404.
	Recordings Recordings
	// Pprof serves Go's runtime profiles under /debug/pprof/, to those
	// with the api permission. Off by default.
	Pprof bool
}

// Mount registers /api/..., /metrics and the request counter on r.
func (a APIRoutes) Mount(r *gin.Engine) {
	if a.Metrics != nil {
		r.Use(CountRequests(a.Metrics))
	}
	if a.MetricsHandler != nil {
		guard := requireAction(a.Auth, auth.ActionMetrics, textFail)
		h := gin.WrapH(a.MetricsHandler)
		r.GET("/metrics", guard, h)
		r.HEAD("/metrics", guard, h)
	}
	if a.Pprof {
		mountPprof(r, a.Auth)
	}
	apiGuard := requireAction(a.Auth, auth.ActionAPI, apiFail)
	guard := func(c *gin.Context) {
		if name, ok := matchRoute(recordingsRoute, c.Request.URL.Path); ok {
			if !authorizeRequest(c, a.Auth, auth.ActionRead, name, apiFail) {
				c.Abort()
			}
			return
		}
		apiGuard(c)
	}
	r.Any("/api", guard, a.serveAPI)
	r.Any("/api/*rest", guard, a.serveAPI)
}

// serveAPI routes one request under /api through apiRoutes.
func (a APIRoutes) serveAPI(c *gin.Context) {
	if a.API == nil {
		apiFail(c, http.StatusNotFound, "the API is off")
		return
	}
	// An encoded '/' would let "a%2Fb" and "a/b" name different paths to
	// us and to a proxy in front; the front door refuses it the same way.
	if low := strings.ToLower(c.Request.URL.EscapedPath()); strings.Contains(low, "%2f") || strings.Contains(low, "%5c") {
		apiFail(c, http.StatusBadRequest, "invalid URL: encoded '/' or '\\'")
		return
	}
	path := c.Request.URL.Path
	if a.Recordings != nil {
		c.Set(recordingsKey, a.Recordings)
	}
	var allow []string
	for _, rt := range apiRoutes() {
		name, ok := matchRoute(rt.pattern, path)
		if !ok {
			continue
		}
		if c.Request.Method == rt.method || (rt.method == http.MethodGet && c.Request.Method == http.MethodHead) {
			rt.handle(c, a.API, name)
			return
		}
		allow = append(allow, rt.method)
		if rt.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	if len(allow) > 0 {
		c.Header("Allow", strings.Join(allow, ", "))
		apiFail(c, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; allowed: %s", c.Request.Method, strings.Join(allow, ", ")))
		return
	}
	apiFail(c, http.StatusNotFound, "no such API route")
}

// matchRoute matches a URL path against a route pattern and returns what
// its final "{param}" matched.
func matchRoute(pattern, path string) (string, bool) {
	i := strings.LastIndex(pattern, "/{")
	if i < 0 || !strings.HasSuffix(pattern, "}") {
		return "", path == pattern
	}
	prefix := pattern[:i+1]
	name, ok := strings.CutPrefix(path, prefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

func listPaths(c *gin.Context, api API, _ string) {
	list := api.Paths()
	for i := range list {
		normalize(&list[i])
	}
	if list == nil {
		list = []PathStatus{}
	}
	c.JSON(http.StatusOK, gin.H{"items": list})
}

func getPath(c *gin.Context, api API, name string) {
	if !validAPIPathName(name) {
		apiFail(c, http.StatusBadRequest, fmt.Sprintf("invalid path name %q", name))
		return
	}
	p, ok := api.Path(name)
	if !ok {
		apiFail(c, http.StatusNotFound, fmt.Sprintf("no path named %q", name))
		return
	}
	normalize(&p)
	c.JSON(http.StatusOK, p)
}

// validAPIPathName reports whether name can name a path at all.
func validAPIPathName(name string) bool {
	if !validPathName(name) {
		return false
	}
	segs := strings.Split(name, "/")
	return !slices.Contains(segs, ".") && !slices.Contains(segs, "..")
}

func reloadConfig(c *gin.Context, api API, _ string) {
	if err := api.ReloadConfig(); err != nil {
		failWith(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"reloaded": true})
}

// normalize turns nil lists into empty ones, so clients never see null.
func normalize(p *PathStatus) {
	if p.Tracks == nil {
		p.Tracks = []TrackStatus{}
	}
	if p.WebRTC != nil && p.WebRTC.Warnings == nil {
		w := *p.WebRTC
		w.Warnings = []string{}
		p.WebRTC = &w
	}
}

// failWith answers with the status the error wraps (500 for others).
func failWith(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	}
	apiFail(c, status, err.Error())
}

// apiFail answers with a JSON error.
func apiFail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, apiError{Error: msg})
}
