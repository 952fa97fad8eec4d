package hls

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/streamgate/streamgate/gateway/hub"
)

// Cache-Control values.
const (
	// Playlists change all the time; a new muxer of the same path also
	// reuses their names with other segments in them.
	cachePlaylist = "no-cache"
	// A blocking LL-HLS reload (_HLS_msn, _HLS_part) has a URL of its own and
	// its answer holds the part it names, so a cache may share it among the
	// viewers asking the same question (request collapsing at a CDN). It is
	// kept short because a later muxer of the path restarts the numbering.
	cacheBlockingPlaylist = "public, max-age=1"
	// Segments, parts and init files never change: their names carry the
	// muxer's random prefix and their number.
	cacheImmutable = "public, max-age=3600, immutable"
	// Errors must not stick in caches: the stream may be up a second later.
	cacheError = "no-cache"
)

// fileKind classifies the files of a muxer.
type fileKind int

const (
	fileUnknown       fileKind = iota
	fileMainPlaylist           // index.m3u8
	fileMediaPlaylist          // video1_stream.m3u8, main_stream.m3u8...
	fileInit                   // <prefix>_video1_init.mp4
	fileSegment                // <prefix>_video1_seg12.mp4, <prefix>_main_seg12.ts
	filePart                   // <prefix>_video1_part40.mp4
)

func (k fileKind) isPlaylist() bool { return k == fileMainPlaylist || k == fileMediaPlaylist }

// classify names the files gohlslib serves (see its muxer_stream.go and
// muxer.go): anything else is not found, which Handle itself would answer
// with an empty 200.
func classify(file string) fileKind {
	if file == "index.m3u8" {
		return fileMainPlaylist
	}
	if id, ok := strings.CutSuffix(file, "_stream.m3u8"); ok {
		if isStreamID(id) {
			return fileMediaPlaylist
		}
		return fileUnknown
	}
	prefix, rest, ok := strings.Cut(file, "_")
	if !ok || len(prefix) != 12 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return fileUnknown
	}
	id, name, ok := strings.Cut(rest, "_")
	if !ok || !isStreamID(id) {
		return fileUnknown
	}
	switch {
	case name == "init.mp4":
		return fileInit
	case numbered(name, "seg", ".mp4"), numbered(name, "seg", ".ts"):
		return fileSegment
	case numbered(name, "part", ".mp4"):
		return filePart
	}
	return fileUnknown
}

