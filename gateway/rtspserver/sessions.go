package rtspserver

import (
	"sort"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// SessionInfo describes one RTSP session for the API.
type SessionInfo struct {
	// ID is the session's id, as its log lines show it.
	ID string
	// Path is the path the session reads or publishes; "" before SETUP or ANNOUNCE.
	Path string
	// Remote is the client's address.
	Remote string
	// Publishing is true for a session that announced a stream.
	Publishing bool
	// Since is when the session was created.
	Since time.Time
	// BytesReceived and BytesSent count the media bytes of the session.
	BytesReceived uint64
	BytesSent     uint64
	// PacketsLost counts the RTP packets a publishing session lost on the
	// way in, as gortsplib reports them.
	PacketsLost uint64
}

// register makes ses known to Sessions and CloseSession.
func (s *Server) register(ses *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = make(map[string]*session)
	}
	s.sessions[ses.id] = ses
}

// unregister forgets ses.
func (s *Server) unregister(ses *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ses.id] == ses {
		delete(s.sessions, ses.id)
	}
	delete(s.admitted, ses.ss)
}

// Sessions lists the open RTSP sessions, oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for _, ses := range s.sessions {
		list = append(list, ses)
	}
	s.mu.Unlock()

	out := make([]SessionInfo, 0, len(list))
	for _, ses := range list {
		out = append(out, ses.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CloseSession closes the session id, as if its client had left; false
// when there is no such session. The session leaves the list at once, so a
// second call answers false even while gortsplib is still tearing it down.
func (s *Server) CloseSession(id string) bool {
	s.mu.Lock()
	ses := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if ses == nil {
		return false
	}
	ses.ss.Close()
	return true
}

// info describes the session; gortsplib's getters take their own lock.
func (ses *session) info() SessionInfo {
	in := SessionInfo{ID: ses.id, Remote: ses.remote, Since: ses.since, Path: ses.ss.Path(), PacketsLost: ses.lost.Load()}
	ses.mu.Lock()
	if ses.path != nil {
		in.Path = ses.path.Name()
	}
	in.Publishing = ses.pub != nil
	ses.mu.Unlock()
	switch ses.ss.State() {
	case gortsplib.ServerSessionStatePreRecord, gortsplib.ServerSessionStateRecord:
		in.Publishing = true
	}
	if st := ses.ss.Stats(); st != nil {
		in.BytesReceived, in.BytesSent = st.InboundBytes, st.OutboundBytes
	}
	in.BytesSent += ses.outputBytes()
	return in
}
