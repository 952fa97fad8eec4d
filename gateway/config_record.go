package gateway

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/streamgate/streamgate/record"
)

// byteUnits are the suffixes recordMaxBytes accepts, longest first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

const byteSizeExpect = `a size like "0" (no bound), "500MB" or "20GiB"`

// parseByteSize parses a size: a whole number with an optional unit (B,
// KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024).
// msg is the error message ("" when valid).
func parseByteSize(s string) (n int64, msg string) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	if t == "" || strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Sprintf("invalid size %s: expected %s", quoteShort(s), byteSizeExpect)
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Sprintf("size %s is too large: expected %s", quoteShort(s), byteSizeExpect)
	}
	return v * mult, ""
}

func (v *validator) recordings() {
	if strings.TrimSpace(v.c.Recordings.Directory) == "" {
		v.errorf("recordings.directory", "empty directory: expected a directory such as \"./recordings\"")
	}
}

// record checks the recording keys of a path (see path for own).
func (v *validator) record(key func(string) string, p, d *PathConfig, own func(bool) bool) {
	if own(p.RecordSegmentDuration != d.RecordSegmentDuration) {
		v.positive(key("recordSegmentDuration"), p.RecordSegmentDuration)
	}
	if own(p.RecordPartDuration != d.RecordPartDuration) {
		v.positive(key("recordPartDuration"), p.RecordPartDuration)
	}
	if p.RecordPartDuration > p.RecordSegmentDuration && p.RecordSegmentDuration > 0 &&
		own(p.RecordPartDuration != d.RecordPartDuration || p.RecordSegmentDuration != d.RecordSegmentDuration) {
		v.errorAt(key("recordPartDuration"), key("recordSegmentDuration"), "%s is longer than recordSegmentDuration %s: expected a shorter part",
			p.RecordPartDuration, p.RecordSegmentDuration)
	}
	if own(p.RecordDeleteAfter != d.RecordDeleteAfter) {
		v.nonNegative(key("recordDeleteAfter"), p.RecordDeleteAfter)
	}
	if own(p.RecordMaxBytes != d.RecordMaxBytes) {
		if _, msg := parseByteSize(p.RecordMaxBytes); msg != "" {
			v.errorf(key("recordMaxBytes"), "%s", msg)
		}
	}
}

// recordSettings lists the paths to record under conf (exact paths with
// record: true) with their settings.
func recordSettings(conf *Config) map[string]record.Settings {
	out := map[string]record.Settings{}
	for _, name := range conf.PathOrder {
		pc := conf.Paths[name]
		if pc == nil || pc.Pattern || !pc.Record {
			continue
		}
		out[name] = record.Settings{
			SegmentDuration: pc.RecordSegmentDuration,
			PartDuration:    pc.RecordPartDuration,
			DeleteAfter:     pc.RecordDeleteAfter,
			MaxBytes:        pc.MaxBytes(),
		}
	}
	return out
}
