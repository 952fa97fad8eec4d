package rtspserver

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/rtpsender"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// chunkSize is the size of the buffers a session's outgoing frames are
// queued in. A chunk only ever holds whole frames, so each chunk can go out
// in one Write without another writer's bytes landing inside a frame.
const chunkSize = 64 << 10

// chunk is one queue buffer: interleaved frames ('$', channel, length,
// packet) back to back.
type chunk struct {
	b []byte
}

// chunkPool recycles chunks across the sessions of a server, so a session
// that is idle or caught up holds none.
type chunkPool struct {
	p sync.Pool
}

func (cp *chunkPool) get(n int) *chunk {
	if n > chunkSize {
		return &chunk{b: make([]byte, 0, n)} // a jumbo frame: not pooled
	}
	if c, _ := cp.p.Get().(*chunk); c != nil {
		return c
	}
	return &chunk{b: make([]byte, 0, chunkSize)}
}

func (cp *chunkPool) put(c *chunk) {
	if cap(c.b) != chunkSize {
		return
	}
	c.b = c.b[:0]
	cp.p.Put(c)
}

// frameSink puts queued chunks on the wire: the TCP connection of an
// interleaved session, or the server's UDP sockets.
type frameSink interface {
	write(batch []*chunk) error
}

// mediaOut is a reader session's own media writer. The hub's reader
// goroutine appends each RTP packet, already framed, to a queue bounded in
// bytes; the writer goroutine takes everything queued at once and writes
// it with one vectored write (TCP) or one sendmmsg (UDP). Packets are
// queued per access unit before the writer is woken, so a viewer costs
// one system call per frame instead of one per packet. gortsplib still
// speaks RTSP on the same connection: a net.Conn (and a tls.Conn) write is
// atomic with respect to other writes, and a chunk never splits a frame.
type mediaOut struct {
	ses      *session
	pool     *chunkPool
	limit    int // queued bytes beyond which packets are dropped
	srPeriod time.Duration

	mu     sync.Mutex
	sink   frameSink
	medias map[*description.Media]*outMedia
	queue  []*chunk // oldest first; the last one is being filled
	queued int      // bytes in queue
	open   bool     // the PLAY response is out: media may follow
	failed bool
	closed bool

	sent atomic.Uint64 // bytes written

	kick      chan struct{}
	stop      chan struct{}
	wg        *sync.WaitGroup // the server's: Server.Close waits for the writer
	startOnce sync.Once
	closeOnce sync.Once

	batch []*chunk // writer goroutine only
}

// outMedia is one media the session set up.
type outMedia struct {
	channel byte // interleaved RTP channel; RTCP is channel+1
	video   bool
	formats []*outFormat
	// pending says packets of an access unit of lastTS are queued but the
	// writer was not woken yet.
	pending bool
	lastTS  uint32
}

// outFormat keeps the sender report state of one format: gortsplib makes
// its reports from the packets it writes itself, so a session whose media
// bypasses it must report on its own.
type outFormat struct {
	pt     uint8
	format format.Format
	ssrc   uint32
	sender *rtpsender.Sender
}

func newMediaOut(ses *session, sink frameSink, pool *chunkPool, limit int, srPeriod time.Duration, wg *sync.WaitGroup) *mediaOut {
	return &mediaOut{
		ses:      ses,
		pool:     pool,
		limit:    limit,
		srPeriod: srPeriod,
		sink:     sink,
		medias:   make(map[*description.Media]*outMedia),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		wg:       wg,
	}
}

// addMedia registers a media of the session's SETUP with its channel and
// the SSRC gortsplib announced for each format.
func (o *mediaOut) addMedia(m *description.Media, channel int, ssrcs map[uint8]uint32) {
	om := &outMedia{channel: byte(channel), video: m.Type == description.MediaTypeVideo}
	for _, f := range m.Formats {
		of := &outFormat{pt: f.PayloadType(), format: f, ssrc: ssrcs[f.PayloadType()]}
		rtcpCh := byte(channel + 1)
		of.sender = &rtpsender.Sender{
			ClockRate:       f.ClockRate(),
			Period:          o.srPeriod,
			WritePacketRTCP: func(pkt rtcp.Packet) { o.writeRTCP(rtcpCh, pkt) },
		}
		of.sender.Initialize()
		om.formats = append(om.formats, of)
	}
	o.mu.Lock()
	closed := o.closed
	if !closed {
		o.medias[m] = om
	}
	o.mu.Unlock()
	if closed {
		for _, of := range om.formats {
			of.sender.Close()
		}
	}
}

// start runs the writer goroutine; close stops it.
func (o *mediaOut) start() {
	o.startOnce.Do(func() {
		o.wg.Add(1)
		go o.run()
	})
}

// setOpen lets the writer write (after the PLAY response went out) or
// holds it (a new PLAY request is being handled).
func (o *mediaOut) setOpen(open bool) {
	o.mu.Lock()
	o.open = open
	o.mu.Unlock()
	if open {
		o.wake()
	}
}

