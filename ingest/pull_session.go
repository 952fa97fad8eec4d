package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/streamgate/streamgate/gateway/hub"
)

// runSession runs one connection attempt: DESCRIBE, SETUP, publish, PLAY, then
// relays packets until the session fails or ctx is done. It returns how long the
// session was playing (zero if it never got there) and why it ended.
func (p *Pull) runSession(ctx context.Context, cfg *pullConfig, log *slog.Logger) (time.Duration, error) {
	var lost, decodeErrors atomic.Uint64
	c := &gortsplib.Client{
		Scheme:      cfg.url.Scheme,
		Host:        cfg.url.Host,
		Protocol:    cfg.protocol,
		TLSConfig:   cfg.tlsConfig,
		ReadTimeout: cfg.readTimeout,
		OnTransportSwitch: func(err error) {
			log.Warn("transport switched", "reason", redact(err.Error(), cfg.secrets))
		},
		// counted and reported when the session ends, never per packet
		OnPacketsLost: func(n uint64) {
			if lost.Add(n) == n {
				// the first loss of the session is worth a line; the rest is counted
				log.Warn("source is losing packets", "lost", n)
			}
			p.lost.Add(n)
		},
		OnDecodeError: func(error) { decodeErrors.Add(1) },
	}
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("start RTSP client: %w", err)
	}
	defer c.Close()

	// Close the client as soon as ctx is done, so that a request in flight
	// returns at once instead of after ReadTimeout.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		c.Close()
	})
	defer func() {
		if !stop() {
			<-closed
		}
	}()

	desc, _, err := c.Describe(cfg.url)
	if err != nil {
		return 0, fmt.Errorf("describe: %w", err)
	}

	medias := p.setupMedias(c, desc, log)
	if len(medias) == 0 {
		return 0, ErrNoMedia
	}
	// BaseURL carries the credentials: keep it out of the hub.
	pubDesc := &description.Session{Title: desc.Title, Medias: medias}

	w, err := p.Target.Publish(pubDesc)
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	// Stop the client (and so its packet callbacks) before ending the publication.
	defer func() {
		c.Close()
		w.Close()
	}()

	var lastPacket atomic.Int64
	jumps := newJumpWatch(medias, log)
	var oversize atomic.Bool
	c.OnPacketRTPAny(func(media *description.Media, _ format.Format, pkt *rtp.Packet) {
		lastPacket.Store(time.Now().UnixNano())
		// PTS is unknown until the first packet whose PTS equals its DTS
		// (for H.264, an IDR or parameter set): drop until then.
		pts, ok := c.PacketPTS(media, pkt)
		if !ok {
			return
		}
		jumps.check(media, pts)
		if n := pkt.MarshalSize(); n > maxRTSPPacket && oversize.CompareAndSwap(false, true) {
			log.Warn("source sends RTP packets too large for RTSP readers: they lose them, HLS and WebRTC do not",
				"size", n, "max", maxRTSPPacket)
		}
		ntp, ok := c.PacketNTP(media, pkt)
		if !ok {
			ntp = time.Time{}
		}
		w.WriteRTP(media, pkt, pts, ntp)
	})

	if _, err = c.Play(nil); err != nil {
		return 0, fmt.Errorf("play: %w", err)
	}
	readyAt := time.Now()
	lastPacket.Store(readyAt.UnixNano())

	tracks := trackNames(medias)
	transport := "unknown"
	if tr := c.Transport(); tr != nil && tr.Session != nil {
		transport = tr.Session.Protocol.String()
	}
	p.status.set(func(s *Status) {
		s.State = StateReady
		s.Tracks = tracks
	})
	log.Info("source ready", "codecs", tracks, "transport", transport)

	err = p.watch(ctx, c, cfg.readTimeout, &lastPacket)
	upFor := time.Since(readyAt)
	if n, d := lost.Load(), decodeErrors.Load(); n > 0 || d > 0 {
		log.Info("session packet summary", "lost", n, "decodeErrors", d)
	}
	return upFor, err
}

// setupMedias sets up every media it can and returns those. A media the source
// refuses, or a back channel (which would need us to send), is skipped with a
// warning rather than failing the whole source.
func (p *Pull) setupMedias(c *gortsplib.Client, desc *description.Session, log *slog.Logger) []*description.Media {
	var out []*description.Media
	for i, m := range desc.Medias {
		if m.IsBackChannel {
			log.Debug("skipping back channel", "media", i)
			continue
		}
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			log.Warn("skipping media the source would not set up",
				"media", i, "type", m.Type, "codecs", trackNames([]*description.Media{m}), "error", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// watch waits for the client to fail, ctx to be done, or the source to fall silent.
// gortsplib's own TCP timeout counts any inbound byte (keep-alive responses, RTCP),
// so a camera that keeps the connection open without media would never time out.
func (p *Pull) watch(ctx context.Context, c *gortsplib.Client, timeout time.Duration, last *atomic.Int64) error {
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()

	period := min(max(timeout/10, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(period)
	defer tick.Stop()

	for {
		select {
		case err := <-waitErr:
			return fmt.Errorf("session: %w", err)
		case <-ctx.Done():
			c.Close()
			<-waitErr
			return ctx.Err()
		case now := <-tick.C:
			if now.Sub(time.Unix(0, last.Load())) >= timeout {
				c.Close()
				<-waitErr
				return fmt.Errorf("%w (%v)", ErrSilent, timeout)
			}
		}
	}
}

// trackNames names the codec of the first format of each media.
func trackNames(medias []*description.Media) []string {
	out := make([]string, 0, len(medias))
	for _, m := range medias {
		if len(m.Formats) == 0 {
			out = append(out, "none")
			continue
		}
		out = append(out, hub.CodecName(m.Formats[0]))
	}
	return out
}

// maxRTSPPacket is the largest RTP packet the RTSP output can forward
// (gortsplib's limit: a UDP datagram on a 1500-byte MTU). Cameras pulled
// over TCP may send larger ones.
const maxRTSPPacket = 1472

// maxTimestampJump is the largest step between two presentation times of a
// media that is taken as the stream going on.
const maxTimestampJump = 5 * time.Second

// jumpWatch notices a source whose timestamps jump forward or back (a
// camera that reset its clock, or an NTP step) and says so once per
// session: the outputs smooth such jumps over, but a camera doing it is
// worth knowing about.
type jumpWatch struct {
	last   map[*description.Media]*atomic.Int64 // last PTS + 1, 0 for none
	rate   map[*description.Media]int64
	logged atomic.Bool
	log    *slog.Logger
}

func newJumpWatch(medias []*description.Media, log *slog.Logger) *jumpWatch {
	w := &jumpWatch{last: map[*description.Media]*atomic.Int64{}, rate: map[*description.Media]int64{}, log: log}
	for _, m := range medias {
		w.last[m] = &atomic.Int64{}
		w.rate[m] = int64(m.Formats[0].ClockRate())
	}
	return w
}

func (w *jumpWatch) check(m *description.Media, pts int64) {
	last := w.last[m]
	if last == nil {
		return
	}
	prev := last.Swap(pts+1) - 1
	if prev < 0 {
		return
	}
	d := pts - prev
	limit := int64(maxTimestampJump.Seconds()) * w.rate[m]
	if (d > limit || -d > limit) && w.logged.CompareAndSwap(false, true) {
		w.log.Warn("source timestamps jumped", "media", m.Type, "by", time.Duration(d)*time.Second/time.Duration(w.rate[m]))
	}
}
