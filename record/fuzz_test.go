package record

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// FuzzParseSegmentName: file names from requests and directories either
// parse to the time they encode, written back the same, or are refused.
func FuzzParseSegmentName(f *testing.F) {
	for _, s := range []string{"2026-11-25_20-34-23.123456.mp4", "2026-11-25_20-34-23.mp4", "../../etc/passwd", "9999-99-99_99-99-99.999999.mp4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tm, err := parseSegmentName(name)
		if err != nil {
			return
		}
		if back := segmentName(tm); back != name {
			t.Fatalf("%q parsed to %v, which is named %q", name, tm, back)
		}
	})
}

// FuzzParseRange: start and end query parameters never panic, and what
// is accepted is in range and ordered.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"start=2026-11-25T10:00:00Z&end=2026-11-25T11:00:00Z", "start=now", "start=-0001-01-01T00:00:00Z", "end=99999-01-01T00:00:00Z&start=1", "start=a&start=b"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, required bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		start, end, err := parseRange(q, required)
		if err != nil {
			return
		}
		for _, tm := range []time.Time{start, end} {
			if !tm.IsZero() && (tm.Before(minTime) || tm.After(maxTime)) {
				t.Fatalf("%q: accepted %v", raw, tm)
			}
		}
		if !start.IsZero() && !end.IsZero() && !end.After(start) {
			t.Fatalf("%q: end %v not after start %v", raw, end, start)
		}
	})
}

// FuzzScanSegment: whatever a segment file holds (a crash, a disk error,
// another program), reading its init, scanning its fragments and reading
// every fragment's samples never panics and stays inside the data.
func FuzzScanSegment(f *testing.F) {
	var buf seekablebuffer.Buffer
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &codecs.H264{
		SPS: []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x7e, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x92},
		PPS: []byte{0x68, 0xce, 0x3c, 0x80},
	}}}}
	if err := init.Marshal(&buf); err != nil {
		f.Fatal(err)
	}
	part := fmp4.Part{SequenceNumber: 1, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: 1 << 40, Samples: []*fmp4.Sample{
		{Duration: 3600, Payload: []byte{0, 0, 0, 2, 0x65, 0x88}},
		{Duration: 3600, IsNonSyncSample: true, PTSOffset: 3600, Payload: []byte{0, 0, 0, 2, 0x41, 0x9a}},
	}}}}
	if err := part.Marshal(&buf); err != nil {
		f.Fatal(err)
	}
	whole := bytes.Clone(buf.Bytes())
	f.Add(whole)
	f.Add(whole[:len(whole)-3])
	f.Add(whole[len(whole)/2:])
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		lay, err := readLayout(r, int64(len(data)))
		if err != nil {
			// The fragments alone still must not panic the moof reader.
			if size, typ, _, err := boxHeader(data); err == nil && typ == "moof" && size <= uint64(len(data)) {
				parseMoof(data[:size]) //nolint:errcheck // only panics matter
			}
			return
		}
		frags, valid := scanFragments(r, int64(len(data)), lay)
		if valid > int64(len(data)) || valid < int64(len(lay.init)) {
			t.Fatalf("valid size %d of %d", valid, len(data))
		}
		for _, fi := range frags {
			if fi.off < 0 || fi.off+fi.size > valid {
				t.Fatalf("fragment %d+%d outside %d", fi.off, fi.size, valid)
			}
			moof := data[fi.off : fi.off+fi.size]
			size, _, _, err := boxHeader(moof)
			if err != nil {
				t.Fatalf("a scanned fragment has no header: %v", err)
			}
			tracks, err := parseMoof(moof[:size])
			if err != nil {
				t.Fatalf("a scanned fragment does not parse: %v", err)
			}
			for _, tr := range tracks {
				for _, s := range tr.samples {
					if s.offset < 0 || s.offset+int64(s.size) > fi.size {
						t.Fatalf("sample %d+%d outside the fragment of %d", s.offset, s.size, fi.size)
					}
				}
			}
		}
	})
}

// FuzzValidPathName: an accepted name never leaves the store's directory.
func FuzzValidPathName(f *testing.F) {
	for _, s := range []string{"cam1", "site/door", "../x", "a//b", "/abs", "a/./b", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !ValidPathName(name) {
			return
		}
		for _, bad := range []string{"..", "//", "\\", "\x00"} {
			if bytes.Contains([]byte(name), []byte(bad)) && (bad != ".." || name == ".." || bytes.HasPrefix([]byte(name), []byte("../")) || bytes.Contains([]byte(name), []byte("/../")) || bytes.HasSuffix([]byte(name), []byte("/.."))) {
				t.Fatalf("accepted %q", name)
			}
		}
		if name[0] == '/' {
			t.Fatalf("accepted %q", name)
		}
	})
}
