package gateway

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// loader holds the state of one ParseConfig call. The file is decoded by
// walking goccy's AST rather than with yaml.Unmarshal, so that every
// message can name the line and full key path and say what was expected.
type loader struct {
	file    string
	cfg     *Config             // log, rtsp and pathDefaults; paths come from raw
	prov    map[string]pos      // key path -> where it was set
	raw     map[string]*rawPath // paths as written, before merging
	order   []string            // raw path names in file order
	anchors []anchorDef
	errs    []error
}

// rawPath is a path as written: only the keys in set were given.
type rawPath struct {
	p   PathConfig
	set map[string]bool
}

type anchorDef struct {
	name   string
	offset int
	value  ast.Node
}

func newLoader(file string) *loader {
	cfg := DefaultConfig()
	cfg.File = file
	cfg.Paths = map[string]*PathConfig{}
	cfg.PathOrder = nil
	return &loader{file: file, cfg: cfg, prov: map[string]pos{}, raw: map[string]*rawPath{}}
}

func (l *loader) errorf(key string, p pos, format string, args ...any) {
	l.errs = append(l.errs, &ConfigError{File: l.file, Line: p.line, Env: p.env, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// pos returns where key was set in the file or env (zero when it was not).
func (l *loader) pos(key string) pos { return l.prov[key] }

func lineOf(n ast.Node) pos {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return pos{}
	}
	return pos{line: n.GetToken().Position.Line}
}

func (l *loader) decodeFile(data []byte) {
	if len(data) == 0 {
		return
	}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		l.syntaxError(err)
		return
	}
	var body ast.Node
	for _, d := range f.Docs {
		if d == nil || isEmpty(d.Body) {
			continue
		}
		if body != nil {
			l.errorf("", lineOf(d.Body), "a second YAML document: expected a single document")
			return
		}
		body = d.Body
	}
	if body == nil {
		return
	}
	ast.Walk(anchorCollector{l}, body)
	l.mapping(body, "", lineOf(body), "a mapping with keys "+strings.Join(topKeys, ", "), func(key string, kp pos, v ast.Node) {
		if sec, ok := findSection(key); ok {
			l.section(v, sec.name, sec.fields, kp)
			return
		}
		switch key {
		case "auth":
			l.auth(v, kp)
		case "pathDefaults":
			l.prov["pathDefaults"] = kp
			l.pathBody(v, "pathDefaults", kp, &l.cfg.PathDefaults, nil)
		case "paths":
			l.paths(v, kp)
		default:
			l.errorf(key, kp, "%s", unknownKeyMsg(key, topKeys))
		}
	})
}

func (l *loader) syntaxError(err error) {
	var ye yaml.Error
	p := pos{}
	msg := err.Error()
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p.line = tk.Position.Line
		}
	}
	l.errorf("", p, "invalid YAML: %s: expected valid YAML syntax", msg)
}

func isEmpty(n ast.Node) bool {
	if n == nil {
		return true
	}
	switch n.(type) {
	case *ast.CommentGroupNode, *ast.CommentNode, *ast.DirectiveNode:
		return true
	}
	return false
}

type anchorCollector struct{ l *loader }

func (a anchorCollector) Visit(n ast.Node) ast.Visitor {
	if an, ok := n.(*ast.AnchorNode); ok && an.Name != nil && an.GetToken() != nil && an.GetToken().Position != nil {
		a.l.anchors = append(a.l.anchors, anchorDef{
			name:   an.Name.GetToken().Value,
			offset: an.GetToken().Position.Offset,
			value:  an.Value,
		})
	}
	return a
}

// deref strips anchors, aliases and standard tags. It returns nil when
// the node is an alias of an unknown anchor or has an unsupported tag,
// after recording an error for key.
func (l *loader) deref(n ast.Node, key string, kp pos) ast.Node {
	for depth := 0; n != nil && depth < 64; depth++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil && v.Value.GetToken() != nil {
				name = v.Value.GetToken().Value
			}
			off := math.MaxInt
			if tk := v.GetToken(); tk != nil && tk.Position != nil {
				off = tk.Position.Offset
			}
			var target ast.Node
			for _, a := range l.anchors {
				if a.name == name && a.offset < off {
					target = a.value
				}
			}
			if target == nil {
				l.errorf(key, kp, "alias *%s refers to no earlier anchor: expected an anchor &%s before it", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			tag := ""
			if v.Start != nil {
				tag = v.Start.Value
			}
			if !strings.HasPrefix(tag, "!!") {
				l.errorf(key, kp, "unsupported tag %s: expected a plain value or a standard !! tag", tag)
				return nil
			}
			if tag == "!!str" {
				if s, ok := scalarText(v.Value); ok {
					return ast.String(&token.Token{Type: token.StringType, Value: s, Position: v.GetToken().Position})
				}
			}
			n = v.Value
		default:
			return n
		}
	}
	if n != nil {
		l.errorf(key, kp, "aliases nested too deep: expected a value")
		return nil
	}
	return n
}