func (o *mediaOut) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// writeRTP queues one RTP packet. It returns false when the session's own
// writer does not serve this media or format, and the caller falls back to
// gortsplib. pkt's SSRC is overwritten, as gortsplib does.
func (o *mediaOut) writeRTP(m *description.Media, pkt *rtp.Packet, ntp time.Time) bool {
	o.mu.Lock()
	om := o.medias[m]
	var of *outFormat
	if om != nil {
		for _, f := range om.formats {
			if f.pt == pkt.PayloadType {
				of = f
				break
			}
		}
	}
	if of == nil {
		o.mu.Unlock()
		return false
	}
	pkt.SSRC = of.ssrc
	n := pkt.MarshalSize()
	if o.closed || o.failed || n > 0xffff || o.queued+4+n > o.limit {
		o.mu.Unlock()
		o.ses.writeErrors.Add(1)
		return true
	}
	buf := o.reserveLocked(4 + n)
	buf[0], buf[1] = '$', om.channel
	binary.BigEndian.PutUint16(buf[2:4], uint16(n))
	if _, err := pkt.MarshalTo(buf[4:]); err != nil {
		// Cannot happen with a buffer of MarshalSize; keep the frame valid.
		clear(buf[4:])
	}
	// Wake the writer at the end of an access unit (the marker bit, or the
	// first packet of the next one for a source that sets no markers), for
	// every packet of other media, and when a chunk's worth is waiting.
	flush := !om.video || pkt.Marker || (om.pending && pkt.Timestamp != om.lastTS) || o.queued >= chunkSize
	om.pending, om.lastTS = !flush, pkt.Timestamp
	o.mu.Unlock()

	of.sender.ProcessPacket(pkt, ntp, of.format.PTSEqualsDTS(pkt))
	if flush {
		o.wake()
	}
	return true
}

// writeRTCP queues a sender report on channel ch. Reports are not dropped
// for a full queue: there is one per format every few seconds.
func (o *mediaOut) writeRTCP(ch byte, pkt rtcp.Packet) {
	b, err := pkt.Marshal()
	if err != nil || len(b) > 0xffff {
		return
	}
	o.mu.Lock()
	if o.closed || o.failed {
		o.mu.Unlock()
		return
	}
	buf := o.reserveLocked(4 + len(b))
	buf[0], buf[1] = '$', ch
	binary.BigEndian.PutUint16(buf[2:4], uint16(len(b)))
	copy(buf[4:], b)
	o.mu.Unlock()
	o.wake()
}

// reserveLocked returns n bytes at the end of the queue.
func (o *mediaOut) reserveLocked(n int) []byte {
	var c *chunk
	if k := len(o.queue); k > 0 && cap(o.queue[k-1].b)-len(o.queue[k-1].b) >= n {
		c = o.queue[k-1]
	} else {
		c = o.pool.get(n)
		o.queue = append(o.queue, c)
	}
	l := len(c.b)
	c.b = c.b[:l+n]
	o.queued += n
	return c.b[l : l+n]
}

func (o *mediaOut) run() {
	defer o.wg.Done()
	for {
		select {
		case <-o.kick:
		case <-o.stop:
			return
		}
		for {
			o.mu.Lock()
			if !o.open || o.failed || len(o.queue) == 0 {
				o.mu.Unlock()
				break
			}
			o.batch = append(o.batch[:0], o.queue...)
			clear(o.queue)
			o.queue = o.queue[:0]
			o.queued = 0
			sink := o.sink
			o.mu.Unlock()

			var n int
			for _, c := range o.batch {
				n += len(c.b)
			}
			err := sink.write(o.batch)
			for i, c := range o.batch {
				o.pool.put(c)
				o.batch[i] = nil
			}
			if err != nil {
				o.fail(err)
				break
			}
			o.sent.Add(uint64(n))
		}
	}
}

// fail ends the session after a write error: the client is gone or has
// not taken anything for the write timeout.
func (o *mediaOut) fail(err error) {
	o.mu.Lock()
	o.failed = true
	o.releaseLocked()
	o.mu.Unlock()
	o.ses.logger().Info("closing a reader that cannot be written to", "error", err)
	o.ses.ss.Close()
}

func (o *mediaOut) releaseLocked() {
	for i, c := range o.queue {
		o.pool.put(c)
		o.queue[i] = nil
	}
	o.queue = o.queue[:0]
	o.queued = 0
}

// close stops the writer and the sender reports. What is still queued is
// dropped: the session is over. It does not wait for a write in progress,
// which a reader that stopped reading can hold for the write timeout: the
// writer goroutine ends after it, and Server.Close (which closes the
// connections) waits for it. It is idempotent.
func (o *mediaOut) close() {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		medias := o.medias
		o.releaseLocked()
		o.mu.Unlock()
		close(o.stop)
		for _, om := range medias {
			for _, of := range om.formats {
				of.sender.Close()
			}
		}
	})
}
