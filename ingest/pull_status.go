package ingest

import (
	"slices"
	"sync"
	"time"
)

// State is the lifecycle state of a pulled source.
type State string

// States of a pulled source.
const (
	// StateConnecting means a connection attempt is in progress.
	StateConnecting State = "connecting"
	// StateReady means the source is playing and publishing.
	StateReady State = "ready"
	// StateWaiting means the source failed and is backing off before the next attempt.
	StateWaiting State = "waiting"
	// StateStopped means Run is not running.
	StateStopped State = "stopped"
)

// Status is a snapshot of a pulled source.
type Status struct {
	// State is the current lifecycle state.
	State State
	// LastError is the reason of the last failure, credentials removed; empty before any.
	LastError string
	// NextRetry is when the next attempt starts while State is "waiting"; zero otherwise.
	NextRetry time.Time
	// Reconnects counts the attempts made after the first one.
	Reconnects int
	// Since is when State last changed.
	Since time.Time
	// Tracks names the codecs being published while State is "ready".
	Tracks []string
	// PacketsLost counts the RTP packets gortsplib reported lost, over every
	// session of this Pull; it never goes down.
	PacketsLost uint64
}

// pullStatus guards the Status of one Pull.
type pullStatus struct {
	mu      sync.Mutex
	s       Status
	changed chan struct{} // closed and replaced on every change; lets tests wait
}

func (ps *pullStatus) set(f func(*Status)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	prev := ps.s.State
	f(&ps.s)
	if ps.s.State != prev || ps.s.Since.IsZero() {
		ps.s.Since = time.Now()
	}
	if ps.changed != nil {
		close(ps.changed)
		ps.changed = nil
	}
}

// watch returns the current snapshot and a channel closed at the next change.
func (ps *pullStatus) watch() (Status, <-chan struct{}) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.changed == nil {
		ps.changed = make(chan struct{})
	}
	return ps.snapshot(), ps.changed
}

func (ps *pullStatus) get() Status {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.snapshot()
}

func (ps *pullStatus) snapshot() Status {
	s := ps.s
	s.Tracks = slices.Clone(s.Tracks)
	if s.State == "" {
		s.State = StateStopped
	}
	return s
}
