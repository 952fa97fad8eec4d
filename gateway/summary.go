package gateway

import (
	"sync"
	"time"

	"github.com/streamgate/streamgate/gateway/hub"
)

// summaryLoop is the goroutine that logs the periodic "path summary" lines.
type summaryLoop struct {
	g      *Gateway
	period time.Duration
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// summaryMark is what a path's stream had counted at the previous summary.
type summaryMark struct {
	st    *hub.Stream
	bytes uint64
	drops uint64
	at    time.Time
}

// pathRates keeps the bitrate of each path's stream as the last summary
// measured it, for the API; its zero value is ready to use.
type pathRates struct {
	mu    sync.Mutex
	rates map[string]pathRate
}

// pathRate is the incoming bitrate of one stream over one summary interval.
type pathRate struct {
	st  *hub.Stream
	bps float64
}

// set replaces every rate.
func (r *pathRates) set(rates map[string]pathRate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rates = rates
}

// get is the bits per second path's stream st received over the last
// summary interval; false before a summary measured st.
func (r *pathRates) get(path string, st *hub.Stream) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pr, ok := r.rates[path]
	if !ok || pr.st != st {
		return 0, false
	}
	return pr.bps, true
}

// startSummary starts logging path summaries every SummaryPeriod until
// the returned loop is closed.
func (g *Gateway) startSummary() *summaryLoop {
	l := &summaryLoop{g: g, period: g.summaryPeriod(), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// close stops the loop and waits for it; it is idempotent and nil-safe.
func (l *summaryLoop) close() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

func (l *summaryLoop) run() {
	defer close(l.done)
	tick := time.NewTicker(l.period)
	defer tick.Stop()
	prev := map[string]summaryMark{}
	last := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case now := <-tick.C:
			prev = l.summarize(prev, last, now)
			last = now
		}
	}
}

// summarize logs one line per path with a stream: its readers, the bytes
// per second it received and the drops of its readers since the previous
// summary (since last for a stream not seen then). It keeps the rates in
// g.rates for the API and returns the marks for the next summary.
func (l *summaryLoop) summarize(prev map[string]summaryMark, last, now time.Time) map[string]summaryMark {
	g := l.g
	next := make(map[string]summaryMark, len(prev))
	if g.hub == nil {
		return next
	}
	rates := make(map[string]pathRate, len(prev))
	defer g.rates.set(rates)
	for _, pc := range g.pathConfigs() {
		st := g.stateOf(pc).stream
		if st == nil {
			continue
		}
		_, bytes := streamReceived(st)
		drops := st.ReaderDrops()
		m, ok := prev[pc.Name]
		if !ok || m.st != st {
			// A new stream: its counters started at zero.
			m = summaryMark{st: st, at: last}
		}
		rate := 0.0
		if d := now.Sub(m.at).Seconds(); d > 0 && bytes >= m.bytes {
			rate = float64(bytes-m.bytes) / d
			rates[pc.Name] = pathRate{st: st, bps: rate * 8}
		}
		dropped := uint64(0)
		if drops >= m.drops {
			dropped = drops - m.drops
		}
		g.Logger.Info("path summary", "path", pc.Name, "readers", st.ReaderCount(),
			"bytesPerSecond", int64(rate), "drops", dropped, "interval", now.Sub(m.at).Round(time.Millisecond))
		next[pc.Name] = summaryMark{st: st, bytes: bytes, drops: drops, at: now}
	}
	return next
}

// summaryPeriod is SummaryPeriod or its default, a minute.
func (g *Gateway) summaryPeriod() time.Duration {
	if g.SummaryPeriod > 0 {
		return g.SummaryPeriod
	}
	return time.Minute
}
