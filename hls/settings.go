package hls

import (
	"fmt"
	"time"

	"github.com/bluenviron/gohlslib/v2"
)

// HistoryGOPs is the number of groups of pictures the gateway should keep in
// the hub for paths served over HLS (hub.StreamConfig.HistoryGOPs). A new
// muxer is primed from that history: two complete GOPs become two complete
// segments at once (the fMP4 variant publishes its playlist only from the
// second segment on), and the third, still growing GOP is the segment in
// progress. With fewer, the first playlist of a fresh muxer waits up to one
// GOP, which is seconds on cameras with long keyframe intervals.
const HistoryGOPs = 3

// Variant names accepted in Settings.Variant.
const (
	// VariantLowLatency is Low-Latency HLS (fMP4 segments and parts, blocking playlist reload). The default.
	VariantLowLatency = "lowLatency"
	// VariantFMP4 is HLS with fMP4 segments.
	VariantFMP4 = "fmp4"
	// VariantMPEGTS is HLS with MPEG-TS segments (H.264 and AAC only), for old players.
	VariantMPEGTS = "mpegts"
)

// Defaults of Settings.
const (
	defaultSegmentCount    = 7
	defaultSegmentDuration = time.Second
	defaultPartDuration    = 200 * time.Millisecond
	defaultIdleClose       = 60 * time.Second
)

// Settings tunes the muxer of one path. The zero value is usable.
type Settings struct {
	// Variant is "lowLatency", "fmp4" or "mpegts". Defaults to "lowLatency".
	Variant string
	// SegmentCount is how many segments the playlist lists. Defaults to 7;
	// Low-Latency HLS needs at least 7, the other variants at least 3.
	SegmentCount int
	// SegmentDuration is the minimum segment duration; a segment always
	// starts at a keyframe, so it lasts at least one GOP. Defaults to 1s.
	SegmentDuration time.Duration
	// PartDuration is the minimum part duration of Low-Latency HLS. Defaults to 200ms.
	PartDuration time.Duration
	// IdleClose closes a muxer nobody requested anything from for this long.
	// Keep it well above player reload intervals. Defaults to 60s.
	IdleClose time.Duration
	// AlwaysOn keeps the muxer running without requests; the gateway starts
	// it with Server.Ensure. Such a muxer is never closed for being idle.
	AlwaysOn bool
}

// withDefaults fills in the zero fields.
func (s Settings) withDefaults() Settings {
	if s.Variant == "" {
		s.Variant = VariantLowLatency
	}
	if s.SegmentCount == 0 {
		s.SegmentCount = defaultSegmentCount
	}
	if s.SegmentDuration <= 0 {
		s.SegmentDuration = defaultSegmentDuration
	}
	if s.PartDuration <= 0 {
		s.PartDuration = defaultPartDuration
	}
	if s.IdleClose <= 0 {
		s.IdleClose = defaultIdleClose
	}
	return s
}

// Validate reports settings a muxer cannot start with (after defaults are
// applied), so the gateway can refuse them when it loads its configuration.
func (s Settings) Validate() error {
	s = s.withDefaults()
	v, err := parseVariant(s.Variant)
	if err != nil {
		return err
	}
	minSegments := 3
	if v == gohlslib.MuxerVariantLowLatency {
		minSegments = 7
	}
	if s.SegmentCount < minSegments {
		return fmt.Errorf("hls: segmentCount is %d, the %s variant needs at least %d", s.SegmentCount, s.Variant, minSegments)
	}
	return nil
}

func parseVariant(name string) (gohlslib.MuxerVariant, error) {
	switch name {
	case "", VariantLowLatency:
		return gohlslib.MuxerVariantLowLatency, nil
	case VariantFMP4:
		return gohlslib.MuxerVariantFMP4, nil
	case VariantMPEGTS:
		return gohlslib.MuxerVariantMPEGTS, nil
	}
	return 0, fmt.Errorf("hls: unknown variant %q (want %q, %q or %q)", name, VariantLowLatency, VariantFMP4, VariantMPEGTS)
}
