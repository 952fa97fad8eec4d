package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/streamgate/streamgate/web"
)

// apiError is an error the API answers with the status kind stands for
// (web.ErrNotFound...) and the text of err alone.
type apiError struct {
	kind error
	err  error
}

func (e *apiError) Error() string   { return e.err.Error() }
func (e *apiError) Unwrap() []error { return []error{e.kind, e.err} }

func apiErr(kind error, format string, args ...any) error {
	return &apiError{kind: kind, err: fmt.Errorf(format, args...)}
}

// AddPath adds the exact path name with the keys in body over pathDefaults,
// as if the file had it, and applies the result with Reload.
func (a apiView) AddPath(name string, body map[string]any) error {
	return a.editConfig(func(c *Config) error {
		if _, ok := c.Paths[name]; ok {
			return apiErr(web.ErrConflict, "path %q exists: expected PATCH to change it", name)
		}
		p := c.PathDefaults
		p.Name, p.Pattern = name, false
		set, err := decodePathKeys(&p, name, body)
		if err != nil {
			return err
		}
		// The rules resolve applies to a path of the file.
		if name == DemoPathName && !set["source"] {
			p.Source = SourceDemo
		}
		if !set["onDemand"] && !p.Pulled() {
			p.OnDemand = false
		}
		if fp, ok := normalizeFingerprint(p.SourceFingerprint); ok {
			p.SourceFingerprint = fp
		}
		c.Paths[name] = &p
		c.PathOrder = append(c.PathOrder, name)
		return nil
	})
}

// PatchPath sets the keys in body on the configured path name.
func (a apiView) PatchPath(name string, body map[string]any) error {
	return a.editConfig(func(c *Config) error {
		old, ok := c.Paths[name]
		if !ok || old == nil {
			return apiErr(web.ErrNotFound, "no configured path named %q", name)
		}
		p := *old
		set, err := decodePathKeys(&p, name, body)
		if err != nil {
			return err
		}
		// A source that is no longer pulled cannot be on demand.
		if set["source"] && !set["onDemand"] && !p.Pulled() {
			p.OnDemand = false
		}
		if fp, ok := normalizeFingerprint(p.SourceFingerprint); ok {
			p.SourceFingerprint = fp
		}
		c.Paths[name] = &p
		return nil
	})
}

// DeletePath removes the configured path name; its readers and publisher end.
func (a apiView) DeletePath(name string) error {
	return a.editConfig(func(c *Config) error {
		if _, ok := c.Paths[name]; !ok {
			return apiErr(web.ErrNotFound, "no configured path named %q", name)
		}
		delete(c.Paths, name)
		c.PathOrder = slices.DeleteFunc(c.PathOrder, func(k string) bool { return k == name })
		return nil
	})
}

// ReloadConfig reads the config file again and applies it; paths added
// over the API and not in the file go away.
func (a apiView) ReloadConfig() error {
	a.edit.Lock()
	defer a.edit.Unlock()
	file := a.g.conf().File
	if file == "" {
		return apiErr(web.ErrConflict, "no config file to reload: streamgate was started without -config")
	}
	conf, err := LoadConfig(file)
	if err != nil {
		return &apiError{kind: web.ErrInvalid, err: err}
	}
	return a.g.Reload(conf)
}

// editConfig applies edit to a copy of the running config, validates it
// and applies it with Reload, so paths edit leaves alone keep running.
// API edits are serialised, so none is lost to another's snapshot.
func (a apiView) editConfig(edit func(c *Config) error) error {
	a.edit.Lock()
	defer a.edit.Unlock()
	c := a.g.conf().Clone()
	if err := edit(c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return &apiError{kind: web.ErrInvalid, err: err}
	}
	return a.g.Reload(c)
}

// decodePathKeys sets the path keys of body (JSON values, numbers as
// json.Number) on p with the file's types and rules, and returns the keys
// set. Errors name the key as the file would: paths.<name>.<key>.
func decodePathKeys(p *PathConfig, name string, body map[string]any) (map[string]bool, error) {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	set := map[string]bool{}
	var errs []error
	for _, k := range keys {
		full := "paths." + name + "." + k
		f, ok := findPathField(k)
		if !ok {
			errs = append(errs, &ConfigError{Key: full, Msg: unknownKeyMsg(k, pathKeys())})
			continue
		}
		if msg := jsonValue(body[k], f.ptr(p)); msg != "" {
			errs = append(errs, &ConfigError{Key: full, Msg: msg})
			continue
		}
		set[k] = true
	}
	if len(errs) > 0 {
		return nil, &apiError{kind: web.ErrInvalid, err: errors.Join(errs...)}
	}
	return set, nil
}

// jsonValue stores the JSON value v into ptr; it returns what is wrong,
// "" when v fits.
func jsonValue(v any, ptr any) string {
	wrong := func() string { return fmt.Sprintf("got %s: expected %s", jsonDescribe(v), expectation(ptr)) }
	switch dst := ptr.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return wrong()
		}
		*dst = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return wrong()
		}
		*dst = b
	case *int:
		n, ok := v.(json.Number)
		if !ok {
			return wrong()
		}
		i, err := n.Int64()
		if err != nil {
			return wrong()
		}
		if i > math.MaxInt32 || i < math.MinInt32 {
			return fmt.Sprintf("integer %s is out of range: expected a value below 2147483648", n)
		}
		*dst = int(i)
	case *int64:
		var text string
		switch x := v.(type) {
		case json.Number:
			text = x.String()
		case string:
			text = x
		default:
			return wrong()
		}
		n, err := parseSize(text)
		if err != nil {
			return err.Error()
		}
		*dst = n
	case *time.Duration:
		if n, ok := v.(json.Number); ok && n.String() == "0" {
			*dst = 0
			return ""
		}
		s, ok := v.(string)
		if !ok {
			return wrong()
		}
		d, msg := parseDuration(s)
		if msg != "" {
			return msg
		}
		*dst = d
	default:
		return wrong()
	}
	return ""
}

// jsonDescribe names a JSON value for error messages.
func jsonDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "the string " + quoteShort(x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case json.Number:
		return "the number " + x.String()
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
