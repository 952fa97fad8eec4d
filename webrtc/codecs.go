package webrtc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/streamgate/streamgate/gateway/hub"
)

// Reasons a track is left out, shown in Status and in 406 bodies.
const (
	reasonAAC        = "AAC cannot be played by browsers over WebRTC"
	reasonG711       = "browsers play G.711 over WebRTC only at 8 kHz mono"
	reasonUnknown    = "this codec cannot be sent over WebRTC"
	reasonNotOffered = "the viewer's offer has no matching codec"
	reasonOneVideo   = "only one video track is sent"
	reasonOneAudio   = "only one audio track is sent"
)

// videoFeedback is the RTCP feedback we answer for video: NACK, PLI and FIR,
// which the server turns into retransmissions and keyframe replays.
var videoFeedback = []pwebrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}

// registerCodecs registers what the server sends and receives: pion's
// defaults without H.264 packetization-mode 0 (we always fragment) and
// without RTX (retransmissions go on the media SSRC).
func registerCodecs(me *pwebrtc.MediaEngine) error {
	audio := []pwebrtc.RTPCodecParameters{
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeG722, ClockRate: 8000}, PayloadType: 9},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	}
	for _, c := range audio {
		if err := me.RegisterCodec(c, pwebrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	h264 := func(pt pwebrtc.PayloadType, profile string) pwebrtc.RTPCodecParameters {
		return pwebrtc.RTPCodecParameters{RTPCodecCapability: pwebrtc.RTPCodecCapability{
			MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
		}, PayloadType: pt}
	}
	video := []pwebrtc.RTPCodecParameters{
		h264(102, "42001f"), h264(106, "42e01f"), h264(127, "4d001f"), h264(112, "64001f"),
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH265, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 116},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFeedback}, PayloadType: 98},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2", RTCPFeedback: videoFeedback}, PayloadType: 100},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 45},
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, pwebrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return nil
}

// sendKind says how a track's units become WebRTC packets.
type sendKind int

const (
	// sendH264 re-packetises decoded frames to browser-sized payloads.
	sendH264 sendKind = iota + 1
	// sendH265 re-packetises decoded frames to browser-sized payloads.
	sendH265
	// sendVideoPackets forwards video RTP payloads as they are (VP8, VP9, AV1).
	sendVideoPackets
	// sendAudioPackets forwards audio RTP payloads (one frame per packet).
	sendAudioPackets
)

// offeredCodec is one payload type of an offer's media section.
type offeredCodec struct {
	pt       uint8
	name     string // upper case: "H264", "OPUS"
	clock    int
	channels int
	fmtp     string
}

// offeredMedia is one media section of an offer the server could send on.
type offeredMedia struct {
	kind   string // "video" or "audio"
	codecs []offeredCodec
}

// parseOffer returns the media sections of an offer, and whether each can
// receive (WHEP) or send (WHIP) media.
func parseOffer(desc *sdp.SessionDescription, wantRecv bool) []offeredMedia {
	var out []offeredMedia
	for _, md := range desc.MediaDescriptions {
		kind := md.MediaName.Media
		if (kind != "video" && kind != "audio") || md.MediaName.Port.Value == 0 {
			continue
		}
		dir := "sendrecv"
		for _, a := range md.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		if dir == "inactive" || (wantRecv && dir == "sendonly") || (!wantRecv && dir == "recvonly") {
			continue
		}
		om := offeredMedia{kind: kind}
		fmtps := map[string]string{}
		for _, a := range md.Attributes {
			if a.Key == "fmtp" {
				pt, params, _ := strings.Cut(a.Value, " ")
				fmtps[pt] = strings.TrimSpace(params)
			}
		}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			ptStr, enc, ok := strings.Cut(a.Value, " ")
			pt, err := strconv.ParseUint(ptStr, 10, 7)
			if !ok || err != nil {
				continue
			}
			parts := strings.Split(enc, "/")
			c := offeredCodec{pt: uint8(pt), name: strings.ToUpper(parts[0]), fmtp: fmtps[ptStr]}
			if len(parts) > 1 {
				c.clock, _ = strconv.Atoi(parts[1])
			}
			if len(parts) > 2 {
				c.channels, _ = strconv.Atoi(parts[2])
			}
			om.codecs = append(om.codecs, c)
		}
		out = append(out, om)
	}
	return out
}

