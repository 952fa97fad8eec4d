package ingest

import (
	"testing"
	"time"
)

func TestPullCountsLostPackets(t *testing.T) {
	checkLeaks(t)
	for _, protocol := range []string{"tcp", "udp"} {
		t.Run(protocol, func(t *testing.T) {
			ctx := testCtx(t, 15*time.Second)
			sdp, desc := loadSDP(t, "sps_pps_sdp_only.sdp")
			cam := newTestCam(t, camOptions{sdp: sdp, desc: desc, udp: true})
			cam.startFeeding()

			h := startPull(t, &Pull{URL: cam.url(""), Protocol: protocol, ReadTimeout: 3 * time.Second})
			w := h.target.nextPublish(ctx, t)
			w.waitPackets(ctx, t, atLeastPerMedia(w.desc, 5))
			if s := h.p.Status(); s.PacketsLost != 0 {
				t.Fatalf("lost %d before any gap", s.PacketsLost)
			}
			cam.skipSeq(10)
			deadline := time.Now().Add(10 * time.Second)
			for h.p.Status().PacketsLost == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no loss counted: %+v", h.p.Status())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := h.p.Status().PacketsLost; n < 10 {
				t.Fatalf("lost %d, want at least 10 (10 per media)", n)
			}
			h.stop(t)
			w.waitClosed(ctx, t)
		})
	}
}
