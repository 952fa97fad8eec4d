package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce is how long the config watcher waits after the last event
// before it reads the file: an editor's save is several events (write,
// rename, chmod), and a half-written file must not be applied.
const reloadDebounce = 200 * time.Millisecond

// errNotStarted is Reload's answer before Start.
var errNotStarted = errors.New("gateway: reload: the gateway is not started")

// liveConfig is the configuration in force and the lock that serialises
// the reloads replacing it. Readers load the pointer and never block.
type liveConfig struct {
	mu  sync.Mutex
	cur atomic.Pointer[Config]
}

// conf is the configuration in force: the last one Reload applied, or
// Config until then. Callers read one snapshot and keep it for a decision,
// so they never mix two configs.
func (g *Gateway) conf() *Config {
	if c := g.live.cur.Load(); c != nil {
		return c
	}
	return g.Config
}

// setConf makes c the configuration in force.
func (g *Gateway) setConf(c *Config) { g.live.cur.Store(c) }

// pathDiff is what a reload changes among the configured paths (exact and
// pattern keys of Config.Paths).
type pathDiff struct {
	added, removed, changed []string
}

func diffPaths(old, cur *Config) pathDiff {
	var d pathDiff
	for _, name := range cur.PathOrder {
		op, ok := old.Paths[name]
		switch {
		case !ok:
			d.added = append(d.added, name)
		case !reflect.DeepEqual(op, cur.Paths[name]):
			d.changed = append(d.changed, name)
		}
	}
	for _, name := range old.PathOrder {
		if _, ok := cur.Paths[name]; !ok {
			d.removed = append(d.removed, name)
		}
	}
	return d
}

// resolvesAlike reports whether the concrete path name gets the same
// settings from both configs. It covers exact paths and pattern instances
// alike, and the cases a per-key diff misses: a new exact path that now
// shadows a pattern instance, patterns reordered.
func resolvesAlike(old, cur *Config, name string) bool {
	op, okOld := old.MatchPath(name)
	np, okNew := cur.MatchPath(name)
	return okOld == okNew && reflect.DeepEqual(op, np)
}

// Reload applies newConf to the running gateway. Live paths that resolve
// exactly as before keep their sources, publishers and readers untouched.
// Live paths that are gone or resolve differently (their key, or the
// pattern they are an instance of, changed) are closed: their readers end,
// and the next reader or publisher gets a path built from newConf.
// Always-on sources are started for added and changed paths. The log,
// rtsp, http, webrtc and auth sections need a restart: a change is logged
// as a warning and the running values stay, in conf() too. HLS section
// settings apply to muxers started from now on.
//
// newConf must be valid; it is copied, so the caller may keep it. On error
// nothing changes. Config keeps the configuration Start began with.
func (g *Gateway) Reload(newConf *Config) error {
	if newConf == nil {
		return errors.New("gateway: reload: no config")
	}
	if err := newConf.Validate(); err != nil {
		return fmt.Errorf("gateway: reload: %w", err)
	}
	cur := newConf.Clone()

	g.live.mu.Lock()
	defer g.live.mu.Unlock()
	if g.hub == nil {
		return errNotStarted
	}
	old := g.conf()
	// Both sides cloned: Clone turns empty lists into nil, so a list left
	// out and one written as [] do not count as a change.
	running := old.Clone()
	for _, key := range restartKeys(running, cur) {
		g.Logger.Warn("restart needed for "+key+": keeping the running value", "key", key)
	}
	// What Start built stays, and so does its config: conf() tells what
	// runs, and the next reload warns again until a restart.
	cur.Log, cur.RTSP, cur.HTTP, cur.WebRTC, cur.Auth = running.Log, running.RTSP, running.HTTP, running.WebRTC, running.Auth
	cur.Recordings = running.Recordings
	d := diffPaths(old, cur)
	g.setConf(cur)

	// From here on every Acquire resolves with cur: only the paths created
	// before can be stale. One created in between is reset needlessly (its
	// client retries), but none is left running with the old settings.
	var reset []string
	for _, name := range g.hub.PathNames() {
		if !resolvesAlike(old, cur, name) {
			reset = append(reset, name)
		}
	}
	var wg sync.WaitGroup
	for _, name := range reset {
		wg.Go(func() { g.hub.Reset(name) })
	}
	wg.Wait()
	g.timeshift.Set(timeshiftPaths(cur))
	if err := g.hub.SetAlwaysOn(alwaysOn(cur)); err != nil {
		g.Logger.Warn("cannot start an always-on source", "error", err)
	}
	// Recorders whose settings changed restart; a recorder of a path that
	// was reset above comes back on the new path by itself.
	if err := g.rec.Apply(recordSettings(cur)); err != nil {
		g.Logger.Warn("cannot start recording", "error", err)
	}
	for _, name := range slices.Concat(d.added, d.changed) {
		if pc := cur.Paths[name]; pc != nil && !pc.Pattern && pc.HLSAlwaysOn && g.hls != nil {
			if err := g.hls.Ensure(name); err != nil {
				g.Logger.Warn("cannot start the always-on HLS muxer", "path", name, "error", err)
			}
		}
	}
	g.Logger.Info("config reloaded", "file", cur.File,
		"added", d.added, "removed", d.removed, "changed", d.changed, "closed", reset)
	return nil
}

