package hls

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/streamgate/streamgate/gateway/hub"
)

// TrackStatus describes one track of a stream as the HLS muxer sees it.
type TrackStatus struct {
	// Index is the track's position in the hub stream (hub.Track.Index).
	Index int `json:"index"`
	// Codec is the codec's short name ("H264", "AAC", "PCMU"...).
	Codec string `json:"codec"`
	// Reason says why a track is left out; empty for carried tracks.
	Reason string `json:"reason,omitempty"`
}

// writeKind says which gohlslib Write method a track's frames go to.
type writeKind int

const (
	writeH264 writeKind = iota + 1
	writeH265
	writeAV1
	writeVP9
	writeAAC
	writeOpus
)

// carriedTrack is a hub track the muxer writes, with its gohlslib track.
type carriedTrack struct {
	hub  *hub.Track
	hls  *gohlslib.Track
	kind writeKind
}

// trackPlan is what a variant makes of a stream's tracks.
type trackPlan struct {
	carried []*carriedTrack
	leftOut []TrackStatus
}

// byIndex maps hub track indices to carried tracks (nil for left-out tracks).
func (p *trackPlan) byIndex(n int) []*carriedTrack {
	out := make([]*carriedTrack, n)
	for _, c := range p.carried {
		out[c.hub.Index] = c
	}
	return out
}

// carriedStatus lists the carried tracks for Status.
func (p *trackPlan) carriedStatus() []TrackStatus {
	out := make([]TrackStatus, len(p.carried))
	for i, c := range p.carried {
		out[i] = TrackStatus{Index: c.hub.Index, Codec: c.hub.CodecName()}
	}
	return out
}

// noTrackError is the reason a stream cannot be served at all.
func (p *trackPlan) noTrackError() error {
	parts := make([]string, len(p.leftOut))
	for i, l := range p.leftOut {
		parts[i] = fmt.Sprintf("track %d (%s): %s", l.Index, l.Codec, l.Reason)
	}
	return fmt.Errorf("%w: %s", ErrNoTrack, strings.Join(parts, "; "))
}

// planTracks decides which tracks of a stream a variant carries: the first
// video track of a codec the variant supports and the first audio track of
// a codec it supports. Everything else is left out with a reason.
func planTracks(tracks []*hub.Track, variant gohlslib.MuxerVariant) trackPlan {
	var plan trackPlan
	var haveVideo, haveAudio bool
	for _, t := range tracks {
		ht, kind, reason := hlsTrack(t.Format, variant)
		if reason == "" {
			isVideo := ht.Codec.IsVideo()
			switch {
			case isVideo && haveVideo:
				reason = "a second video track (HLS carries one)"
			case !isVideo && haveAudio:
				reason = "a second audio track (only the first is carried)"
			}
		}
		if reason != "" {
			plan.leftOut = append(plan.leftOut, TrackStatus{Index: t.Index, Codec: t.CodecName(), Reason: reason})
			continue
		}
		if ht.Codec.IsVideo() {
			haveVideo = true
		} else {
			haveAudio = true
		}
		plan.carried = append(plan.carried, &carriedTrack{hub: t, hls: ht, kind: kind})
	}
	return plan
}

// hlsTrack builds the gohlslib track of a format, or says why there is none.
func hlsTrack(f format.Format, variant gohlslib.MuxerVariant) (*gohlslib.Track, writeKind, string) {
	const tsOnly = "the MPEG-TS variant carries H.264 and AAC only"
	ts := variant == gohlslib.MuxerVariantMPEGTS
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		return &gohlslib.Track{
			Codec:     &codecs.H264{SPS: bytes.Clone(sps), PPS: bytes.Clone(pps)},
			ClockRate: 90000,
		}, writeH264, ""
	case *format.H265:
		if ts {
			return nil, 0, tsOnly
		}
		vps, sps, pps := f.SafeParams()
		return &gohlslib.Track{
			Codec:     &codecs.H265{VPS: bytes.Clone(vps), SPS: bytes.Clone(sps), PPS: bytes.Clone(pps)},
			ClockRate: 90000,
		}, writeH265, ""
	case *format.AV1:
		if ts {
			return nil, 0, tsOnly
		}
		// The sequence header is taken from the first keyframe.
		return &gohlslib.Track{Codec: &codecs.AV1{}, ClockRate: 90000}, writeAV1, ""
	case *format.VP9:
		if ts {
			return nil, 0, tsOnly
		}
		// Size, profile and colour are taken from the first keyframe.
		return &gohlslib.Track{Codec: &codecs.VP9{}, ClockRate: 90000}, writeVP9, ""
	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil, 0, "AAC without an AudioSpecificConfig in the SDP"
		}
		if f.SizeLength <= 0 {
			return nil, 0, "AAC in a packetisation mode other than AAC-hbr"
		}
		if f.ClockRate() != f.Config.SampleRate {
			return nil, 0, fmt.Sprintf("AAC with an RTP clock rate (%d) other than its sample rate (%d)", f.ClockRate(), f.Config.SampleRate)
		}
		return &gohlslib.Track{
			Codec:     &codecs.MPEG4Audio{Config: *f.Config},
			ClockRate: f.ClockRate(),
		}, writeAAC, ""
	case *format.Opus:
		if ts {
			return nil, 0, tsOnly
		}
		channels := f.ChannelCount
		if channels <= 0 {
			channels = 2
		}
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: channels}, ClockRate: 48000}, writeOpus, ""
	case *format.VP8:
		return nil, 0, "VP8 is not supported by HLS"
	case *format.G711, *format.G722, *format.LPCM:
		return nil, 0, "not supported by HLS (use WebRTC or RTSP for this audio)"
	}
	return nil, 0, "not supported by HLS"
}
