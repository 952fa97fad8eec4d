// Package hub is streamgate's protocol-agnostic fan-out: the registry of paths
// (static, on-demand and pattern), the stream of each path, and its readers.
// A source publishes into a path once; every reader gets the same immutable
// units through its own bounded queue, so a slow reader only hurts itself.
package hub

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Hub is the registry of paths. Configure it by fields, then Start it.
type Hub struct {
	// Resolve maps a path name to its configuration (exact names and patterns);
	// it returns false for names that are not configured. Required.
	Resolve func(name string) (PathConf, bool)
	// NewSource builds the source of a path whose PathConf.HasSource is set.
	// Required when such paths exist. It runs with the hub's locks held: it
	// must only build the source (Run does the work) and not call the hub.
	NewSource func(p *Path) Runner
	// AlwaysOn names the paths whose sources run from Start to Close.
	AlwaysOn []string
	// Logger receives the hub's logs. Defaults to slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex
	paths  map[string]*Path
	closed bool
	held   []*Path
}

func (h *Hub) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// Start starts the sources of the always-on paths.
func (h *Hub) Start() error {
	if h.Resolve == nil {
		return fmt.Errorf("hub: Resolve is required")
	}
	h.mu.Lock()
	h.paths = make(map[string]*Path)
	h.mu.Unlock()
	for _, name := range h.AlwaysOn {
		p, err := h.Acquire(name)
		if err != nil {
			return fmt.Errorf("hub: always-on path %q: %w", name, err)
		}
		h.held = append(h.held, p)
	}
	return nil
}

// Acquire returns the path called name, creating it if needed, and takes a
// reference that keeps an on-demand source running until Release.
func (h *Hub) Acquire(name string) (*Path, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.paths == nil {
		return nil, ErrPathClosed
	}
	p := h.paths[name]
	if p == nil {
		conf, ok := h.Resolve(name)
		if !ok {
			return nil, ErrPathNotFound
		}
		conf.Name = name
		p = newPath(h, conf)
		h.paths[name] = p
	}
	p.users++
	if p.users == 1 {
		p.usersChanged(p.users)
	}
	return p, nil
}

func (h *Hub) release(p *Path) {
	h.mu.Lock()
	p.users--
	if p.users < 0 {
		h.mu.Unlock()
		panic("hub: Path released more often than acquired")
	}
	if p.users == 0 && !p.removed {
		p.usersChanged(0)
	}
	h.mu.Unlock()
	h.tryRemove(p)
}

// tryRemove forgets a path nothing uses any more.
func (h *Hub) tryRemove(p *Path) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.removed || p.users > 0 || h.paths[p.conf.Name] != p {
		return
	}
	p.mu.Lock()
	idle := p.idleLocked()
	p.mu.Unlock()
	if idle {
		p.removed = true
		delete(h.paths, p.conf.Name)
	}
}

// Lookup returns a live path without taking a reference, or nil.
func (h *Hub) Lookup(name string) *Path {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paths[name]
}

// PathNames lists the paths that exist right now, sorted.
func (h *Hub) PathNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.paths))
	for n := range h.paths {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close closes every path: sources stop, publishers and readers end. It waits
// for the sources and is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	paths := make([]*Path, 0, len(h.paths))
	for _, p := range h.paths {
		paths = append(paths, p)
	}
	h.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
}
