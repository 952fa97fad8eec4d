package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Metric is one figure of a report.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Note qualifies the figure (for example "n/a: no -pid or -cmd").
	Note string `json:"note,omitempty"`
}

// ReaderStats is what one RTSP reader or HLS viewer saw in the measured window.
type ReaderStats struct {
	ID        int     `json:"id"`
	Packets   uint64  `json:"packets,omitempty"`
	Lost      uint64  `json:"lost,omitempty"`
	Reordered uint64  `json:"reordered,omitempty"`
	Requests  uint64  `json:"requests,omitempty"`
	Bytes     uint64  `json:"bytes"`
	Errors    uint64  `json:"errors,omitempty"`
	Timeouts  uint64  `json:"timeouts,omitempty"`
	LatP50ms  float64 `json:"latencyP50Ms,omitempty"`
	// FirstKeyMs is a WHEP viewer's time from POST to its first keyframe packet.
	FirstKeyMs float64 `json:"firstKeyframeMs,omitempty"`
	Err        string  `json:"error,omitempty"`
}

// Report is the outcome of one scenario, printed as a table and written as JSON.
type Report struct {
	Scenario string            `json:"scenario"`
	Started  time.Time         `json:"started"`
	Params   map[string]string `json:"params"`
	Metrics  []Metric          `json:"metrics"`
	Readers  []ReaderStats     `json:"readers,omitempty"`
	// Samples are the soak's samples over time.
	Samples  []SoakSample `json:"samples,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
}

func (r *Report) add(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit})
}

func (r *Report) addNote(name, unit, note string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: math.NaN(), Unit: unit, Note: note})
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// metric returns the value of the named metric (NaN when absent).
func (r *Report) metric(name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return math.NaN()
}

// addUsage adds the gateway's CPU and memory figures; perWhat names the client ("reader", "viewer").
func (r *Report) addUsage(u *procUsage, clients int, perWhat string) {
	name := "gateway CPU per " + perWhat + "-second"
	if u == nil {
		r.addNote(name, "ms", "n/a: give -pid or -cmd")
		return
	}
	r.add(name, u.perClientSecond(clients), "ms")
	r.add("gateway CPU total", u.cores(), "cores")
	r.add("gateway CPU time in window", u.CPU.Seconds(), "s")
	r.add("gateway RSS at start", float64(u.RSSStart)/(1<<20), "MiB")
	r.add("gateway RSS at end", float64(u.RSSEnd)/(1<<20), "MiB")
}

// addHost adds what the bench tool and the rest of the host used in the
// window: on a shared machine those cores were not available to the gateway.
func (r *Report) addHost(self procUsage, hostBusy time.Duration, hostOK bool, gwStart, gwEnd procSample, gwOK bool) {
	r.add("bench tool CPU total (camera and clients)", self.cores(), "cores")
	if !hostOK || self.Window <= 0 {
		return
	}
	other := hostBusy - self.CPU
	if gwOK {
		other -= gwEnd.CPU - gwStart.CPU
	}
	r.add("host CPU busy, all processes", hostBusy.Seconds()/self.Window.Seconds(), "cores")
	r.add("host CPU used by other processes", max(other, 0).Seconds()/self.Window.Seconds(), "cores")
}

// addPercentiles adds p50, p99 and max of samples in milliseconds.
func (r *Report) addPercentiles(name string, samples []float64) {
	if len(samples) == 0 {
		r.addNote(name+" p50", "ms", "no samples")
		return
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	r.add(name+" p50", percentile(s, 50), "ms")
	r.add(name+" p99", percentile(s, 99), "ms")
	r.add(name+" max", s[len(s)-1], "ms")
	r.add(name+" samples", float64(len(s)), "")
}

// percentile of sorted samples, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// writeTable prints the report for people.
func (r *Report) writeTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s, started %s\n", r.Scenario, r.Started.Format(time.RFC3339))
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-16s %s\n", k, r.Params[k])
	}
	b.WriteString("\n")
	nameW, valW := len("figure"), len("value")
	vals := make([]string, len(r.Metrics))
	for i, m := range r.Metrics {
		vals[i] = formatValue(m.Value)
		if m.Note != "" {
			vals[i] = m.Note
		}
		nameW, valW = max(nameW, len(m.Name)), max(valW, len(vals[i]))
	}
	fmt.Fprintf(&b, "  %-*s  %*s  %s\n", nameW, "figure", valW, "value", "unit")
	for i, m := range r.Metrics {
		fmt.Fprintf(&b, "  %-*s  %*s  %s\n", nameW, m.Name, valW, vals[i], m.Unit)
	}
	writeSamples(&b, r.Samples)
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(&b, "WARNING: %s\n", wmsg)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e12:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// writeJSON writes the report to file (NaN values become null).
func (r *Report) writeJSON(file string) error {
	type metric struct {
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
		Unit  string   `json:"unit"`
		Note  string   `json:"note,omitempty"`
	}
	out := struct {
		*Report
		Metrics []metric `json:"metrics"`
	}{Report: r}
	for _, m := range r.Metrics {
		mm := metric{Name: m.Name, Unit: m.Unit, Note: m.Note}
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			v := m.Value
			mm.Value = &v
		}
		out.Metrics = append(out.Metrics, mm)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
