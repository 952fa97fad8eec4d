package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// Publisher is one source session feeding a path's stream: an RTSP pull, an
// RTSP or WHIP publisher, the demo clip. Its packets reach every reader.
type Publisher struct {
	path   *Path
	stream *Stream
	gen    uint32
	medias []*description.Media // the publisher's own description, index-aligned with the stream's
	tracks [][]*Track           // per media, the stream's tracks of its formats

	unknown atomic.Uint64
	ended   chan struct{}
	endOnce sync.Once
	endErr  error
}

func newPublisher(p *Path, st *Stream, gen uint32, desc *description.Session) *Publisher {
	pub := &Publisher{path: p, stream: st, gen: gen, ended: make(chan struct{})}
	k := 0
	for _, m := range desc.Medias {
		pub.medias = append(pub.medias, m)
		ts := make([]*Track, len(m.Formats))
		for j := range m.Formats {
			ts[j] = st.Tracks[k]
			k++
		}
		pub.tracks = append(pub.tracks, ts)
	}
	return pub
}

// Stream is the stream the publisher feeds.
func (pub *Publisher) Stream() *Stream { return pub.stream }

// WriteRTP hands one packet of media (a pointer from the description given to
// Publish) to the stream. pts is in the format's clock-rate ticks; ntp is the
// packet's absolute time when the source knows it, else zero. It never blocks
// on readers and does not keep pkt.
func (pub *Publisher) WriteRTP(media *description.Media, pkt *rtp.Packet, pts int64, ntp time.Time) {
	for i, m := range pub.medias {
		if m != media {
			continue
		}
		for _, t := range pub.tracks[i] {
			if t.Format.PayloadType() == pkt.PayloadType {
				pub.stream.writeRTP(t, pub.gen, pkt, pts, ntp)
				return
			}
		}
	}
	pub.unknown.Add(1)
}

// Close ends the publication: the source went down or the publisher left.
// Readers stay attached for the path's outage grace. It is idempotent.
func (pub *Publisher) Close() {
	pub.end(nil)
	pub.path.unpublish(pub)
}

// Done is closed when the publication ends, by Close or because the hub ended
// it (another publisher took over, the path closed); Err then says why.
func (pub *Publisher) Done() <-chan struct{} { return pub.ended }

// Err is why the hub ended the publication, or nil.
func (pub *Publisher) Err() error {
	select {
	case <-pub.ended:
		return pub.endErr
	default:
		return nil
	}
}

func (pub *Publisher) end(err error) {
	pub.endOnce.Do(func() {
		pub.endErr = err
		close(pub.ended)
	})
}
