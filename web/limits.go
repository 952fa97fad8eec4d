package web

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// offerIdle is how long an address's offer bucket is kept after its last
// offer. A bucket holds one second of offers (burst = rate), so after a
// second of rest it is full again, the same as a new one: forgetting it
// changes nothing, and the map holds only the addresses of the last
// second, however many a client spreads its offers over.
const offerIdle = time.Second

// offerLimiter is a token bucket per client address for WHEP and WHIP
// offers: each offer costs a PeerConnection, ICE gathering and a hub
// reader, so one address must not be able to post them in a loop.
type offerLimiter struct {
	perSecond int
	log       *slog.Logger

	mu      sync.Mutex
	buckets map[string]*offerBucket
	pruned  time.Time
}

type offerBucket struct {
	lim     *rate.Limiter
	last    time.Time
	refused bool // the address is being refused; logged once per streak
}

func newOfferLimiter(perSecond int, log *slog.Logger) *offerLimiter {
	return &offerLimiter{perSecond: perSecond, log: log, buckets: make(map[string]*offerBucket)}
}

// allow takes a token for addr. When there is none it returns false and
// how long until there is one.
func (l *offerLimiter) allow(addr, path string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.pruned) > offerIdle {
		for a, b := range l.buckets {
			if now.Sub(b.last) > offerIdle {
				delete(l.buckets, a)
			}
		}
		l.pruned = now
	}
	b := l.buckets[addr]
	if b == nil {
		b = &offerBucket{lim: rate.NewLimiter(rate.Limit(l.perSecond), l.perSecond)}
		l.buckets[addr] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		if !b.refused {
			b.refused = true
			l.log.Warn("too many WebRTC offers from one address: refusing with 429",
				"remote", addr, "path", path, "limit", l.perSecond)
		}
		return false, d
	}
	b.refused = false
	return true, 0
}

// allowOffer answers 429 with Retry-After (whole seconds, at least 1) to
// an offer over the address's rate; true lets the request through. Only
// POSTs to the endpoint itself are offers.
func (s *Server) allowOffer(c *gin.Context, t target) bool {
	if s.offers == nil || c.Request.Method != http.MethodPost || t.file != "" {
		return true
	}
	ok, wait := s.offers.allow(c.ClientIP(), t.path, time.Now())
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	c.Header("Cache-Control", "no-store")
	c.String(http.StatusTooManyRequests, "429 too many requests: too many offers from this address, retry later\n")
	return false
}
