package record

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"
)

// playlist writes an HLS VOD playlist of planned segments: fMP4 media
// segments addressed by byte range inside the segment files (one per
// keyframe-led run of fragments), each file's init as EXT-X-MAP, and a
// discontinuity where the recording has a gap or the init changes.
// Decode times in the files are wall-clock based, so consecutive files
// continue one timeline without a discontinuity.
func playlist(plan []planSeg) string {
	type entry struct {
		g            group
		file         string
		mapSize      int
		newMap, disc bool
	}
	var entries []entry
	var prev *planSeg
	var prevEnd time.Time
	target := 1.0
	for i := range plan {
		p := &plan[i]
		for j, g := range p.groups() {
			e := entry{g: g, file: p.seg.name, mapSize: len(p.lay.init)}
			if j == 0 {
				e.newMap = true
				e.disc = prev != nil && (!bytes.Equal(prev.lay.init, p.lay.init) || g.start.Sub(prevEnd) > spanGap)
			}
			target = math.Max(target, g.end.Sub(g.start).Seconds())
			entries = append(entries, e)
			prevEnd = g.end
		}
		prev = p
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", int(math.Ceil(target)))
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, e := range entries {
		if e.disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if e.newMap {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\",BYTERANGE=\"%d@0\"\n", e.file, e.mapSize)
		}
		if i == 0 || e.disc {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", e.g.start.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n#EXT-X-BYTERANGE:%d@%d\n%s\n", max(e.g.end.Sub(e.g.start).Seconds(), 0.001), e.g.size, e.g.off, e.file)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String()
}
