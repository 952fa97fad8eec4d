package rtspserver

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// rangeKind says where a PLAY request asks to start.
type rangeKind int

const (
	// rangeNone: no Range header, or npt=0- (which ffmpeg, VLC and
	// gortsplib send on every PLAY that has no position in mind): resume
	// where the session paused, or live.
	rangeNone rangeKind = iota
	// rangeLive: npt=now-: back to the live edge.
	rangeLive
	// rangeFromStart: npt=X- with X > 0, X seconds after the oldest point
	// the path keeps.
	rangeFromStart
	// rangeFromEdge: npt=-X-, X seconds before the live edge.
	rangeFromEdge
	// rangeClock: clock=T-, a wall-clock UTC time.
	rangeClock
)

// playRange is a parsed Range header of a PLAY request. An end time, if
// given, is accepted and ignored: playback goes on until PAUSE or TEARDOWN.
type playRange struct {
	kind  rangeKind
	npt   time.Duration // rangeFromStart, rangeFromEdge: how far
	clock time.Time     // rangeClock
}

var errBadRange = errors.New("malformed Range header")

// maxNPT bounds npt values: far beyond anything a gateway keeps, well
// inside time.Duration.
const maxNPT = 100 * 365 * 24 * time.Hour

// parseRange reads a Range header value: "npt=now-", "npt=12.5-",
// "npt=1:02:03.5-", "npt=-30-" (our extension: 30 s before the live edge)
// and "clock=20261125T203000Z-" (or with fractional seconds).
func parseRange(v string) (playRange, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return playRange{}, nil
	}
	// Parameters after ';' (time=...) are allowed and ignored.
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	unit, spec, ok := strings.Cut(v, "=")
	if !ok {
		return playRange{}, fmt.Errorf("%w: %q has no unit", errBadRange, v)
	}
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "npt":
		return parseNPTRange(strings.TrimSpace(spec))
	case "clock":
		start, _, ok := strings.Cut(strings.TrimSpace(spec), "-")
		if !ok || start == "" {
			return playRange{}, fmt.Errorf("%w: clock range %q needs a start", errBadRange, spec)
		}
		t, err := parseClock(start)
		if err != nil {
			return playRange{}, err
		}
		return playRange{kind: rangeClock, clock: t}, nil
	}
	return playRange{}, fmt.Errorf("%w: unit %q is not supported (use npt or clock)", errBadRange, unit)
}

func parseNPTRange(spec string) (playRange, error) {
	neg := strings.HasPrefix(spec, "-")
	if neg {
		spec = spec[1:]
		if spec == "" || strings.HasPrefix(spec, "-") {
			return playRange{}, fmt.Errorf("%w: npt range needs a start", errBadRange)
		}
	}
	start, _, ok := strings.Cut(spec, "-")
	if !ok {
		return playRange{}, fmt.Errorf("%w: npt range %q has no '-'", errBadRange, spec)
	}
	if start == "" {
		if neg {
			return playRange{}, fmt.Errorf("%w: npt range needs a start", errBadRange)
		}
		// "npt=-10": only an end, which means from the beginning in RFC
		// 2326; we play on and ignore the end.
		return playRange{kind: rangeNone}, nil
	}
	if start == "now" {
		if neg {
			return playRange{}, fmt.Errorf("%w: -now is not a time", errBadRange)
		}
		return playRange{kind: rangeLive}, nil
	}
	d, err := parseNPT(start)
	if err != nil {
		return playRange{}, err
	}
	switch {
	case neg:
		return playRange{kind: rangeFromEdge, npt: d}, nil
	case d == 0:
		return playRange{kind: rangeNone}, nil
	}
	return playRange{kind: rangeFromStart, npt: d}, nil
}

// parseNPT reads "12", "12.345" or "h:mm:ss(.frac)".
func parseNPT(s string) (time.Duration, error) {
	var secs float64
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		f, err := parseDecimal(parts[0])
		if err != nil {
			return 0, err
		}
		secs = f
	case 3:
		h, err1 := strconv.ParseUint(parts[0], 10, 32)
		m, err2 := strconv.ParseUint(parts[1], 10, 8)
		sec, err3 := parseDecimal(parts[2])
		if err1 != nil || err2 != nil || err3 != nil || m > 59 || sec >= 60 {
			return 0, fmt.Errorf("%w: npt time %q", errBadRange, s)
		}
		secs = float64(h)*3600 + float64(m)*60 + sec
	default:
		return 0, fmt.Errorf("%w: npt time %q", errBadRange, s)
	}
	d := time.Duration(secs * float64(time.Second))
	if secs > maxNPT.Seconds() || d < 0 {
		return 0, fmt.Errorf("%w: npt time %q is too large", errBadRange, s)
	}
	return d, nil
}

// parseDecimal reads an unsigned decimal number without exponent or sign.
func parseDecimal(s string) (float64, error) {
	if s == "" || strings.Trim(s, "0123456789.") != "" || strings.Count(s, ".") > 1 || s == "." {
		return 0, fmt.Errorf("%w: %q is not a number", errBadRange, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: %q is not a number", errBadRange, s)
	}
	return f, nil
}

// parseClock reads an RFC 2326 UTC clock time: 20261125T203000Z or
// 20261125T203000.25Z.
func parseClock(s string) (time.Time, error) {
	body, ok := strings.CutSuffix(s, "Z")
	if !ok {
		return time.Time{}, fmt.Errorf("%w: clock time %q must end in Z", errBadRange, s)
	}
	whole, frac, hasFrac := strings.Cut(body, ".")
	t, err := time.Parse("20060102T150405", whole)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: clock time %q", errBadRange, s)
	}
	if hasFrac {
		if frac == "" || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, fmt.Errorf("%w: clock time %q", errBadRange, s)
		}
		n, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		t = t.Add(time.Duration(n))
	}
	return t.UTC(), nil
}

// formatNPT writes a position for a Range response: "12.345".
func formatNPT(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// formatClock writes a wall-clock time for a Range response.
func formatClock(t time.Time) string {
	return t.UTC().Format("20060102T150405.000Z")
}
