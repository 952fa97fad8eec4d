package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Unit is one RTP packet of a stream as the source sent it, with the facts the
// hub derived from it once for every reader. A Unit is immutable once it has
// been handed to readers; a reader that must change header fields copies the
// header (the payload may be shared as long as it is not modified).
type Unit struct {
	// Track is the track the packet belongs to.
	Track *Track
	// Packet is the RTP packet. Payload points into memory owned by the unit.
	// Header extensions are not kept.
	Packet rtp.Packet
	// PTS is the presentation time in the track's clock-rate ticks.
	PTS int64
	// NTP is the absolute time of the packet: from the source's RTCP sender
	// reports when known, else derived from the arrival time of the stream's
	// first packet plus PTS.
	NTP time.Time
	// Received is when the hub received the packet.
	Received time.Time
	// Gen counts source sessions on the stream; it changes when a source comes
	// back after an outage, so readers know timestamps restart.
	Gen uint32
	// AUStart marks the first packet of an access unit.
	AUStart bool
	// RandomAccess marks every packet of an access unit a decoder can start at
	// (an IDR or CRA picture; every audio packet).
	RandomAccess bool

	refs    atomic.Int32
	payload []byte
	csrc    []uint32
	pool    *unitPool

	// auParts are the other packets of the access unit this unit starts
	// (retained), so the frame can be decoded later, once, for whoever asks.
	auParts []*Unit
	auOnce  sync.Once
	au      *AccessUnit
	auErr   error

	// memo is what an output derived from the unit once for all readers (Memo).
	memoOnce sync.Once
	memo     any
}

// Memo returns f's result for this unit, calling f only once for all the
// readers that ask: an output uses it to do work that is the same for
// every reader once per stream instead of once per reader (WebRTC
// packetises each frame once). The value lives as long as the unit.
func (u *Unit) Memo(f func() any) any {
	u.memoOnce.Do(func() { u.memo = f() })
	return u.memo
}

// Retain adds a reference, for a reader that keeps the unit past its callback.
func (u *Unit) Retain() { u.refs.Add(1) }

// Release drops a reference taken by Retain; the unit is recycled when none remain.
func (u *Unit) Release() {
	if n := u.refs.Add(-1); n == 0 {
		u.pool.put(u)
	} else if n < 0 {
		panic("hub: Unit released more often than retained")
	}
}

// unitPool recycles units and their payload buffers so the packet path does
// not allocate in steady state.
type unitPool struct {
	p sync.Pool

	// countLive, set by tests before the first packet, makes live count the
	// units taken and not yet recycled; off, it costs one predictable branch.
	countLive bool
	live      atomic.Int64
}

func (up *unitPool) get() *Unit {
	u, _ := up.p.Get().(*Unit)
	if u == nil {
		u = &Unit{pool: up, payload: make([]byte, 0, 1500)}
	}
	u.refs.Store(1)
	if up.countLive {
		up.live.Add(1)
	}
	return u
}

func (up *unitPool) put(u *Unit) {
	if up.countLive {
		up.live.Add(-1)
	}
	u.Track = nil
	u.Packet.Payload = nil
	u.Packet.CSRC = nil
	// A recycled unit must neither keep the other packets of its old access
	// unit alive nor hand out that unit's decoded frame.
	for i, part := range u.auParts {
		part.Release()
		u.auParts[i] = nil
	}
	u.auParts = u.auParts[:0]
	u.au, u.auErr = nil, nil
	u.auOnce = sync.Once{}
	u.memo = nil
	u.memoOnce = sync.Once{}
	up.p.Put(u)
}

// fill copies pkt into the unit.
func (u *Unit) fill(pkt *rtp.Packet) {
	u.Packet.Header = pkt.Header
	u.Packet.Extension = false
	u.Packet.ExtensionProfile = 0
	u.Packet.Extensions = nil
	u.Packet.Padding = false
	u.Packet.PaddingSize = 0
	if len(pkt.CSRC) > 0 {
		u.csrc = append(u.csrc[:0], pkt.CSRC...)
		u.Packet.CSRC = u.csrc
	} else {
		u.Packet.CSRC = nil
	}
	u.payload = append(u.payload[:0], pkt.Payload...)
	u.Packet.Payload = u.payload
	u.AUStart = false
	u.RandomAccess = false
}
