package hls

import (
	"context"
	"net/http"
)

// sharedCall is one gohlslib answer being made, which every identical
// request that arrives meanwhile waits for instead of asking again.
type sharedCall struct {
	done chan struct{}
	rec  *recorder // valid once done is closed; nil: the muxer closed first
	ok   bool
}

// handleShared is handle for many viewers at once. Low-Latency viewers
// move in step: a new part releases every blocking playlist reload at the
// same moment, and then every viewer asks for that part. Identical
// requests (same file and query) that arrive while one is being answered
// share its answer, so gohlslib renders the playlist once and copies the
// part once instead of once per viewer. The answer is read-only from then
// on. It returns false when this request's client went away.
func (s *Server) handleShared(r *http.Request, m *muxer, file string) (*recorder, bool) {
	key := file + "?" + r.URL.RawQuery
	m.callsMu.Lock()
	c := m.calls[key]
	if c == nil {
		c = &sharedCall{done: make(chan struct{})}
		if m.calls == nil {
			m.calls = make(map[string]*sharedCall)
		}
		m.calls[key] = c
		m.callsMu.Unlock()
		// The answer must not depend on the first client staying: make it
		// with a request that outlives it.
		first := r.WithContext(context.WithoutCancel(r.Context()))
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			m.callsMu.Lock()
			delete(m.calls, key)
			m.callsMu.Unlock()
			return nil, true
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			rec, ok := s.handle(first, m, file)
			m.callsMu.Lock()
			delete(m.calls, key)
			m.callsMu.Unlock()
			c.rec, c.ok = rec, ok
			close(c.done)
		}()
	} else {
		m.callsMu.Unlock()
	}
	select {
	case <-c.done:
		return c.rec, c.ok
	case <-r.Context().Done():
		return nil, false
	}
}
