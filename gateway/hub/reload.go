package hub

import (
	"errors"
	"fmt"
)

// Reset closes the live path called name, if there is one, and forgets it,
// so the next Acquire resolves the name again (with a new configuration).
// Its source stops, its publisher and readers end with ErrPathClosed; users
// that still hold it get ErrPathClosed from it until they Release it. It
// waits for the source and reports whether a path was closed. Other paths
// are not touched.
func (h *Hub) Reset(name string) bool {
	h.mu.Lock()
	p := h.paths[name]
	if p == nil {
		h.mu.Unlock()
		return false
	}
	// Removed first, so a Release of the old path cannot schedule anything
	// and an Acquire from now on builds a new one.
	p.removed = true
	delete(h.paths, name)
	h.mu.Unlock()

	p.logger.Info("path reset: readers and publisher closed, the source stops")
	p.close()
	return true
}

// SetAlwaysOn replaces the list of paths whose sources run until Close: it
// takes a reference on every listed path (creating it, and starting its
// source, when it does not exist; a path forgotten by Reset is created
// again) and then gives back the references of the previous list. A path
// listed before and now keeps running without a gap. A name that cannot be
// acquired is skipped and reported in the returned error; the others are
// still applied.
func (h *Hub) SetAlwaysOn(names []string) error {
	held := make([]*Path, 0, len(names))
	var errs []error
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		p, err := h.Acquire(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("hub: always-on path %q: %w", name, err))
			continue
		}
		held = append(held, p)
	}
	// The new references are taken before the old ones are given back, so
	// an unchanged path never drops to zero users. Concurrent calls each
	// swap a whole list; the reference counts stay balanced either way.
	h.mu.Lock()
	old := h.held
	h.held = held
	h.mu.Unlock()
	for _, p := range old {
		p.Release()
	}
	return errors.Join(errs...)
}