// scalarText returns the literal text of a scalar node.
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	case *ast.NullNode:
		return "", true
	}
	return "", false
}

// describe names what a node is, for "got …: expected …" messages.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "no value"
	case *ast.StringNode:
		return "string " + quoteShort(v.Value)
	case *ast.LiteralNode:
		return "a block string"
	case *ast.IntegerNode:
		return "integer " + v.GetToken().Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number " + v.GetToken().Value
	case *ast.BoolNode:
		return "boolean " + v.GetToken().Value
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// quoteShort quotes s for a message, shortening very long values.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return strconv.Quote(s)
}

// mapping calls fn for each entry of the mapping n (the value of key path
// prefix set at np; expect is used when n is not a mapping), rejecting duplicate, merge
// and non-scalar keys. A null value is an empty mapping.
func (l *loader) mapping(n ast.Node, prefix string, np pos, expect string, fn func(key string, kp pos, v ast.Node)) {
	n = l.deref(n, prefix, np)
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case nil:
		return
	case *ast.NullNode:
		return
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		l.errorf(prefix, np, "got %s: expected %s", describe(n), expect)
		return
	}
	seen := map[string]int{}
	for _, mv := range values {
		kp := lineOf(mv.Key)
		var keyNode ast.Node = mv.Key
		if mk, ok := keyNode.(*ast.MappingKeyNode); ok {
			keyNode = mk.Value
		}
		if _, ok := keyNode.(*ast.MergeKeyNode); ok {
			l.errorf(join(prefix, "<<"), kp, "merge keys are not supported: expected plain keys (put shared path settings in pathDefaults)")
			continue
		}
		keyNode = l.deref(keyNode, prefix, kp)
		if keyNode == nil {
			continue
		}
		key, ok := scalarText(keyNode)
		if _, isNull := keyNode.(*ast.NullNode); isNull {
			key = keyNode.GetToken().Value // "null:" and "~:" are names, not nothing
		}
		if !ok {
			l.errorf(prefix, kp, "got %s as a key: expected a plain key", describe(keyNode))
			continue
		}
		full := join(prefix, key)
		if first, dup := seen[key]; dup {
			if prefix == "paths" {
				l.errorf(full, kp, "duplicate path (first at line %d): expected each path name once", first)
			} else {
				l.errorf(full, kp, "duplicate key (first at line %d): expected each key once", first)
			}
			continue
		}
		seen[key] = kp.line
		fn(key, kp, mv.Value)
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (l *loader) section(n ast.Node, name string, fields []sectionField, kp pos) {
	l.prov[name] = kp
	keys := sectionKeys(fields)
	l.mapping(n, name, kp, "a mapping with keys "+strings.Join(keys, ", "), func(key string, fp pos, v ast.Node) {
		f, ok := findSectionField(fields, key)
		if !ok {
			l.errorf(join(name, key), fp, "%s", unknownKeyMsg(key, keys))
			return
		}
		full := join(name, key)
		if l.value(v, full, fp, f.ptr(l.cfg)) {
			l.prov[full] = fp
		}
	})
}

// pathBody decodes the keys of one path (or pathDefaults) into p,
// recording each key given in set (when not nil).
func (l *loader) pathBody(n ast.Node, prefix string, kp pos, p *PathConfig, set map[string]bool) {
	keys := pathKeys()
	l.mapping(n, prefix, kp, "a mapping with path keys like source", func(key string, fp pos, v ast.Node) {
		f, ok := findPathField(key)
		full := join(prefix, key)
		if !ok {
			l.errorf(full, fp, "%s", unknownKeyMsg(key, keys))
			return
		}
		if l.value(v, full, fp, f.ptr(p)) {
			l.prov[full] = fp
			if set != nil {
				set[key] = true
			}
		}
	})
}

func (l *loader) paths(n ast.Node, kp pos) {
	l.mapping(n, "paths", kp, "a mapping of path names to path settings", func(name string, kp pos, v ast.Node) {
		full := join("paths", name)
		l.prov[full] = kp
		rp := &rawPath{set: map[string]bool{}}
		l.raw[name] = rp
		l.order = append(l.order, name)
		l.pathBody(v, full, kp, &rp.p, rp.set)
	})
}

// value decodes the scalar or list n into ptr, reporting type errors.
func (l *loader) value(n ast.Node, key string, kp pos, ptr any) bool {
	n = l.deref(n, key, kp)
	if n == nil {
		return false
	}
	wrong := func() bool {
		l.errorf(key, kp, "got %s: expected %s", describe(n), expectation(ptr))
		return false
	}
	switch dst := ptr.(type) {
	case *string:
		if _, isBool := n.(*ast.BoolNode); isBool {
			l.errorf(key, kp, "got %s: expected a string (quote it: \"%s\")", describe(n), n.GetToken().Value)
			return false
		}
		s, ok := scalarText(n)
		if !ok {
			return wrong()
		}
		if !utf8.ValidString(s) {
			l.errorf(key, kp, "invalid UTF-8 in %s: expected text", quoteShort(s))
			return false
		}
		*dst = s
	case *bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			return wrong()
		}
		*dst = b.Value
	case *int:
		in, ok := n.(*ast.IntegerNode)
		if !ok {
			return wrong()
		}
		var v int64
		switch x := in.Value.(type) {
		case int64:
			v = x
		case uint64:
			if x > math.MaxInt32 {
				v = math.MaxInt64
			} else {
				v = int64(x)
			}
		}
		if v > math.MaxInt32 || v < math.MinInt32 {
			l.errorf(key, kp, "integer %s is out of range: expected a value below 2147483648", in.GetToken().Value)
			return false
		}
		*dst = int(v)
	case *int64:
		// A size in bytes: an integer, or a number with a unit
		// ("512MiB", "2GB", "100k").
		var text string
		switch x := n.(type) {
		case *ast.IntegerNode:
			text = x.GetToken().Value
		case *ast.StringNode:
			text = x.Value
		default:
			return wrong()
		}
		v, err := parseSize(text)
		if err != nil {
			l.errorf(key, kp, "%v", err)
			return false
		}
		*dst = v
	case *time.Duration:
		if in, ok := n.(*ast.IntegerNode); ok && in.GetToken().Value == "0" {
			*dst = 0
			return true
		}
		s, ok := n.(*ast.StringNode)
		if !ok {
			return wrong()
		}
		d, msg := parseDuration(s.Value)
		if msg != "" {
			l.errorf(key, kp, "%s", msg)
			return false
		}
		*dst = d
	case *[]string:
		if _, ok := n.(*ast.NullNode); ok {
			*dst = []string{}
			return true
		}
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return wrong()
		}
		out := []string{}
		good := true
		for _, item := range seq.Values {
			ip := lineOf(item)
			item = l.deref(item, key, ip)
			if item == nil {
				good = false
				continue
			}
			s, ok := scalarText(item)
			if _, isNull := item.(*ast.NullNode); !ok || isNull {
				l.errorf(key, ip, "got %s in the list: expected a string", describe(item))
				good = false
				continue
			}
			out = append(out, s)
		}
		if !good {
			return false
		}
		*dst = out
	}
	return true
}

// parseDuration parses a non-negative time.ParseDuration value; msg is the
// error message ("" when valid).
func parseDuration(s string) (time.Duration, string) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Sprintf("invalid duration %s: expected %s", quoteShort(s), durationExpect)
	}
	if d < 0 {
		return 0, fmt.Sprintf("negative duration %s: expected a duration of 0 or more", quoteShort(s))
	}
	return d, ""
}

// parseSize reads a size in bytes: "1048576", "512MiB", "2GB", "100k".
// Units are k/K, M, G, T with an optional "B" or "iB"; both decimal and
// binary spellings mean powers of 1024, as memory and disk sizes are
// usually meant.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %s: expected a number of bytes, optionally with a unit (k, M, G, T), like 512MiB", quoteShort(s))
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %s is out of range", quoteShort(s))
	}
	unit := strings.TrimSpace(t[i:])
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "i")
	shift := 0
	switch strings.ToUpper(unit) {
	case "":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("size %s: unknown unit %q: expected k, M, G or T (with B or iB)", quoteShort(s), t[i:])
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %s is out of range", quoteShort(s))
	}
	return n << shift, nil
}