// restartKeys lists the keys whose new value only a restart applies: the
// listeners, the logger and the Authorizer are built once by Start.
func restartKeys(old, cur *Config) []string {
	var keys []string
	for _, s := range sections {
		if s.name == "hls" {
			continue // read per muxer through hlsSettings
		}
		for _, f := range s.fields {
			if !reflect.DeepEqual(f.ptr(old), f.ptr(cur)) {
				keys = append(keys, s.name+"."+f.key)
			}
		}
	}
	if !reflect.DeepEqual(old.Auth, cur.Auth) {
		keys = append(keys, "auth")
	}
	return keys
}

// ReloadFile reads file again (with the STREAMGATE_* environment, as
// LoadConfig does) and applies it with Reload. A config that does not load
// is returned as the error (file:line: key: what is expected) and the
// running one stays.
func (g *Gateway) ReloadFile(file string) error {
	conf, err := LoadConfig(file)
	if err != nil {
		return err
	}
	return g.Reload(conf)
}

// WatchConfig applies file again whenever its content changes, until ctx
// ends. It watches the file's directory, since editors and configuration
// managers replace a file rather than write it, and waits for changes to
// settle (reloadDebounce). A config that does not load or apply is logged
// once per change and the running one stays. It returns an error only
// when the watch cannot start, and nil when ctx ends.
func (g *Gateway) WatchConfig(ctx context.Context, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("watch config %s: %w", file, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config %s: %w", file, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch config %s: %w", file, err)
	}
	// What is running came from the file as it is now; only a different
	// content is applied (the directory sees other files' events too).
	last := fileSum(file)
	g.Logger.Info("watching the config file for changes", "file", file)

	debounce := time.NewTimer(reloadDebounce)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
				continue
			}
			debounce.Reset(reloadDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			g.Logger.Warn("config watcher", "file", file, "error", err)
		case <-debounce.C:
			data, err := os.ReadFile(file)
			if err != nil {
				g.Logger.Error("cannot read the changed config: keeping the running one", "file", file, "error", err)
				continue
			}
			sum := sha256.Sum256(data)
			if bytes.Equal(sum[:], last) {
				continue
			}
			last = sum[:]
			if err := g.applyFile(file, data); err != nil {
				g.Logger.Error("config not applied: keeping the running one", "file", file, "error", err)
			}
		}
	}
}

// applyFile parses data as LoadConfig would have read it from file and reloads.
func (g *Gateway) applyFile(file string, data []byte) error {
	conf, err := ParseConfig(file, data, os.Environ())
	if err != nil {
		return err
	}
	return g.Reload(conf)
}

// fileSum is the SHA-256 of file's content, nil when it cannot be read.
func fileSum(file string) []byte {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(data)
	return sum[:]
}

// serveReloads applies conf.File again on every value from hup (SIGHUP)
// and, when there is a file, whenever it changes, until ctx ends or the
// returned stop is called; stop waits for the goroutines.
func (g *Gateway) serveReloads(ctx context.Context, hup <-chan os.Signal) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	file := g.Config.File
	if file != "" {
		wg.Go(func() {
			if err := g.WatchConfig(ctx, file); err != nil {
				g.Logger.Warn("config changes are not applied by themselves (SIGHUP still works)", "error", err)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				g.Logger.Info("SIGHUP: reloading the config", "file", file)
				if err := g.ReloadFile(file); err != nil {
					g.Logger.Error("config not applied: keeping the running one", "file", file, "error", err)
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}
