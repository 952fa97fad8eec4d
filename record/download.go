package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// An MP4 download of a span is a fragmented MP4 made of the first
// segment's init and the planned fragments copied from the segment files,
// with each track's tfdt moved so the file's timeline starts at 0. It is
// never written out: a download is a list of byte ranges of the segment
// files plus the 8-byte tfdt values that differ, so HTTP Range requests
// can be answered at any offset and the size is known in advance.

// piece is a run of the download: bytes of a file, or data held in memory.
type piece struct {
	file    string // "" for data
	off     int64  // in file
	size    int64
	data    []byte
	patches []patch
}

// patch replaces the 8 bytes at at (relative to the piece) with val.
type patch struct {
	at  int64
	val uint64
}

// download is a virtual MP4 file (io.ReaderAt).
type download struct {
	dir    string
	pieces []piece
	starts []int64 // offset of each piece in the download
	size   int64
	files  map[string]*os.File
}

// newDownload lays out the MP4 of a plan. Every planned segment must have
// the first one's init (else ErrFormatChanged names the time of the
// change). Reading the moofs to place the patches is the only I/O.
func newDownload(x *pathIndex, plan []planSeg) (*download, error) {
	d := &download{dir: x.dir, files: map[string]*os.File{}}
	init := plan[0].lay.init
	d.add(piece{data: init, size: int64(len(init))})
	origin := plan[0].frags[0].start
	for _, p := range plan {
		if !bytes.Equal(p.lay.init, init) {
			d.close()
			return nil, fmt.Errorf("path %s: the codecs change at %s: %w", x.name,
				p.frags[0].keyTime.UTC().Format(time.RFC3339Nano), ErrFormatChanged)
		}
		f, err := d.open(p.seg.name)
		if err != nil {
			d.close()
			return nil, err
		}
		for _, fi := range p.frags {
			pc := piece{file: p.seg.name, off: fi.off, size: fi.size}
			var hdr [16]byte
			n, _ := f.ReadAt(hdr[:], fi.off)
			msize, _, _, err := boxHeader(hdr[:n])
			if err != nil || int64(msize) > fi.size {
				d.close()
				return nil, fmt.Errorf("path %s: %s at %d: %w", x.name, p.seg.name, fi.off, errBox)
			}
			moof := make([]byte, msize)
			if _, err := f.ReadAt(moof, fi.off); err != nil {
				d.close()
				return nil, fmt.Errorf("path %s: read %s: %w", x.name, p.seg.name, err)
			}
			tracks, err := parseMoof(moof)
			if err != nil {
				d.close()
				return nil, fmt.Errorf("path %s: %s at %d: %w", x.name, p.seg.name, fi.off, err)
			}
			for _, t := range tracks {
				i := p.lay.trackIndex(t.id)
				if i < 0 || t.baseAt < 0 {
					continue
				}
				o := timeToTicks(origin, p.lay.tracks[i].timescale)
				pc.patches = append(pc.patches, patch{at: int64(t.baseAt), val: t.base - min(o, t.base)})
			}
			d.add(pc)
		}
	}
	return d, nil
}

func (d *download) add(p piece) {
	d.pieces = append(d.pieces, p)
	d.starts = append(d.starts, d.size)
	d.size += p.size
}

func (d *download) open(name string) (*os.File, error) {
	if f := d.files[name]; f != nil {
		return f, nil
	}
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil, err
	}
	d.files[name] = f
	return f, nil
}

// ReadAt implements io.ReaderAt.
func (d *download) ReadAt(b []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	n := 0
	i := sort.Search(len(d.starts), func(i int) bool { return d.starts[i] > off }) - 1
	for ; i < len(d.pieces) && n < len(b); i++ {
		p := d.pieces[i]
		in := off + int64(n) - d.starts[i]
		want := min(int64(len(b)-n), p.size-in)
		dst := b[n : n+int(want)]
		if p.file == "" {
			copy(dst, p.data[in:in+want])
		} else {
			f, err := d.open(p.file)
			if err != nil {
				return n, err
			}
			if _, err := f.ReadAt(dst, p.off+in); err != nil {
				return n, fmt.Errorf("read %s: %w", f.Name(), err)
			}
			for _, pt := range p.patches {
				var v [8]byte
				binary.BigEndian.PutUint64(v[:], pt.val)
				// Copy the part of the patch that falls inside dst.
				for k := int64(0); k < 8; k++ {
					if at := pt.at + k - in; at >= 0 && at < want {
						dst[at] = v[k]
					}
				}
			}
		}
		n += int(want)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// close closes the segment files the download opened.
func (d *download) close() {
	for _, f := range d.files {
		f.Close()
	}
	d.files = nil
}
