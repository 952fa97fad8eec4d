package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPathNameLen is the longest path name accepted, in bytes.
const MaxPathNameLen = 255

// reservedNames may not be the first segment of a path name: the HTTP
// front door routes them itself.
var reservedNames = []string{"api", "metrics", "healthz", "readyz", "assets"}

// ValidPathName reports whether name may name a path in a request: ASCII
// letters, digits and . _ ~ - /, no leading or trailing "/", no "//", no
// "." or ".." segment, at most MaxPathNameLen bytes, a first segment
// that is not reserved (api, metrics, healthz, readyz, assets) and no
// later segment whep or whip.
func ValidPathName(name string) error {
	if msg := checkPathName(name, false); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// checkPathName returns "" for a good name, else "<problem>: expected
// <what>". With patterns, whole segments of the form {name} are allowed.
func checkPathName(name string, patterns bool) string {
	switch {
	case name == "":
		return "empty path name: expected a name like cam1 or site/door"
	case len(name) > MaxPathNameLen:
		return fmt.Sprintf("path name is %d bytes long: expected at most %d", len(name), MaxPathNameLen)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			strings.IndexByte("._~-/", ch) >= 0 || patterns && (ch == '{' || ch == '}') {
			continue
		}
		return fmt.Sprintf("invalid character %s in path name %s: expected letters, digits and . _ ~ - /", quoteShort(string(rune(ch))), quoteShort(name))
	}
	switch {
	case name[0] == '/' || name[len(name)-1] == '/':
		return fmt.Sprintf("path name %s starts or ends with \"/\": expected no leading or trailing \"/\"", quoteShort(name))
	case strings.Contains(name, "//"):
		return fmt.Sprintf("path name %s contains \"//\": expected segments separated by one \"/\"", quoteShort(name))
	}
	segs := strings.Split(name, "/")
	seen := map[string]bool{}
	for _, seg := range segs {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("path name %s has a %q segment: expected no \".\" or \"..\" segments", quoteShort(name), seg)
		}
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		ph, ok := placeholderName(seg)
		if !ok {
			return fmt.Sprintf("invalid placeholder in segment %s of path name %s: expected a whole segment like {name}", quoteShort(seg), quoteShort(name))
		}
		if seen[ph] {
			return fmt.Sprintf("placeholder {%s} appears twice in path name %s: expected distinct placeholder names", ph, quoteShort(name))
		}
		seen[ph] = true
	}
	for _, r := range reservedNames {
		if strings.EqualFold(segs[0], r) {
			return fmt.Sprintf("path name %s starts with the reserved name %q: expected a first segment other than %s", quoteShort(name), segs[0], strings.Join(reservedNames, ", "))
		}
	}
	// "/{path}/whep" is the WebRTC endpoint of {path}: in "cam/whep" the
	// HTTP front door would see cam's endpoint, never the path itself.
	for _, seg := range segs[1:] {
		if seg == "whep" || seg == "whip" {
			return fmt.Sprintf("path name %s has the segment %q, reserved after the first for WebRTC: expected another name", quoteShort(name), seg)
		}
	}
	return ""
}

// placeholderName returns ident when seg is exactly "{ident}" with ident
// made of letters, digits and _.
func placeholderName(seg string) (string, bool) {
	if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	ident := seg[1 : len(seg)-1]
	if !isIdent(ident) {
		return "", false
	}
	return ident, true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

// namePlaceholders returns the placeholders of a pattern path name.
func namePlaceholders(name string) map[string]bool {
	out := map[string]bool{}
	for _, seg := range strings.Split(name, "/") {
		if ph, ok := placeholderName(seg); ok {
			out[ph] = true
		}
	}
	return out
}

// sourcePlaceholders returns the {ident} placeholders in a source, in order.
func sourcePlaceholders(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return out
		}
		if ident := s[i+1 : i+j]; isIdent(ident) {
			out = append(out, ident)
			s = s[i+j+1:]
		} else {
			s = s[i+1:]
		}
	}
}

// patternShape replaces the placeholders of a pattern with "{}", so two
// patterns that match the same names have the same shape.
func patternShape(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		if _, ok := placeholderName(seg); ok {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}
