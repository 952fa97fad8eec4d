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
func (s *Server) handleShared(r *http.Request, m *muxer, file string, kind fileKind) (*recorder, bool) {
	key := file + "?" + r.URL.RawQuery
	// Parts and segments never change once made (their names are unique
	// to the muxer): the last ones stay answered.
	keep := (kind == filePart || kind == fileSegment) && r.URL.RawQuery == ""
	m.callsMu.Lock()
	if keep {
		if rec := m.done.get(file); rec != nil {
			m.callsMu.Unlock()
			return rec, true
		}
	}
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
			if keep && ok && rec != nil && rec.status == http.StatusOK {
				m.done.put(file, rec)
			}
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

// doneCacheSize is how many finished parts and segments a muxer keeps
// answered: a little over the parts of the last segment, which is what
// Low-Latency viewers that are not in step ask for.
const doneCacheSize = 16

// doneCache holds the last answers for immutable files, oldest evicted first.
type doneCache struct {
	keys [doneCacheSize]string
	recs map[string]*recorder
	next int
}

func (c *doneCache) get(file string) *recorder { return c.recs[file] }

func (c *doneCache) put(file string, rec *recorder) {
	if c.recs == nil {
		c.recs = make(map[string]*recorder, doneCacheSize)
	}
	if _, ok := c.recs[file]; ok {
		return
	}
	if old := c.keys[c.next]; old != "" {
		delete(c.recs, old)
	}
	c.keys[c.next] = file
	c.recs[file] = rec
	c.next = (c.next + 1) % doneCacheSize
}
