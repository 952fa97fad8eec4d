package webrtc

import (
	"slices"

	"github.com/streamgate/streamgate/gateway/hub"
)

// warnBFrames is shown in Status for H.264/H.265 streams with B-frames.
const warnBFrames = "the video has B-frames, which browsers play badly over WebRTC (stutter, wrong order); turn them off at the source"

// TrackStatus describes one track of a stream as WebRTC viewers see it.
type TrackStatus struct {
	// Index is the track's position in the hub stream (hub.Track.Index).
	Index int `json:"index"`
	// Codec is the codec's short name ("H264", "AAC", "Opus"...).
	Codec string `json:"codec"`
	// Reason says why a track is left out; empty for carried tracks.
	Reason string `json:"reason,omitempty"`
}

// PathStatus is what the WebRTC side of a path is doing, for the web page and API.
type PathStatus struct {
	// Viewers is the number of WHEP sessions of the path.
	Viewers int `json:"viewers"`
	// Publishers is the number of WHIP publishers of the path (0 or 1).
	Publishers int `json:"publishers"`
	// Tracks are the tracks of the stream viewers get (when their browser offers the codec).
	Tracks []TrackStatus `json:"tracks"`
	// LeftOut are the tracks WebRTC viewers do not get, each with the reason.
	LeftOut []TrackStatus `json:"leftOut,omitempty"`
	// Warnings are problems of the stream seen while sending it (B-frames).
	Warnings []string `json:"warnings,omitempty"`
	// BytesSent counts the RTP bytes (header and payload) sent to the
	// path's viewers, those gone included; it does not go down.
	BytesSent uint64 `json:"bytesSent"`
}

// pathInfo is the server's record of one path, kept while the stream it
// describes lives, so each warning is logged once per stream.
type pathInfo struct {
	stream     *hub.Stream
	viewers    int
	publishers int
	carried    []TrackStatus
	leftOut    []TrackStatus
	warnings   []string
}

// infoLocked returns the record of path, made fresh for stream st when it
// describes another stream. s.mu is held.
func (s *Server) infoLocked(path string, st *hub.Stream) *pathInfo {
	info := s.paths[path]
	if info == nil {
		s.pruneLocked()
		info = &pathInfo{}
		s.paths[path] = info
	}
	if st != nil && info.stream != st {
		info.stream = st
		plan := planTracks(st.Tracks, nil)
		info.carried, info.leftOut, info.warnings = plan.carried, plan.leftOut, nil
		for _, l := range plan.leftOut {
			s.logger().Info("track left out of WebRTC", "path", path, "track", l.Index, "codec", l.Codec, "reason", l.Reason)
		}
	}
	return info
}

// pruneLocked forgets paths nobody uses whose stream ended. s.mu is held.
func (s *Server) pruneLocked() {
	for name, info := range s.paths {
		if info.viewers > 0 || info.publishers > 0 {
			continue
		}
		if info.stream == nil {
			delete(s.paths, name)
			continue
		}
		select {
		case <-info.stream.Done():
			delete(s.paths, name)
		default:
		}
	}
}

// warnOnce records a warning for the stream of path and logs it the first time.
func (s *Server) warnOnce(path string, st *hub.Stream, warning string) {
	s.mu.Lock()
	info := s.paths[path]
	if info == nil || info.stream != st || slices.Contains(info.warnings, warning) {
		s.mu.Unlock()
		return
	}
	info.warnings = append(info.warnings, warning)
	s.mu.Unlock()
	s.logger().Warn(warning, "path", path)
}

// Status describes the WebRTC side of path; false when the server has no
// viewer, publisher or record of it.
func (s *Server) Status(path string) (PathStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := s.bytesSentLocked(path)
	info := s.paths[path]
	if info == nil {
		return PathStatus{BytesSent: sent}, false
	}
	return PathStatus{
		Viewers:    info.viewers,
		Publishers: info.publishers,
		Tracks:     slices.Clone(info.carried),
		LeftOut:    slices.Clone(info.leftOut),
		Warnings:   slices.Clone(info.warnings),
		BytesSent:  sent,
	}, true
}

// bytesSentLocked sums what the viewers of path sent: the closed sessions'
// total plus the live sessions' counters. s.mu is held.
func (s *Server) bytesSentLocked(path string) uint64 {
	sent := s.sentClosed[path]
	for _, se := range s.viewers {
		if se.path == path {
			sent += se.bytesSent.Load()
		}
	}
	return sent
}
