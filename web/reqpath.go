package web

import (
	"strings"
)

// maxPathNameLen is the longest path name a request can name, in bytes; the
// same limit as the config's.
const maxPathNameLen = 255

// reservedNames are first segments the front door routes itself; they are
// never path names, in any letter case (the config refuses them the same
// way, so "/API/x" can neither reach the API nor a path).
var reservedNames = [...]string{"api", "metrics", "healthz", "readyz", "assets"}

// targetKind is what a request URL asks for.
type targetKind int

const (
	targetBad       targetKind = iota // malformed or hostile URL: 400
	targetNotFound                    // well formed, but nothing can live there: 404
	targetList                        // "/": the stream list
	targetPlayer                      // "/{path}/": the player page
	targetBare                        // "/{path}": redirect to "/{path}/" if the path exists
	targetMedia                       // "/{path}/{file}": HLS
	targetWHEP                        // "/{path}/whep", "/{path}/whep/{session}": WebRTC viewers
	targetWHIP                        // "/{path}/whip", "/{path}/whip/{session}": WebRTC publishers
	targetRecording                   // "/{path}/recordings/{file}": playback of recordings
)

// webrtcEndpoints maps the segment that names a WebRTC endpoint to its
// kind. A path name cannot end with these segments, which belong to the
// path before them.
var webrtcEndpoints = map[string]targetKind{"whep": targetWHEP, "whip": targetWHIP}

// recordingsSegment names the playback files of a path's recordings:
// "/{path}/recordings/{file}". A path name cannot end with it when a file
// follows.
const recordingsSegment = "recordings"

// target is a request URL split into what it asks for.
type target struct {
	kind targetKind
	path string // path name for targetPlayer, targetBare, targetMedia, targetWHEP, targetWHIP
	file string // file name for targetMedia; the session id (or "") for targetWHEP and targetWHIP
}

// parseTarget splits a request path. escaped is the URL path as sent
// (URL.EscapedPath), decoded is URL.Path. Path names may contain '/', so a
// last segment with a '.' is a file of the path before it; a trailing '/'
// asks for the player page.
func parseTarget(escaped, decoded string) target {
	bad := target{kind: targetBad}
	// An encoded '/' or '\' would let "a%2Fb" and "a/b" name different
	// things to us and to a cache or proxy in front; refuse it outright.
	low := strings.ToLower(escaped)
	if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") {
		return bad
	}
	if !strings.HasPrefix(decoded, "/") {
		return bad
	}
	if decoded == "/" {
		return target{kind: targetList}
	}
	rest := decoded[1:]
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return bad
		}
	}
	if strings.Contains(rest, "//") || strings.HasPrefix(rest, "/") {
		return bad
	}
	player := strings.HasSuffix(rest, "/")
	rest = strings.TrimSuffix(rest, "/")
	segs := strings.Split(rest, "/")
	for _, seg := range segs {
		if seg == "." || seg == ".." {
			return bad
		}
	}
	for _, r := range reservedNames {
		if strings.EqualFold(segs[0], r) {
			return target{kind: targetNotFound}
		}
	}
	if player {
		if !validPathName(rest) {
			return target{kind: targetNotFound}
		}
		return target{kind: targetPlayer, path: rest}
	}
	last := segs[len(segs)-1]
	if t, ok := webrtcTarget(segs); ok {
		return t
	}
	if n := len(segs); n >= 3 && segs[n-2] == recordingsSegment && strings.Contains(last, ".") {
		name := strings.Join(segs[:n-2], "/")
		if !validPathName(name) || !validSegment(last) {
			return target{kind: targetNotFound}
		}
		return target{kind: targetRecording, path: name, file: last}
	}
	if strings.Contains(last, ".") {
		name := strings.Join(segs[:len(segs)-1], "/")
		if name == "" || !validPathName(name) || !validSegment(last) {
			return target{kind: targetNotFound}
		}
		return target{kind: targetMedia, path: name, file: last}
	}
	if !validPathName(rest) {
		return target{kind: targetNotFound}
	}
	return target{kind: targetBare, path: rest}
}

// webrtcTarget recognises "{path}/whep" and "{path}/whep/{session}" (and
// the same with whip).
func webrtcTarget(segs []string) (target, bool) {
	n := len(segs)
	if n >= 2 {
		if kind, ok := webrtcEndpoints[segs[n-1]]; ok {
			name := strings.Join(segs[:n-1], "/")
			if !validPathName(name) {
				return target{kind: targetNotFound}, true
			}
			return target{kind: kind, path: name}, true
		}
	}
	if n >= 3 {
		if kind, ok := webrtcEndpoints[segs[n-2]]; ok {
			name := strings.Join(segs[:n-2], "/")
			if !validPathName(name) || !validSegment(segs[n-1]) {
				return target{kind: targetNotFound}, true
			}
			return target{kind: kind, path: name, file: segs[n-1]}, true
		}
	}
	return target{}, false
}

// validPathName reports whether name fits the config's path name grammar
// (segments of ASCII letters, digits and . _ ~ -, joined by single '/');
// other names cannot exist, so requests for them are 404 without asking
// anyone. Dot segments and reserved names are checked by the caller.
func validPathName(name string) bool {
	if name == "" || len(name) > maxPathNameLen {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if !validSegment(seg) {
			return false
		}
	}
	return true
}

// validSegment reports whether seg is a non-empty run of ASCII letters,
// digits and . _ ~ -.
func validSegment(seg string) bool {
	if seg == "" {
		return false
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '~' || c == '-' {
			continue
		}
		return false
	}
	return true
}
