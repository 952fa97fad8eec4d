package hub

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/internal/testlog"
)

// A camera that sends pictures whose last FU-A fragment never comes: the
// frames cannot be decoded, which is said once per source session, not
// once per frame.
func TestUndecodableFrameLoggedOncePerSession(t *testing.T) {
	logs := &testlog.Buffer{}
	h := &Hub{
		Resolve: func(string) (PathConf, bool) {
			return PathConf{AcceptPublishers: true, OutageGrace: time.Minute}, true
		},
		Logger: logs.Logger(),
	}
	require.NoError(t, h.Start())
	t.Cleanup(h.Close)
	desc := videoDesc(testSPS)

	_, pub := publish(t, h, "cam", desc)
	var mu sync.Mutex
	decoded := 0
	r, err := pub.Stream().AddReader(ReaderConfig{Name: "decoder", OnUnit: func(u *Unit, _ bool) error {
		if u.AUStart {
			_, err := u.AccessUnit()
			mu.Lock()
			if err != nil {
				decoded++
			}
			mu.Unlock()
		}
		return nil
	}})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	// IDR pictures whose FU-A never ends.
	badFrames := func(pub *Publisher, want int) {
		for i := range 10 {
			ts := uint32(i * 3600)
			pub.WriteRTP(desc.Medias[0], &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: ts, Marker: true},
				Payload: []byte{0x7c, 0x85, 0xaa, 0xbb},
			}, int64(ts), time.Time{})
		}
		eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return decoded == want
		}, "frames that cannot be decoded")
	}
	badFrames(pub, 10)
	assert.Equal(t, 1, logs.Count("cannot be decoded"), logs.String())

	// The source comes back: its first bad frame is worth a line again.
	pub.Close()
	_, pub2 := publish(t, h, "cam", desc)
	require.Same(t, pub.Stream(), pub2.Stream())
	badFrames(pub2, 20)
	assert.Equal(t, 2, logs.Count("cannot be decoded"), logs.String())
}
