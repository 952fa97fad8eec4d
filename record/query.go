package record

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// errBadQuery is wrapped by parseRange.
var errBadQuery = errors.New("bad query")

// maxTime bounds times a request may name: far enough for any recording,
// near enough that arithmetic on them cannot overflow.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// parseTime reads one RFC 3339 time of a query parameter.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s=%q is not an RFC 3339 time such as 2026-11-25T10:00:00Z", errBadQuery, name, v)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%w: %s=%q is out of range: expected a time from 1970 to 9999", errBadQuery, name, v)
	}
	return t.UTC(), nil
}

// parseRange reads the start and end query parameters. With required,
// both must be there; else each may be missing (a zero time). end must be
// after start.
func parseRange(q url.Values, required bool) (start, end time.Time, err error) {
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start", &start}, {"end", &end}} {
		vs, ok := q[p.name]
		switch {
		case !ok && required:
			return time.Time{}, time.Time{}, fmt.Errorf("%w: missing %s: expected ?start=…&end=… as RFC 3339 times", errBadQuery, p.name)
		case !ok:
			continue
		case len(vs) != 1:
			return time.Time{}, time.Time{}, fmt.Errorf("%w: %s given %d times: expected it once", errBadQuery, p.name, len(vs))
		}
		t, err := parseTime(p.name, vs[0])
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		*p.dst = t
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: end %s is not after start %s", errBadQuery,
			end.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	return start, end, nil
}
