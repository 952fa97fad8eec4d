package testclip

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNeedsAnIDRFirst(t *testing.T) {
	_, err := Parse([]byte{0, 0, 1, 9, 0xf0, 0, 0, 1, 0x41, 1}, nil)
	require.Error(t, err)
}

func TestCacheMakesClips(t *testing.T) {
	c := &Cache{Prefix: "testclip-", Seconds: 1, FPS: 10, Width: 64, Height: 64, SampleRate: 48000}
	defer c.Cleanup()
	cl := c.Get(t, 5)
	require.Len(t, cl.Video, 10)
	require.NotEmpty(t, cl.SPS)
	require.NotEmpty(t, cl.Audio)
	require.Equal(t, 48000, cl.AudioConfig.SampleRate)
	require.Same(t, cl, c.Get(t, 5), "made once")
}
