package gateway

import (
	"github.com/streamgate/streamgate/gateway/timeline"
	"github.com/streamgate/streamgate/gateway/timeshift"
)

// timeshiftPaths lists the named paths with a timeshift buffer.
func timeshiftPaths(conf *Config) map[string]timeshift.Settings {
	m := make(map[string]timeshift.Settings)
	for _, name := range conf.PathOrder {
		if pc := conf.Paths[name]; pc != nil && !pc.Pattern && pc.Timeshift > 0 {
			m[name] = timeshift.Settings{Window: pc.Timeshift, MaxBytes: pc.TimeshiftMaxBytes}
		}
	}
	return m
}

// timeshiftBuffer is a path's buffer, or nil, for status.
func (g *Gateway) timeshiftBuffer(path string) *timeshift.Buffer {
	if g.timeshift == nil {
		return nil
	}
	return g.timeshift.Buffer(path)
}

// timeshiftSource is the RTSP server's view of the buffers.
func (g *Gateway) timeshiftSource(path string) timeline.Source {
	if g.timeshift == nil {
		return nil
	}
	return g.timeshift.Source(path)
}