// outSpec is a hub track the session sends, with the codec it is sent as.
type outSpec struct {
	track *hub.Track
	send  sendKind
	codec pwebrtc.RTPCodecParameters
	kind  pwebrtc.RTPCodecType
}

// trackPlan is what a viewer gets of a stream.
type trackPlan struct {
	video, audio *outSpec
	carried      []TrackStatus
	leftOut      []TrackStatus
}

func (p *trackPlan) specs() []*outSpec {
	var out []*outSpec
	for _, s := range []*outSpec{p.video, p.audio} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// planTracks picks the first video and the first audio track of the stream
// that WebRTC can carry and the offer accepts. A nil offer accepts every
// codec (what Status shows).
func planTracks(tracks []*hub.Track, offer []offeredMedia) trackPlan {
	var p trackPlan
	for _, t := range tracks {
		st := TrackStatus{Index: t.Index, Codec: t.CodecName()}
		send, reason := sendKindOf(t)
		if reason != "" {
			st.Reason = reason
			p.leftOut = append(p.leftOut, st)
			continue
		}
		slot, other := &p.audio, reasonOneAudio
		kind := pwebrtc.RTPCodecTypeAudio
		if t.IsVideo() {
			slot, other, kind = &p.video, reasonOneVideo, pwebrtc.RTPCodecTypeVideo
		}
		if *slot != nil {
			st.Reason = other
			p.leftOut = append(p.leftOut, st)
			continue
		}
		if offer == nil { // no viewer yet: only what no browser could get
			*slot = &outSpec{track: t, send: send, kind: kind}
			p.carried = append(p.carried, st)
			continue
		}
		codec, ok := matchOffer(t, kind, offer)
		if !ok {
			st.Reason = reasonNotOffered
			p.leftOut = append(p.leftOut, st)
			continue
		}
		*slot = &outSpec{track: t, send: send, codec: codec, kind: kind}
		p.carried = append(p.carried, st)
	}
	return p
}

// Unplayable lists the tracks of a stream that no browser gets over
// WebRTC, whatever it offers, each with the reason (AAC audio, a second
// video track...), so a path can say so before anyone watches.
func Unplayable(tracks []*hub.Track) []TrackStatus {
	return planTracks(tracks, nil).leftOut
}

// sendKindOf says how a track is sent, or why it cannot be.
func sendKindOf(t *hub.Track) (sendKind, string) {
	switch f := t.Format.(type) {
	case *format.H264:
		return sendH264, ""
	case *format.H265:
		return sendH265, ""
	case *format.VP8, *format.VP9, *format.AV1:
		return sendVideoPackets, ""
	case *format.Opus, *format.G722:
		return sendAudioPackets, ""
	case *format.G711:
		if f.SampleRate != 8000 || f.ChannelCount != 1 {
			return 0, reasonG711
		}
		return sendAudioPackets, ""
	case *format.MPEG4Audio, *format.MPEG4AudioLATM:
		return 0, reasonAAC
	}
	return 0, reasonUnknown
}

// matchOffer finds the offered payload type a track goes out as. The
// answer repeats the offer's own fmtp line, as RFC 6184 wants for H.264.
func matchOffer(t *hub.Track, kind pwebrtc.RTPCodecType, offer []offeredMedia) (pwebrtc.RTPCodecParameters, bool) {
	name, mime, clock, channels := wireCodec(t.Format)
	if offer == nil {
		return pwebrtc.RTPCodecParameters{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: mime, ClockRate: uint32(clock), Channels: uint16(channels)}}, true
	}
	var best *offeredCodec
	bestScore := -1
	for _, om := range offer {
		if om.kind != kind.String() {
			continue
		}
		for i := range om.codecs {
			c := &om.codecs[i]
			if c.name != name || c.clock != clock {
				continue
			}
			score := codecScore(t.Format, c)
			if score > bestScore {
				best, bestScore = c, score
			}
		}
	}
	if best == nil || bestScore < 0 {
		return pwebrtc.RTPCodecParameters{}, false
	}
	var fb []pwebrtc.RTCPFeedback
	if kind == pwebrtc.RTPCodecTypeVideo {
		fb = videoFeedback
	}
	if best.channels > 0 {
		channels = best.channels
	}
	return pwebrtc.RTPCodecParameters{
		RTPCodecCapability: pwebrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: uint32(clock), Channels: uint16(channels),
			SDPFmtpLine: best.fmtp, RTCPFeedback: fb,
		},
		PayloadType: pwebrtc.PayloadType(best.pt),
	}, true
}

