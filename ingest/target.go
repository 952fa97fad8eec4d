// Package ingest holds the sources the gateway starts itself: RTSP pull from
// cameras or other servers (with reconnect and status) and the embedded demo clip.
package ingest

import (
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// Target is the path a source publishes into.
type Target interface {
	// Publish announces a session description; packets follow through the returned Writer.
	// It fails when the path refuses the source.
	Publish(desc *description.Session) (Writer, error)
}

// Writer takes the packets of one publication.
type Writer interface {
	// WriteRTP hands over one packet of media (a pointer from the published description).
	// pts is in the format's clock-rate ticks; ntp is the absolute time if known (zero otherwise).
	// It must not block and does not retain pkt after returning.
	WriteRTP(media *description.Media, pkt *rtp.Packet, pts int64, ntp time.Time)
	// Close ends the publication (the source went down).
	Close()
}
