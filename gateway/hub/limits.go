package hub

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
)

// MaxTracks is the most media sections a published description may have.
// Cameras send one to four; a description with hundreds is an attack on
// the per-track state every reader and output keeps.
const MaxTracks = 32

// ErrTooManyTracks refuses a description with more than MaxTracks media.
var ErrTooManyTracks = errors.New("too many media sections")

// CheckDescription refuses descriptions a stream cannot be built from;
// publish checks it, and the RTSP server already at ANNOUNCE.
func CheckDescription(desc *description.Session) error {
	switch {
	case len(desc.Medias) == 0:
		return errors.New("the description has no media")
	case len(desc.Medias) > MaxTracks:
		return fmt.Errorf("%w: %d, at most %d", ErrTooManyTracks, len(desc.Medias), MaxTracks)
	}
	return nil
}
