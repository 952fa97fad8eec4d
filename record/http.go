package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ServeSpans answers GET /api/v1/recordings/{path}: the contiguous spans
// of the path's recordings as JSON, optionally limited to the start and
// end query parameters (RFC 3339). A path without any recording is 404;
// bad times are 400. Errors are {"error": "..."} like the rest of the API.
func (s *Store) ServeSpans(w http.ResponseWriter, r *http.Request, path string) {
	start, end, err := parseRange(r.URL.Query(), false)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	x, err := s.index(path)
	if err == nil && len(x.snapshot(time.Time{}, time.Time{})) == 0 {
		err = fmt.Errorf("path %s has no recordings: %w", path, ErrNotFound)
	}
	if err != nil {
		s.httpError(w, r, err, jsonError)
		return
	}
	spans, err := s.Spans(path, start, end)
	if err != nil {
		s.httpError(w, r, err, jsonError)
		return
	}
	type item struct {
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Duration float64   `json:"duration"`
	}
	items := make([]item, 0, len(spans))
	for _, sp := range spans {
		items = append(items, item{Start: sp.Start, End: sp.End, Duration: sp.End.Sub(sp.Start).Seconds()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if err := json.NewEncoder(w).Encode(map[string]any{"path": path, "items": items}); err != nil {
		s.Logger.Debug("recordings list: write failed", "path", path, "error", err)
	}
}

// ServeRecording serves a file of path's recordings, as the front door
// mounts them under /{path}/recordings/: "index.m3u8?start=…&end=…" (an HLS
// VOD playlist of that span), "download.mp4?start=…&end=…" (an MP4 of the
// span, with Range support) and the segment files the playlist points
// into (with Range support). Bad or missing times are 400, nothing
// recorded 404, a download across a codec change 409.
func (s *Store) ServeRecording(w http.ResponseWriter, r *http.Request, path, file string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		textError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch file {
	case "index.m3u8":
		s.servePlaylist(w, r, path)
	case "download.mp4":
		s.serveDownload(w, r, path)
	default:
		s.serveSegment(w, r, path, file)
	}
}

func (s *Store) servePlaylist(w http.ResponseWriter, r *http.Request, path string) {
	start, end, err := parseRange(r.URL.Query(), true)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	_, plan, err := s.plan(path, start, end)
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, playlist(plan))
}

func (s *Store) serveDownload(w http.ResponseWriter, r *http.Request, path string) {
	start, end, err := parseRange(r.URL.Query(), true)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	x, plan, err := s.plan(path, start, end)
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	d, err := newDownload(x, plan)
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	defer d.close()
	first := plan[0].frags[0].keyTime.UTC()
	name := strings.ReplaceAll(path, "/", "_") + "_" + first.Format("2006-01-02_15-04-05") + ".mp4"
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, first, io.NewSectionReader(d, 0, d.size))
}

func (s *Store) serveSegment(w http.ResponseWriter, r *http.Request, path, file string) {
	if _, err := parseSegmentName(file); err != nil {
		textError(w, http.StatusNotFound, "no such recording file")
		return
	}
	x, err := s.index(path)
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	open := false
	found := false
	x.mu.Lock()
	if seg := x.findLocked(file); seg != nil {
		found, open = true, seg.open
	}
	x.mu.Unlock()
	if !found {
		textError(w, http.StatusNotFound, "no such recording file")
		return
	}
	f, err := os.Open(filepath.Join(x.dir, file))
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		s.httpError(w, r, err, textError)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	if open {
		// Still growing: what a range covers does not change, but the size does.
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
	}
	http.ServeContent(w, r, file, info.ModTime(), f)
}

// httpError answers err with its status: 404 for nothing recorded (or a
// file retention removed), 409 for a codec change, 500 else (logged).
func (s *Store) httpError(w http.ResponseWriter, r *http.Request, err error, fail func(http.ResponseWriter, int, string)) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, os.ErrNotExist):
		fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrFormatChanged):
		fail(w, http.StatusConflict, err.Error()+": ask for the spans before and after the change separately")
	default:
		s.Logger.Error("recordings: request failed", "url", r.URL.Path, "error", err)
		fail(w, http.StatusInternalServerError, "cannot read the recordings")
	}
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s\n", status, msg)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
