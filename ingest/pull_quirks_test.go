package ingest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// TestPullCameraQuirks serves real camera SDPs from testdata and checks that each
// quirk is tolerated: what is published, and that packets flow on every track.
func TestPullCameraQuirks(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		sdp      string
		refuse   []int
		protocol string
		want     string // published medias and codecs
		check    func(t *testing.T, desc *description.Session)
	}{
		{
			// Many cameras send SPS/PPS only in the SDP, never in band: the
			// description must carry them to the hub.
			name: "SPS and PPS only in the SDP",
			sdp:  "sps_pps_sdp_only.sdp",
			want: "[video[H264] audio[PCMA]]",
			check: func(t *testing.T, desc *description.Session) {
				var h264 *format.H264
				if desc.FindFormat(&h264) == nil {
					t.Fatal("no H264 format")
				}
				wantSPS, _ := base64.StdEncoding.DecodeString("Z00AKp2oHgCJ+WbgICAgQA==")
				wantPPS, _ := base64.StdEncoding.DecodeString("aO48gA==")
				if !bytes.Equal(h264.SPS, wantSPS) || !bytes.Equal(h264.PPS, wantPPS) {
					t.Fatalf("SPS %x PPS %x, want the SDP's", h264.SPS, h264.PPS)
				}
			},
		},
		{
			// Axis-style: dynamic payload types 96/97/98 and absolute control URLs;
			// the ONVIF metadata track is an unknown codec that passes through.
			name: "dynamic payload types 96 97 98",
			sdp:  "dynamic_payload_types.sdp",
			want: "[video[H264] audio[AAC] application[vnd.onvif.metadata]]",
			check: func(t *testing.T, desc *description.Session) {
				wantPayloadTypes(t, desc, 96, 97, 98)
				if _, ok := desc.Medias[2].Formats[0].(*format.Generic); !ok {
					t.Fatalf("metadata format is %T, want *format.Generic", desc.Medias[2].Formats[0])
				}
			},
		},
		{
			name: "unusual payload types 35 and 120",
			sdp:  "unusual_payload_types.sdp",
			want: "[video[H264] audio[AAC]]",
			check: func(t *testing.T, desc *description.Session) {
				wantPayloadTypes(t, desc, 35, 120)
			},
		},
		{
			// No a=control at all: the media is set up on the base URL.
			name: "media without control attribute",
			sdp:  "no_control.sdp",
			want: "[video[H264]]",
			check: func(t *testing.T, desc *description.Session) {
				if desc.Medias[0].Control != "" {
					t.Fatalf("control %q, want none", desc.Medias[0].Control)
				}
			},
		},
		{
			// Hikvision-style: an ONVIF metadata track (kept as an unknown codec), a
			// vendor track the camera refuses to set up (skipped), and an ONVIF
			// back channel (sendonly, skipped: we would have to send).
			name:   "unknown codec, refused track and back channel",
			sdp:    "unknown_codec_refused_track.sdp",
			refuse: []int{2},
			want:   "[video[H264] application[vnd.onvif.metadata]]",
		},
		{
			name:     "refused track over UDP",
			sdp:      "unknown_codec_refused_track.sdp",
			refuse:   []int{2},
			protocol: "auto",
			want:     "[video[H264] application[vnd.onvif.metadata]]",
		},
		{
			name: "audio only",
			sdp:  "audio_only_aac.sdp",
			want: "[audio[AAC]]",
			check: func(t *testing.T, desc *description.Session) {
				var aac *format.MPEG4Audio
				if desc.FindFormat(&aac) == nil || aac.Config.SampleRate != 44100 {
					t.Fatalf("want 44.1 kHz AAC, got %s", describeMedias(desc))
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 15*time.Second)
			sdp, desc := loadSDP(t, tc.sdp)
			cam := newTestCam(t, camOptions{sdp: sdp, desc: desc, refuse: tc.refuse, udp: tc.protocol == "auto"})
			cam.startFeeding()
			protocol := tc.protocol
			if protocol == "" {
				protocol = "tcp"
			}
			h := startPull(t, &Pull{URL: cam.url(""), Protocol: protocol})

			w := h.target.nextPublish(ctx, t)
			if got := describeMedias(w.desc); got != tc.want {
				t.Fatalf("published %s, want %s", got, tc.want)
			}
			if w.desc.BaseURL != nil {
				t.Fatal("published description carries the base URL (and its credentials)")
			}
			if tc.check != nil {
				tc.check(t, w.desc)
			}
			pkts := w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 10))
			checkPayloads(t, w.desc, pkts)

			s := waitStatus(ctx, t, h.p, stateIs(StateReady))
			if got, want := strings.Join(s.Tracks, ","), strings.Join(trackNames(w.desc.Medias), ","); got != want {
				t.Fatalf("status tracks %s, want %s", got, want)
			}
			if len(tc.refuse) > 0 && !strings.Contains(h.logs.String(), "skipping media") {
				t.Fatalf("refused track not logged:\n%s", h.logs)
			}
		})
	}
}

func wantPayloadTypes(t *testing.T, desc *description.Session, pts ...uint8) {
	t.Helper()
	if len(desc.Medias) != len(pts) {
		t.Fatalf("%d medias, want %d", len(desc.Medias), len(pts))
	}
	for i, pt := range pts {
		if got := desc.Medias[i].Formats[0].PayloadType(); got != pt {
			t.Fatalf("media %d: payload type %d, want %d", i, got, pt)
		}
	}
}
