package record

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Segment files are named after the wall-clock time (UTC) of their first
// keyframe, to the microsecond, so a directory listing sorts by time and a
// person can find a moment without tools:
//
//	2026-11-25_20-34-23.123456.mp4
const (
	nameLayout = "2006-01-02_15-04-05.000000"
	nameExt    = ".mp4"
	nameLen    = len(nameLayout) + len(nameExt)
)

// segmentName is the file name of a segment starting at t.
func segmentName(t time.Time) string {
	return t.UTC().Format(nameLayout) + nameExt
}

// errBadName is wrapped by parseSegmentName.
var errBadName = errors.New("not a segment file name")

// parseSegmentName returns the start time a segment file name encodes. It
// accepts exactly what segmentName writes, so a request naming a file
// cannot reach anything else in the directory.
func parseSegmentName(name string) (time.Time, error) {
	if len(name) != nameLen || !strings.HasSuffix(name, nameExt) {
		return time.Time{}, fmt.Errorf("%w: %q", errBadName, name)
	}
	for i := 0; i < len(nameLayout); i++ {
		c, l := name[i], nameLayout[i]
		digit := l >= '0' && l <= '9'
		if digit && (c < '0' || c > '9') || !digit && c != l {
			return time.Time{}, fmt.Errorf("%w: %q", errBadName, name)
		}
	}
	t, err := time.ParseInLocation(nameLayout, name[:len(nameLayout)], time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %w", errBadName, name, err)
	}
	return t, nil
}

// ValidPathName reports whether name can be a recorded path's directory
// below the store's root: segments of ASCII letters, digits and . _ ~ -
// joined by single '/', no "." or ".." segment. Path names from the config
// and from requests pass through it before they touch the file system.
func ValidPathName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
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
	}
	return true
}
