package rtspserver

import (
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// writePacket sends one RTP packet of the session's medias to its client.
// Every media packet a reader session sends goes through here, live and
// played back alike, so the way packets reach the wire is decided in one
// place. pkt may be reused by the caller once writePacket returns.
func (ses *session) writePacket(m *description.Media, pkt *rtp.Packet, ntp time.Time) {
	if err := ses.ss.WritePacketRTPWithNTP(m, pkt, ntp); err != nil {
		ses.writeErrors.Add(1)
	}
}
