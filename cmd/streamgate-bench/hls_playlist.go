package main

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// hlsPart is one EXT-X-PART of a media playlist.
type hlsPart struct {
	URI         string
	Duration    float64
	Independent bool
}

// hlsSegment is one media segment; URI is "" for the segment in progress
// (only its parts are listed so far).
type hlsSegment struct {
	MSN      uint64
	URI      string
	Duration float64
	Parts    []hlsPart
	// Gap marks an EXT-X-GAP placeholder (gohlslib pads a new playlist with them for iOS): nothing to download.
	Gap bool
}

// mediaPlaylist is the part of a media playlist the viewers need.
type mediaPlaylist struct {
	TargetDuration float64
	PartTarget     float64
	CanBlock       bool
	MediaSequence  uint64
	Map            string
	Segments       []hlsSegment
}

// lowLatency reports whether the playlist offers blocking reloads of parts.
func (p *mediaPlaylist) lowLatency() bool { return p.CanBlock && p.PartTarget > 0 }

// complete lists the finished segments.
func (p *mediaPlaylist) complete() []hlsSegment {
	if n := len(p.Segments); n > 0 && p.Segments[n-1].URI == "" {
		return p.Segments[:n-1]
	}
	return p.Segments
}

// nextPart is the part a blocking reload should wait for: the one after
// the last part listed, or part 0 of the next segment when the last listed
// segment is complete. (Asking for a part index past the end of a complete
// segment instead makes some servers wait for the whole next segment.)
func (p *mediaPlaylist) nextPart() (msn uint64, part int) {
	if len(p.Segments) == 0 {
		return p.MediaSequence, 0
	}
	last := p.Segments[len(p.Segments)-1]
	if last.URI == "" {
		return last.MSN, len(last.Parts)
	}
	return last.MSN + 1, 0
}

// firstMedia is the first file a player can play: the first real segment,
// else the first part of the segment in progress.
func (p *mediaPlaylist) firstMedia() (string, bool) {
	for _, s := range p.Segments {
		switch {
		case s.Gap:
		case s.URI != "":
			return s.URI, true
		case len(s.Parts) > 0:
			return s.Parts[0].URI, true
		}
	}
	return "", false
}

// partAt returns part number part of segment msn.
func (p *mediaPlaylist) partAt(msn uint64, part int) (hlsPart, bool) {
	for _, s := range p.Segments {
		if s.MSN == msn && part < len(s.Parts) {
			return s.Parts[part], true
		}
	}
	return hlsPart{}, false
}

// parseMediaPlaylist reads a media playlist.
func parseMediaPlaylist(text string) (*mediaPlaylist, error) {
	if !strings.HasPrefix(strings.TrimLeft(text, "\ufeff"), "#EXTM3U") {
		return nil, errors.New("playlist: no #EXTM3U header")
	}
	p := &mediaPlaylist{}
	var parts []hlsPart
	var extinf float64
	haveInf, gap := false, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tag, val, _ := strings.Cut(line, ":")
		var err error
		switch {
		case line == "":
		case tag == "#EXT-X-TARGETDURATION":
			p.TargetDuration, err = strconv.ParseFloat(val, 64)
		case tag == "#EXT-X-MEDIA-SEQUENCE":
			p.MediaSequence, err = strconv.ParseUint(val, 10, 64)
		case tag == "#EXT-X-PART-INF":
			p.PartTarget, err = strconv.ParseFloat(parseAttrs(val)["PART-TARGET"], 64)
		case tag == "#EXT-X-SERVER-CONTROL":
			p.CanBlock = parseAttrs(val)["CAN-BLOCK-RELOAD"] == "YES"
		case tag == "#EXT-X-MAP":
			p.Map = parseAttrs(val)["URI"]
		case tag == "#EXT-X-PART":
			a := parseAttrs(val)
			var d float64
			d, err = strconv.ParseFloat(a["DURATION"], 64)
			if a["URI"] == "" {
				err = errors.New("EXT-X-PART without URI")
			}
			parts = append(parts, hlsPart{URI: a["URI"], Duration: d, Independent: a["INDEPENDENT"] == "YES"})
		case tag == "#EXT-X-GAP":
			gap = true
		case tag == "#EXTINF":
			d, _, _ := strings.Cut(val, ",")
			extinf, err = strconv.ParseFloat(d, 64)
			haveInf = true
		case strings.HasPrefix(line, "#"):
		default: // a segment URI
			if !haveInf {
				return nil, fmt.Errorf("playlist: segment %q without #EXTINF", line)
			}
			p.Segments = append(p.Segments, hlsSegment{URI: line, Duration: extinf, Parts: parts, Gap: gap})
			parts, haveInf, gap = nil, false, false
		}
		if err != nil {
			return nil, fmt.Errorf("playlist: %s: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("playlist: %w", err)
	}
	if len(parts) > 0 {
		p.Segments = append(p.Segments, hlsSegment{Parts: parts})
	}
	for i := range p.Segments {
		p.Segments[i].MSN = p.MediaSequence + uint64(i)
	}
	return p, nil
}

// parseMultivariant returns the first variant's URI and the audio
// renditions' URIs. A media playlist given as index is returned as its own
// variant ("" URI).
func parseMultivariant(text string) (video string, audio []string, err error) {
	if !strings.HasPrefix(strings.TrimLeft(text, "\ufeff"), "#EXTM3U") {
		return "", nil, errors.New("index playlist: no #EXTM3U header")
	}
	lines := strings.Split(text, "\n")
	isMedia := false
	for i, l := range lines {
		l = strings.TrimSpace(l)
		tag, val, _ := strings.Cut(l, ":")
		switch tag {
		case "#EXT-X-MEDIA":
			a := parseAttrs(val)
			if a["TYPE"] == "AUDIO" && a["URI"] != "" {
				audio = append(audio, a["URI"])
			}
		case "#EXT-X-STREAM-INF":
			if video == "" {
				for _, next := range lines[i+1:] {
					next = strings.TrimSpace(next)
					if next != "" && !strings.HasPrefix(next, "#") {
						video = next
						break
					}
				}
			}
		case "#EXTINF", "#EXT-X-TARGETDURATION":
			isMedia = true
		}
	}
	if video == "" && !isMedia {
		return "", nil, errors.New("index playlist: no variant stream")
	}
	return video, audio, nil
}

// parseAttrs splits an attribute list (KEY=VALUE,KEY="quoted, value").
func parseAttrs(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		key = strings.TrimSpace(key)
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				val, rest = rest[1:], ""
			} else {
				val, rest = rest[1:1+end], rest[2+end:]
			}
			_, rest, _ = strings.Cut(rest, ",")
		} else {
			val, rest, _ = strings.Cut(rest, ",")
		}
		out[key] = val
		s = rest
	}
	return out
}