// isStreamID matches gohlslib's stream IDs: "main", "video1", "audio2".
func isStreamID(id string) bool {
	return id != "" && strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

func numbered(name, prefix, suffix string) bool {
	n, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, suffix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

// ServeHLS answers a request for file ("index.m3u8", a media playlist, an
// init file, a segment or a part) of path. A playlist request starts the
// path's muxer if needed; the other files exist only in a running muxer.
// It returns when the answer is written, the client went away, or the muxer
// closed, even while gohlslib still blocks on a playlist.
func (s *Server) ServeHLS(w http.ResponseWriter, r *http.Request, path, file string) {
	kind := classify(file)
	if kind == fileUnknown {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	m, err := s.muxerFor(r.Context(), path, kind.isPlaylist())
	if err != nil {
		if r.Context().Err() == nil {
			s.writeMuxerError(w, path, err)
		}
		return
	}
	m.inflight.Add(1)
	m.touch()
	defer func() {
		m.touch()
		m.inflight.Add(-1)
	}()

	res, ok := s.handleShared(r, m, file, kind)
	if ok && res != nil && res.status == http.StatusBadRequest && kind == fileMediaPlaylist {
		res, ok = s.expiredReload(r, m, file, res)
	}
	switch {
	case !ok:
		return // the client went away
	case res == nil:
		writeError(w, http.StatusServiceUnavailable, "the stream ended; reload the playlist")
		return
	case res.status == 0:
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	if n := res.writeTo(w, r, kind); n > 0 && m.sent != nil {
		m.sent.Add(uint64(n))
	}
}

// handle runs gohlslib's Handle in its own goroutine, since playlist requests
// block until content exists and ignore the request's context. It returns
// the recorded answer, nil when the muxer closed first, and false when the
// client went away. An abandoned Handle ends when the muxer produces the
// content or closes.
func (s *Server) handle(r *http.Request, m *muxer, file string) (*recorder, bool) {
	// A request of our own, so the abandoned goroutine touches nothing the
	// HTTP server reuses; gohlslib only reads the file name and the query.
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: "/" + file, RawQuery: r.URL.RawQuery},
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     r.Header.Clone(),
		Host:       r.Host,
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, true
	}
	s.wg.Add(1)
	s.handlers.Add(1)
	s.mu.Unlock()

	rec := &recorder{header: make(http.Header)}
	done := make(chan struct{})
	go func() {
		defer s.wg.Done()
		defer s.handlers.Add(-1)
		defer close(done)
		m.hm.Handle(rec, req)
	}()

	select {
	case <-done:
	case <-r.Context().Done():
		return nil, false
	case <-m.closed:
		select {
		case <-done:
		default:
			return nil, true
		}
	}
	if rec.status >= 500 {
		select {
		case <-m.closed:
			return nil, true // gohlslib answers 500 to requests the close released
		default:
		}
	}
	return rec, true
}

// expiredReload answers a blocking playlist reload for a segment that has
// already left the playlist (a viewer that fell behind) with the current
// playlist, as the LL-HLS spec wants, where gohlslib answers 400. A request
// for a segment too far ahead keeps its 400.
func (s *Server) expiredReload(r *http.Request, m *muxer, file string, bad *recorder) (*recorder, bool) {
	q := r.URL.Query()
	msn, err := strconv.ParseUint(q.Get("_HLS_msn"), 10, 64)
	if err != nil {
		return bad, true
	}
	plain := r.Clone(r.Context())
	for _, k := range []string{"_HLS_msn", "_HLS_part", "_HLS_skip"} {
		q.Del(k)
	}
	plain.URL.RawQuery = q.Encode()
	res, ok := s.handle(plain, m, file)
	if !ok || res == nil || res.status != http.StatusOK {
		return res, ok
	}
	if first, found := mediaSequence(res.body.Bytes()); found && msn < first {
		return res, true
	}
	return bad, true
}

// mediaSequence reads EXT-X-MEDIA-SEQUENCE from a media playlist.
func mediaSequence(playlist []byte) (uint64, bool) {
	const tag = "#EXT-X-MEDIA-SEQUENCE:"
	for _, line := range strings.Split(string(playlist), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), tag); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// writeMuxerError answers a request no muxer can serve.
func (s *Server) writeMuxerError(w http.ResponseWriter, path string, err error) {
	switch {
	case errors.Is(err, errNoMuxer):
		writeError(w, http.StatusNotFound, "no such file")
	case errors.Is(err, hub.ErrPathNotFound):
		writeError(w, http.StatusNotFound, "no such path")
	case errors.Is(err, hub.ErrNoStream):
		writeError(w, http.StatusNotFound, "no stream is available on this path")
	case errors.Is(err, ErrNoTrack):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrClosed), errors.Is(err, hub.ErrPathClosed), errors.Is(err, hub.ErrTooManyReaders),
		errors.Is(err, hub.ErrStreamChanged), errors.Is(err, hub.ErrSourceGone):
		writeError(w, http.StatusServiceUnavailable, unwrapAll(err).Error())
	default:
		s.logger().Warn("HLS request failed", "path", path, "error", err)
		writeError(w, http.StatusInternalServerError, "cannot start HLS for this path")
	}
}

// unwrapAll returns the innermost error, the short reason without our context.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Cache-Control", cacheError)
	http.Error(w, msg, code)
}

// recorder buffers one gohlslib answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(p)
}

// writeTo copies the answer to w with our caching rules and content types,
// and returns the body bytes written (none for HEAD).
func (rec *recorder) writeTo(w http.ResponseWriter, r *http.Request, kind fileKind) int {
	h := w.Header()
	for k, v := range rec.header {
		h[k] = slices.Clone(v) // the recorder may be shared (handleShared)
	}
	switch {
	case rec.status != http.StatusOK:
		h.Set("Cache-Control", cacheError)
	case kind == fileMediaPlaylist && r.URL.Query().Has("_HLS_msn"):
		h.Set("Cache-Control", cacheBlockingPlaylist)
	case kind.isPlaylist():
		h.Set("Cache-Control", cachePlaylist)
	default:
		h.Set("Cache-Control", cacheImmutable)
	}
	if rec.status == http.StatusOK && h.Get("Content-Type") == "" {
		h.Set("Content-Type", contentType(kind))
	}
	h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	w.WriteHeader(rec.status)
	if r.Method == http.MethodHead {
		return 0
	}
	n, _ := w.Write(rec.body.Bytes())
	return n
}

func contentType(kind fileKind) string {
	switch kind {
	case fileMainPlaylist, fileMediaPlaylist:
		return "application/vnd.apple.mpegurl"
	}
	return "video/mp4"
}
