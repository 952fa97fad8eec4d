package hub

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// Track is one format of one media of a stream: what a reader subscribes to
// and what every Unit names.
type Track struct {
	// Index is the track's position in Stream.Tracks.
	Index int
	// Media is the media of the stream's description the track belongs to.
	Media *description.Media
	// Format is the track's format, from the stream's description.
	Format format.Format

	kind codecKind
	// pending holds the packets of the access unit being received, on tracks
	// whose access units the hub groups (H.264, H.265).
	pending   []*Unit
	pendingTS uint32
	pendingRA bool

	// units and bytes count the packets the track received and their RTP
	// payload bytes, for status and metrics (see Received).
	units atomic.Uint64
	bytes atomic.Uint64

	// stream is the track's stream, for the once-per-session warning about
	// frames that cannot be decoded (nil in tests that build tracks alone).
	stream *Stream
}

// Received is how many RTP packets the track took from its sources and
// their payload bytes, over the stream's life (outages included). Packets
// of a stale source session or of a closed stream are not counted.
func (t *Track) Received() (packets, bytes uint64) {
	return t.units.Load(), t.bytes.Load()
}

// IsVideo reports whether the track is a video track.
func (t *Track) IsVideo() bool { return t.Media.Type == description.MediaTypeVideo }

// ClockRate is the track's RTP clock rate.
func (t *Track) ClockRate() int { return t.Format.ClockRate() }

// CodecName is a short human name of the track's codec, for logs and status.
func (t *Track) CodecName() string { return CodecName(t.Format) }

// CodecName returns a short, stable name of a format's codec ("H264", "AAC", "PCMU"...), for logs and status.
func CodecName(f format.Format) string {
	switch f := f.(type) {
	case *format.H264:
		return "H264"
	case *format.H265:
		return "H265"
	case *format.AV1:
		return "AV1"
	case *format.VP8:
		return "VP8"
	case *format.VP9:
		return "VP9"
	case *format.MJPEG:
		return "MJPEG"
	case *format.MPEG4Video:
		return "MPEG-4 Video"
	case *format.MPEG4Audio:
		return "AAC"
	case *format.MPEG4AudioLATM:
		return "AAC-LATM"
	case *format.Opus:
		return "Opus"
	case *format.G711:
		if f.MULaw {
			return "PCMU"
		}
		return "PCMA"
	case *format.G722:
		return "G722"
	case *format.LPCM:
		return "LPCM"
	case *format.Generic:
		if name := rtpMapName(f.RTPMa); name != "" {
			return name
		}
		return fmt.Sprintf("PT %d", f.PayloadTyp)
	}
	if name := rtpMapName(f.RTPMap()); name != "" {
		return name
	}
	return fmt.Sprintf("PT %d", f.PayloadType())
}

// rtpMapName is the encoding name of an rtpmap value ("H264/90000" → "H264").
func rtpMapName(rtpMap string) string {
	name, _, _ := strings.Cut(rtpMap, "/")
	return name
}

func kindOf(f format.Format) codecKind {
	switch f.(type) {
	case *format.H264:
		return codecH264
	case *format.H265:
		return codecH265
	}
	return codecOther
}

// sameCodecs reports whether a source that comes back with description b can
// continue a stream created with description a without readers noticing:
// the same medias, formats, payload types, clock rates and codec parameters.
func sameCodecs(a, b *description.Session) bool {
	if len(a.Medias) != len(b.Medias) {
		return false
	}
	for i, ma := range a.Medias {
		mb := b.Medias[i]
		if ma.Type != mb.Type || len(ma.Formats) != len(mb.Formats) {
			return false
		}
		for j, fa := range ma.Formats {
			fb := mb.Formats[j]
			if reflect.TypeOf(fa) != reflect.TypeOf(fb) || fa.PayloadType() != fb.PayloadType() ||
				fa.ClockRate() != fb.ClockRate() || fa.RTPMap() != fb.RTPMap() {
				return false
			}
			switch fa := fa.(type) {
			case *format.H264:
				fb := fb.(*format.H264)
				sa, pa := fa.SafeParams()
				sb, pb := fb.SafeParams()
				if !optionalEqual(sa, sb) || !optionalEqual(pa, pb) {
					return false
				}
			case *format.H265:
				fb := fb.(*format.H265)
				va, sa, pa := fa.SafeParams()
				vb, sb, pb := fb.SafeParams()
				if !optionalEqual(va, vb) || !optionalEqual(sa, sb) || !optionalEqual(pa, pb) {
					return false
				}
			default:
				if !reflect.DeepEqual(fa.FMTP(), fb.FMTP()) {
					return false
				}
			}
		}
	}
	return true
}

// optionalEqual compares parameter sets that a camera may leave out of its
// SDP: missing on either side is not a difference.
func optionalEqual(a, b []byte) bool {
	return len(a) == 0 || len(b) == 0 || bytes.Equal(a, b)
}

// SameCodecs reports whether two session descriptions carry the same tracks
// with the same codec parameters, so media of one can follow media of the
// other without the reader noticing.
func SameCodecs(a, b *description.Session) bool { return sameCodecs(a, b) }
