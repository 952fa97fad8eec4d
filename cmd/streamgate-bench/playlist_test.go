package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A fresh gohlslib Low-Latency muxer (gap segments, then parts of segment 7
// in progress), as streamgate serves it.
const llPlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.50000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="d9590044f49d_video1_init.mp4"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T18:57:27.195Z
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part1.mp4"
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part2.mp4"
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part3.mp4"
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part4.mp4"
#EXTINF:1.00000,
d9590044f49d_video1_seg3.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T18:57:28.195Z
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part5.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="d9590044f49d_video1_part6.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="d9590044f49d_video1_part7.mp4"
`

func TestParseMediaPlaylist(t *testing.T) {
	pl, err := parseMediaPlaylist(llPlaylist)
	require.NoError(t, err)
	require.True(t, pl.lowLatency())
	require.Equal(t, 0.2, pl.PartTarget)
	require.Equal(t, "d9590044f49d_video1_init.mp4", pl.Map)
	require.Len(t, pl.Segments, 4)
	require.True(t, pl.Segments[0].Gap)
	require.Equal(t, uint64(3), pl.Segments[2].MSN)
	require.Equal(t, "d9590044f49d_video1_seg3.mp4", pl.Segments[2].URI)
	require.Len(t, pl.Segments[2].Parts, 5)
	require.True(t, pl.Segments[2].Parts[0].Independent)
	require.Len(t, pl.complete(), 3)
	first, ok := pl.firstMedia()
	require.True(t, ok)
	require.Equal(t, "d9590044f49d_video1_seg3.mp4", first)
	p, ok := pl.partAt(4, 1)
	require.True(t, ok)
	require.Equal(t, "d9590044f49d_video1_part6.mp4", p.URI)
}

func TestNextPart(t *testing.T) {
	const head = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n" +
		"#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:10\n"
	for _, tc := range []struct {
		name     string
		body     string
		msn      uint64
		part     int
		firstOK  bool
		firstURI string
	}{
		{
			name: "segment in progress: the part after the last",
			body: "#EXT-X-PART:DURATION=0.2,URI=\"p0.mp4\",INDEPENDENT=YES\n#EXTINF:1,\ns10.mp4\n" +
				"#EXT-X-PART:DURATION=0.2,URI=\"p5.mp4\"\n#EXT-X-PART:DURATION=0.2,URI=\"p6.mp4\"\n",
			msn: 11, part: 2, firstOK: true, firstURI: "s10.mp4",
		},
		{
			name: "last segment complete: part 0 of the next one",
			body: "#EXT-X-PART:DURATION=0.2,URI=\"p0.mp4\"\n#EXTINF:1,\ns10.mp4\n",
			msn:  11, part: 0, firstOK: true, firstURI: "s10.mp4",
		},
		{
			name: "only parts so far",
			body: "#EXT-X-PART:DURATION=0.2,URI=\"p0.mp4\"\n",
			msn:  10, part: 1, firstOK: true, firstURI: "p0.mp4",
		},
		{
			name: "only gaps",
			body: "#EXT-X-GAP\n#EXTINF:1,\ngap.mp4\n",
			msn:  11, part: 0,
		},
		{
			name: "empty",
			msn:  10, part: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := parseMediaPlaylist(head + tc.body)
			require.NoError(t, err)
			msn, part := pl.nextPart()
			require.Equal(t, tc.msn, msn)
			require.Equal(t, tc.part, part)
			first, ok := pl.firstMedia()
			require.Equal(t, tc.firstOK, ok)
			require.Equal(t, tc.firstURI, first)
		})
	}
}

func TestParseMediaPlaylistErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"<html>not found</html>",
		"#EXTM3U\nseg.mp4\n",
		"#EXTM3U\n#EXT-X-PART:DURATION=x,URI=\"a\"\n",
		"#EXTM3U\n#EXT-X-PART:DURATION=0.2\n",
	} {
		_, err := parseMediaPlaylist(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestParseMultivariant(t *testing.T) {
	video, audio, err := parseMultivariant("#EXTM3U\n#EXT-X-VERSION:10\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"a, b\",URI=\"audio2_stream.m3u8\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=3883224,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n\nvideo1_stream.m3u8\n")
	require.NoError(t, err)
	require.Equal(t, "video1_stream.m3u8", video)
	require.Equal(t, []string{"audio2_stream.m3u8"}, audio)

	video, _, err = parseMultivariant(llPlaylist)
	require.NoError(t, err)
	require.Equal(t, "", video, "a media playlist is its own variant")

	_, _, err = parseMultivariant("#EXTM3U\n")
	require.Error(t, err)
}

func TestBlockingURL(t *testing.T) {
	require.Equal(t, "http://127.0.0.1:8888/bench/video1_stream.m3u8?_HLS_msn=12&_HLS_part=3",
		withQuery(resolveURL("http://127.0.0.1:8888/bench/index.m3u8", "video1_stream.m3u8"), 12, 3))
	require.Equal(t, "http://127.0.0.1:8888/bench/index.m3u8", resolveURL("http://127.0.0.1:8888/bench/index.m3u8", ""))
}

func FuzzParsePlaylists(f *testing.F) {
	f.Add(llPlaylist)
	f.Add("#EXTM3U\n#EXT-X-PART:URI=\"a")
	f.Fuzz(func(_ *testing.T, s string) {
		if pl, err := parseMediaPlaylist(s); err == nil {
			pl.nextPart()
			pl.firstMedia()
		}
		_, _, _ = parseMultivariant(s)
		parseAttrs(s)
	})
}
