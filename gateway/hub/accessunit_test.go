package hub

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"
)

// TestAccessUnitRoundTrip packetises frames with gortsplib's encoders and
// checks the hub hands back the same NAL units and AAC frames.
func TestAccessUnitRoundTrip(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00}
	pps := []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
	h264f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	aacf := &format.MPEG4Audio{
		PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 1},
	}
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264f}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{aacf}},
	}}
	st := newStream(desc, StreamConfig{}, discardLogger())
	defer st.close(ErrPathClosed)
	gen := st.goOnline()

	got := make(chan *AccessUnit, 16)
	r, err := st.AddReader(ReaderConfig{Name: "au", OnUnit: func(u *Unit, _ bool) error {
		if !u.AUStart {
			return nil
		}
		au, err := u.AccessUnit()
		if err != nil {
			return err
		}
		got <- au
		return nil
	}})
	require.NoError(t, err)
	defer r.Close()

	venc := &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: 1200, PacketizationMode: 1}
	require.NoError(t, venc.Init())
	big := append([]byte{0x65}, bytes.Repeat([]byte{0xab, 0xcd, 0x01}, 1500)...) // fragmented IDR slice
	idr := [][]byte{{0x09, 0xf0}, big}
	pkts, err := venc.Encode(idr)
	require.NoError(t, err)
	require.Greater(t, len(pkts), 2, "the IDR must be fragmented for this test")
	for _, p := range pkts {
		p.Timestamp = 9000
		st.writeRTP(st.Tracks[0], gen, p, 9000, time.Time{})
	}
	aenc := &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	require.NoError(t, aenc.Init())
	frames := [][]byte{bytes.Repeat([]byte{1}, 200), bytes.Repeat([]byte{2}, 180)}
	apkts, err := aenc.Encode(frames)
	require.NoError(t, err)
	for _, p := range apkts {
		st.writeRTP(st.Tracks[1], gen, p, 4800, time.Time{})
	}

	select {
	case au := <-got:
		require.True(t, au.RandomAccess)
		require.Equal(t, [][]byte{sps, pps, idr[0], big}, au.Payloads, "parameter sets from the SDP go in front of the IDR")
	case <-time.After(5 * time.Second):
		t.Fatal("no video access unit")
	}
	select {
	case au := <-got:
		require.Equal(t, frames, au.Payloads)
		require.Equal(t, int64(4800), au.PTS)
	case <-time.After(5 * time.Second):
		t.Fatal("no audio access unit")
	}
}

func TestAccessUnitRejectsBrokenInput(t *testing.T) {
	aacf := &format.MPEG4Audio{PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	for _, p := range [][]byte{nil, {0}, {0, 16}, {0, 16, 0xff, 0xf8}} {
		_, err := splitAAC(aacf, p)
		require.Error(t, err, "%x", p)
	}
	var frag fragment
	_, err := h264Split([]byte{0x7c, 0x05}, nil, &frag) // FU-A too short
	require.Error(t, err)
	_, err = h264Split([]byte{0x7c, 0x45, 0x01}, nil, &frag) // FU-A end without start
	require.Error(t, err)
	_, err = splitAggregate([]byte{0x00, 0x09, 0x01}, nil) // STAP-A size beyond the payload
	require.Error(t, err)
}