// codecScore ranks an offered payload type for a track; negative rejects it.
func codecScore(f format.Format, c *offeredCodec) int {
	h, ok := f.(*format.H264)
	if !ok {
		return 0
	}
	params := fmtpParams(c.fmtp)
	if params["packetization-mode"] != "1" {
		return -1
	}
	plid := params["profile-level-id"]
	sps, _ := h.SafeParams()
	switch {
	case len(sps) >= 4 && len(plid) >= 2 && strings.EqualFold(plid[:2], fmt.Sprintf("%02x", sps[1])):
		return 3 // the stream's own profile
	case strings.EqualFold(plid, "42e01f"):
		return 2 // constrained baseline: every browser decodes it, and decoders take higher profiles anyway
	}
	return 1
}

func fmtpParams(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

// wireCodec is a format's name in SDP (upper case), its pion MIME type,
// RTP clock rate and SDP channel count.
func wireCodec(f format.Format) (name, mime string, clock, channels int) {
	switch f := f.(type) {
	case *format.H264:
		return "H264", pwebrtc.MimeTypeH264, 90000, 0
	case *format.H265:
		return "H265", pwebrtc.MimeTypeH265, 90000, 0
	case *format.VP8:
		return "VP8", pwebrtc.MimeTypeVP8, 90000, 0
	case *format.VP9:
		return "VP9", pwebrtc.MimeTypeVP9, 90000, 0
	case *format.AV1:
		return "AV1", pwebrtc.MimeTypeAV1, 90000, 0
	case *format.Opus:
		return "OPUS", pwebrtc.MimeTypeOpus, 48000, 2
	case *format.G722:
		return "G722", pwebrtc.MimeTypeG722, 8000, 0
	case *format.G711:
		if f.MULaw {
			return "PCMU", pwebrtc.MimeTypePCMU, 8000, 0
		}
		return "PCMA", pwebrtc.MimeTypePCMA, 8000, 0
	}
	return "", "", 0, 0
}

// offerCodecNames lists the codecs of an offer for a 406 body.
func offerCodecNames(offer []offeredMedia) string {
	seen := map[string]bool{}
	var names []string
	for _, om := range offer {
		for _, c := range om.codecs {
			n := c.name
			if n == "RTX" || n == "RED" || n == "ULPFEC" || n == "FLEXFEC-03" || n == "TELEPHONE-EVENT" || n == "CN" {
				continue
			}
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// formatFor maps a codec a WHIP client sends to the hub's format and media type.
func formatFor(c pwebrtc.RTPCodecParameters) (format.Format, description.MediaType, error) {
	pt := uint8(c.PayloadType)
	switch strings.ToLower(c.MimeType) {
	case strings.ToLower(pwebrtc.MimeTypeH264):
		return &format.H264{PayloadTyp: pt, PacketizationMode: 1}, description.MediaTypeVideo, nil
	case strings.ToLower(pwebrtc.MimeTypeH265):
		return &format.H265{PayloadTyp: pt}, description.MediaTypeVideo, nil
	case strings.ToLower(pwebrtc.MimeTypeVP8):
		return &format.VP8{PayloadTyp: pt}, description.MediaTypeVideo, nil
	case strings.ToLower(pwebrtc.MimeTypeVP9):
		return &format.VP9{PayloadTyp: pt}, description.MediaTypeVideo, nil
	case strings.ToLower(pwebrtc.MimeTypeAV1):
		return &format.AV1{PayloadTyp: pt}, description.MediaTypeVideo, nil
	case strings.ToLower(pwebrtc.MimeTypeOpus):
		return &format.Opus{PayloadTyp: pt, ChannelCount: 2}, description.MediaTypeAudio, nil
	case strings.ToLower(pwebrtc.MimeTypeG722):
		return &format.G722{}, description.MediaTypeAudio, nil
	case strings.ToLower(pwebrtc.MimeTypePCMU):
		return &format.G711{PayloadTyp: pt, MULaw: true, SampleRate: 8000, ChannelCount: 1}, description.MediaTypeAudio, nil
	case strings.ToLower(pwebrtc.MimeTypePCMA):
		return &format.G711{PayloadTyp: pt, SampleRate: 8000, ChannelCount: 1}, description.MediaTypeAudio, nil
	}
	return nil, "", fmt.Errorf("codec %s cannot be published", c.MimeType)
}
