package auth

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// checkName refuses path names that a correct protocol layer never passes
// on, so that a mistake upstream cannot widen what a pattern grants: "..",
// "//", a "." segment, a leading or trailing "/", a backslash, "%" (an
// undecoded escape), control characters and invalid UTF-8. The empty name
// is accepted here; callers decide whether an action needs a path.
func checkName(name string) error {
	if name == "" {
		return nil
	}
	switch {
	case !utf8.ValidString(name):
		return errors.New("invalid UTF-8")
	case strings.Contains(name, ".."):
		return errors.New(`contains ".."`)
	case strings.Contains(name, "//"):
		return errors.New(`contains "//"`)
	case name[0] == '/' || name[len(name)-1] == '/':
		return errors.New(`starts or ends with "/"`)
	case strings.ContainsAny(name, `\%`):
		return errors.New(`contains "\" or "%"`)
	case name == "." || strings.HasPrefix(name, "./") || strings.HasSuffix(name, "/.") || strings.Contains(name, "/./"):
		return errors.New(`contains a "." segment`)
	}
	if hasControl(name) {
		return errors.New("contains a control character")
	}
	return nil
}

// pattern is a compiled Permission.Path.
type pattern struct {
	all  bool     // "", "*" or "**": every path, and the empty path of api/metrics
	segs []string // one glob per segment; '*' matches any run of characters within the segment
	deep bool     // the pattern ended in "/**": one or more further segments of any depth
}

// compilePattern parses a Permission.Path. Patterns follow the rules of path
// names (see checkName) and may also use '*' inside a segment; "**" is only
// allowed as the whole last segment. '?', '[', ']', '{' and '}' are reserved.
func compilePattern(s string) (pattern, error) {
	if s == "" || s == "*" || s == "**" {
		return pattern{all: true}, nil
	}
	if err := checkName(s); err != nil {
		return pattern{}, err
	}
	if strings.ContainsAny(s, "?[]{}") {
		return pattern{}, errors.New(`"?", "[", "]", "{" and "}" are reserved`)
	}
	segs := strings.Split(s, "/")
	var p pattern
	for i, seg := range segs {
		if strings.Contains(seg, "**") {
			if seg != "**" || i != len(segs)-1 {
				return pattern{}, errors.New(`"**" is only allowed as the whole last segment`)
			}
			p.deep = true
			continue
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

// match reports whether the path name matches. name must have passed
// checkName; matching is case-sensitive and by whole segments.
func (p pattern) match(name string) bool {
	if p.all {
		return true
	}
	if name == "" {
		return false
	}
	rest := name
	for _, seg := range p.segs {
		if rest == "" {
			return false
		}
		part, tail, found := strings.Cut(rest, "/")
		if !globSegment(seg, part) {
			return false
		}
		if found {
			rest = tail
			if rest == "" { // trailing slash; refused by checkName anyway
				return false
			}
		} else {
			rest = ""
		}
	}
	if p.deep {
		return rest != ""
	}
	return rest == ""
}

// globSegment matches one segment against a glob where '*' stands for any
// run of characters (the segment holds no '/'). It runs in O(len(g)*len(s))
// at worst, without recursion.
func globSegment(g, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(g) && g[gi] == '*':
			star, mark = gi, si
			gi++
		case gi < len(g) && g[gi] == s[si]:
			gi++
			si++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}
