package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// testCtx bounds a test so that a hang fails fast with a message.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recvPacket is one packet a fakeWriter received.
type recvPacket struct {
	media *description.Media
	pkt   *rtp.Packet
	pts   int64
	ntp   time.Time
	at    time.Time
}

// fakeTarget records publications; tests await them through channels.
type fakeTarget struct {
	mu        sync.Mutex
	refuse    error
	writers   []*fakeWriter
	published chan *fakeWriter
}

func newFakeTarget() *fakeTarget {
	return &fakeTarget{published: make(chan *fakeWriter, 64)}
}

func (ft *fakeTarget) setRefuse(err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.refuse = err
}

func (ft *fakeTarget) Publish(desc *description.Session) (Writer, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.refuse != nil {
		return nil, ft.refuse
	}
	for _, w := range ft.writers {
		if !w.isClosed() {
			return nil, errors.New("fake target: already published")
		}
	}
	w := &fakeWriter{desc: desc, closed: make(chan struct{}), changed: make(chan struct{})}
	ft.writers = append(ft.writers, w)
	ft.published <- w
	return w, nil
}

// nextPublish waits for the next publication.
func (ft *fakeTarget) nextPublish(ctx context.Context, t *testing.T) *fakeWriter {
	t.Helper()
	select {
	case w := <-ft.published:
		return w
	case <-ctx.Done():
		t.Fatalf("no publication: %v", ctx.Err())
		return nil
	}
}

// fakeWriter records the packets of one publication.
type fakeWriter struct {
	desc *description.Session

	mu        sync.Mutex
	packets   []recvPacket
	errs      []string
	changed   chan struct{} // closed and replaced on every packet
	closed    chan struct{}
	closeOnce sync.Once
}

func (w *fakeWriter) WriteRTP(media *description.Media, pkt *rtp.Packet, pts int64, ntp time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isClosed() {
		w.errs = append(w.errs, "WriteRTP after Close")
	}
	if !slices.Contains(w.desc.Medias, media) {
		w.errs = append(w.errs, "media pointer not from the published description")
	}
	w.packets = append(w.packets, recvPacket{media: media, pkt: pkt.Clone(), pts: pts, ntp: ntp, at: time.Now()})
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *fakeWriter) Close() {
	w.closeOnce.Do(func() { close(w.closed) })
}

func (w *fakeWriter) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// waitClosed waits until the publication is closed.
func (w *fakeWriter) waitClosed(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case <-w.closed:
	case <-ctx.Done():
		t.Fatalf("writer not closed: %v", ctx.Err())
	}
}

// waitPackets waits until ok accepts the packets received so far, and returns them.
func (w *fakeWriter) waitPackets(ctx context.Context, t *testing.T, ok func([]recvPacket) bool) []recvPacket {
	t.Helper()
	for {
		w.mu.Lock()
		pkts := slices.Clone(w.packets)
		changed := w.changed
		errs := slices.Clone(w.errs)
		w.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("writer misuse: %v", errs)
		}
		if ok(pkts) {
			return pkts
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("packets not received (%d so far): %v", len(pkts), ctx.Err())
		}
	}
}

// atLeastPerMedia accepts packets once every published media has n of them.
func atLeastPerMedia(desc *description.Session, n int) func([]recvPacket) bool {
	return func(pkts []recvPacket) bool {
		count := map[*description.Media]int{}
		for _, p := range pkts {
			count[p.media]++
		}
		for _, m := range desc.Medias {
			if count[m] < n {
				return false
			}
		}
		return true
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitStatus waits until ok accepts the source's status, and returns it.
func waitStatus(ctx context.Context, t *testing.T, p *Pull, ok func(Status) bool) Status {
	t.Helper()
	for {
		s, changed := p.status.watch()
		if ok(s) {
			return s
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("status condition not reached, last %+v: %v", s, ctx.Err())
		}
	}
}

func stateIs(st State) func(Status) bool {
	return func(s Status) bool { return s.State == st }
}

func describeMedias(desc *description.Session) string {
	var out []string
	for _, m := range desc.Medias {
		out = append(out, fmt.Sprintf("%s%v", m.Type, trackNames([]*description.Media{m})))
	}
	return fmt.Sprint(out)
}
