package rtspserver

import (
	"github.com/bluenviron/gortsplib/v5"

	"github.com/streamgate/streamgate/gateway/hub"
)

// multicastFeed writes a hub stream into the gortsplib stream that serves its
// multicast group: one writer for every multicast reader.
type multicastFeed struct {
	reader *hub.Reader
}

func (s *Server) startFeedLocked(st *hub.Stream, rs *gortsplib.ServerStream) error {
	rw := newRewriter(len(st.Tracks))
	rw.attach()
	r, err := st.AddReader(hub.ReaderConfig{
		Name:      "rtsp multicast",
		QueueSize: s.ReaderQueueSize,
		Start:     hub.StartNextKeyframe,
		OnUnit: func(u *hub.Unit, _ bool) error {
			pkt := rw.packet(u, false)
			rs.WritePacketRTPWithNTP(u.Track.Media, pkt, u.NTP) //nolint:errcheck // slow readers are gortsplib's to count
			return nil
		},
	})
	if err != nil {
		return err
	}
	f := &multicastFeed{reader: r}
	s.feeds[st] = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-r.Done()
		s.mu.Lock()
		if s.feeds[st] == f {
			delete(s.feeds, st)
		}
		s.mu.Unlock()
	}()
	return nil
}
