package testcam

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// client plays path of c over TCP and records the video packets.
type client struct {
	c    *gortsplib.Client
	desc *description.Session
	mu   sync.Mutex
	pkts []*rtp.Packet
	got  chan struct{}
}

func play(t *testing.T, cam *Camera, path string) *client {
	t.Helper()
	u, err := base.ParseURL(cam.URL("", path))
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{got: make(chan struct{}, 1)}
	cl.c = &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: new(gortsplib.ProtocolTCP), ReadTimeout: 2 * time.Second,
		OnPacketsLost: func(uint64) {}} // the faults lose packets on purpose
	if err := cl.c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.c.Close)
	if cl.desc, _, err = cl.c.Describe(u); err != nil {
		t.Fatal(err)
	}
	if err := cl.c.SetupAll(cl.desc.BaseURL, cl.desc.Medias); err != nil {
		t.Fatal(err)
	}
	cl.c.OnPacketRTP(cl.desc.Medias[0], cl.desc.Medias[0].Formats[0], func(p *rtp.Packet) {
		cl.mu.Lock()
		cl.pkts = append(cl.pkts, p)
		cl.mu.Unlock()
		select {
		case cl.got <- struct{}{}:
		default:
		}
	})
	if _, err := cl.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return cl
}

// waitFor waits until cond holds on the packets received.
func (cl *client) waitFor(t *testing.T, what string, cond func([]*rtp.Packet) bool) []*rtp.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		cl.mu.Lock()
		pkts := append([]*rtp.Packet(nil), cl.pkts...)
		cl.mu.Unlock()
		if cond(pkts) {
			return pkts
		}
		select {
		case <-cl.got:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (%d packets)", what, len(pkts))
		}
	}
}

// Each packet fault reaches a client the way its doc says.
func TestFaults(t *testing.T) {
	cam := New(t, Options{}, map[string]byte{"a": 'a'})
	cl := play(t, cam, "a")
	cl.waitFor(t, "video", func(p []*rtp.Packet) bool { return len(p) > 5 })

	// apply sends f and returns the packets received until the frame after it.
	apply := func(f Fault) []*rtp.Packet {
		t.Helper()
		<-cam.Inject("a", f)
		after := cam.NextFrame("a") // the first frame after the faulty one
		return cl.waitFor(t, f.String(), func(p []*rtp.Packet) bool {
			_, last, ok := PictureTag(p[len(p)-1].Payload)
			return ok && last > after
		})
	}
	t.Run("sequence gap", func(t *testing.T) {
		pkts := apply(SeqGap)
		gaps := 0
		for i := 1; i < len(pkts); i++ {
			if d := pkts[i].SequenceNumber - pkts[i-1].SequenceNumber; d == 51 {
				gaps++
			}
		}
		if gaps != 1 {
			t.Fatalf("%d gaps of 50", gaps)
		}
	})
	t.Run("oversize", func(t *testing.T) {
		pkts := apply(Oversize)
		for _, p := range pkts {
			if len(p.Payload) == 4000 {
				return
			}
		}
		t.Fatal("no 4,000-byte packet")
	})
	t.Run("truncated NAL unit", func(t *testing.T) {
		pkts := apply(TruncatedNAL)
		for i := 1; i < len(pkts); i++ {
			p, q := pkts[i-1].Payload, pkts[i].Payload
			fuStart := func(b []byte) bool { return b[0]&0x1F == 28 && b[1]&0x80 != 0 }
			if fuStart(p) && (q[0]&0x1F != 28 || fuStart(q)) {
				if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
					t.Fatal("the truncation left a sequence gap")
				}
				return
			}
		}
		t.Fatal("no FU-A start followed by another NAL")
	})
	t.Run("reordering", func(t *testing.T) {
		pkts := apply(Reorder)
		for i := 1; i < len(pkts); i++ {
			if pkts[i].SequenceNumber == pkts[i-1].SequenceNumber-1 {
				return
			}
		}
		t.Fatal("no packet came before its predecessor")
	})
}

// Connection faults end the client's session the way their docs say.
func TestConnectionFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*Camera) int
		check func(error) bool
	}{
		{"closed", (*Camera).DropConnections, func(err error) bool { return err != nil }},
		{"reset", (*Camera).ResetConnections, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"stalled", (*Camera).Stall, func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := New(t, Options{}, map[string]byte{"a": 'a'})
			cl := play(t, cam, "a")
			cl.waitFor(t, "video", func(p []*rtp.Packet) bool { return len(p) > 5 })
			if n := tc.fault(cam); n != 1 {
				t.Fatalf("%d connections", n)
			}
			err := cl.c.Wait()
			if !tc.check(err) {
				t.Fatalf("the session ended with %v", err)
			}
		})
	}
}

// Restart with a change serves the new description.
func TestRestartChange(t *testing.T) {
	cam := New(t, Options{}, map[string]byte{"a": 'a'})
	cam.Restart(&Change{SPS: SPS2, NoAudio: true})
	cl := play(t, cam, "a")
	if len(cl.desc.Medias) != 1 {
		t.Fatalf("%d medias", len(cl.desc.Medias))
	}
	if h := cl.desc.Medias[0].Formats[0].(*format.H264); string(h.SPS) != string(SPS2) {
		t.Fatal("old SPS")
	}
}
