// Package timeline is the contract between the places that keep media for
// later (the in-memory timeshift buffer, recordings on disk) and the outputs
// that play it back with pause and seek (RTSP sessions, HTTP playback). A
// Source knows a span of wall-clock time; a Cursor walks it frame by frame.
package timeline

import (
	"context"
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// ErrOutOfRange says a requested time is not inside what the source keeps
// (RTSP answers 457 Invalid Range).
var ErrOutOfRange = errors.New("requested time is outside the available range")

// ErrEvicted says the frames a cursor was about to return are gone: a
// session paused longer than the timeshift window holds.
var ErrEvicted = errors.New("the position was evicted from the buffer")

// Frame is one access unit of one track, as RTP packets ready to be sent.
// The packets keep the source's header fields; a sender rewrites sequence
// numbers, timestamps and SSRC for its own session and must not modify the
// packets themselves (copy the header first). A Frame is valid until the
// next call to Next on the cursor that returned it.
type Frame struct {
	// Track is the index of the frame's media in Source.Description().Medias.
	Track int
	// Time is the wall-clock capture time of the access unit; every packet
	// of the frame shares it, and frames of all tracks are ordered by it.
	Time time.Time
	// Random says a decoder can start here (a keyframe; every audio frame).
	Random bool
	// Packets are the frame's RTP packets in order.
	Packets []*rtp.Packet
}

// Source is media kept over a span of wall-clock time.
type Source interface {
	// Description is the session description the frames belong to; a
	// Frame's Track indexes its Medias, each of which has one format.
	Description() *description.Session
	// Span is the time range that can be played now. end is the live
	// edge for a timeshift buffer and the end of the last recording else.
	Span() (start, end time.Time)
	// Seek returns a cursor at the newest random-access frame of the video
	// track (the first track when there is no video) at or before t, and
	// that frame's time. It returns ErrOutOfRange when t is outside Span.
	Seek(t time.Time) (Cursor, time.Time, error)
}

// Cursor walks a source forward in time order across all tracks.
type Cursor interface {
	// Next returns the next frame. At the live edge of a timeshift buffer
	// it waits for one to arrive or for ctx; at the end of recordings it
	// returns io.EOF. ErrEvicted means the cursor fell out of the window.
	Next(ctx context.Context) (*Frame, error)
	// Close releases what the cursor holds. It is idempotent.
	Close()
}
