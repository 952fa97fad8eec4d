package gateway

import (
	"errors"
	"strconv"
	"strings"
)

// ConfigError is one problem in a configuration. Its text has the form
//
//	streamgate.yml:12: paths.cam1.source: invalid URL "rtsp//x": expected rtsp://…
//
// or, for a value that came from the environment,
//
//	env STREAMGATE_RTSP_ADDRESS: rtsp.address: invalid address "x": expected host:port
type ConfigError struct {
	// File is the config file name ("" when there was none).
	File string
	// Line is the 1-based line in File (0 when the key is not in the file).
	Line int
	// Key is the full key path, for example "paths.cam1.source".
	Key string
	// Msg says what is wrong and what was expected ("…: expected …").
	Msg string
	// Env is the environment variable the value came from; when set it
	// replaces File and Line in the message.
	Env string
}

// Error formats the problem as "<file>:<line>: <key>: <msg>".
func (e *ConfigError) Error() string {
	var parts []string
	switch {
	case e.Env != "":
		parts = append(parts, "env "+e.Env)
	case e.File != "" && e.Line > 0:
		parts = append(parts, e.File+":"+strconv.Itoa(e.Line))
	case e.File != "":
		parts = append(parts, e.File)
	case e.Line > 0:
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		parts = append(parts, e.Key)
	}
	parts = append(parts, e.Msg)
	return strings.Join(parts, ": ")
}

// pos is where a value came from: a line of the file or an env variable.
type pos struct {
	line int
	env  string
}

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
