package record

import (
	"fmt"
	"time"
)

// planSeg is the part of one segment file a playback request covers: whole
// fragments from a keyframe on.
type planSeg struct {
	seg   segment
	lay   *layout
	frags []fragInfo
}

// plan picks the fragments of path's recordings that play [start, end):
// from the newest keyframe at or before start (the first keyframe after
// it when start falls before or between recordings) to the last fragment
// that starts before end. ErrNotFound when nothing is there.
func (s *Store) plan(path string, start, end time.Time) (*pathIndex, []planSeg, error) {
	x, err := s.index(path)
	if err != nil {
		return nil, nil, err
	}
	segs := x.snapshot(start, end)
	// Start in the newest segment that began by start: an older one that
	// overlaps it a little (its last samples' durations) has nothing to add.
	for i := len(segs) - 1; i > 0; i-- {
		if !segs[i].start.After(start) {
			segs = segs[i:]
			break
		}
	}
	var out []planSeg
	for _, sg := range segs {
		frags, _, err := x.fragmentsOf(sg.name)
		if err != nil {
			return nil, nil, fmt.Errorf("path %s: %w", path, err)
		}
		first := -1
		for i, fi := range frags {
			if !fi.key {
				continue
			}
			if first < 0 || len(out) == 0 && !fi.keyTime.After(start) {
				first = i
			}
			if len(out) > 0 || fi.keyTime.After(start) {
				break
			}
		}
		if first < 0 {
			continue
		}
		last := first
		for last+1 < len(frags) && frags[last+1].start.Before(end) {
			last++
		}
		lay, err := x.layoutOf(sg.name)
		if err != nil {
			return nil, nil, fmt.Errorf("path %s: %w", path, err)
		}
		out = append(out, planSeg{seg: sg, lay: lay, frags: frags[first : last+1]})
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("path %s: between %s and %s: %w", path,
			start.Format(time.RFC3339), end.Format(time.RFC3339), ErrNotFound)
	}
	return x, out, nil
}

// group is a run of fragments from one keyframe to the next: an HLS media
// segment.
type group struct {
	off, size  int64
	start, end time.Time
}

// groups splits a planned segment into keyframe-led runs of fragments; a
// run ends where the next keyframe starts (the segment's end for the last).
func (p planSeg) groups() []group {
	var out []group
	for _, fi := range p.frags {
		if fi.key || len(out) == 0 {
			if n := len(out); n > 0 {
				out[n-1].end = fi.keyTime
			}
			out = append(out, group{off: fi.off, start: fi.keyTime})
		}
		g := &out[len(out)-1]
		g.size = fi.off + fi.size - g.off
		if fi.end.After(g.end) {
			g.end = fi.end
		}
	}
	return out
}
