package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes pion's logs into slog. pion is chatty about
// recoverable trouble (a failed ping, a dropped candidate), so its warnings
// become Debug and its errors Warn; its info, debug and trace are dropped.
type pionLoggerFactory struct {
	logger *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.logger
	if l == nil {
		l = slog.Default()
	}
	return pionLogger{l.With("scope", scope)}
}

type pionLogger struct {
	l *slog.Logger
}

func (p pionLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if p.l.Enabled(context.Background(), level) {
		p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

// The methods below implement logging.LeveledLogger with the mapping above.

func (pionLogger) Trace(string)                     {}
func (pionLogger) Tracef(string, ...any)            {}
func (pionLogger) Debug(string)                     {}
func (pionLogger) Debugf(string, ...any)            {}
func (pionLogger) Info(string)                      {}
func (pionLogger) Infof(string, ...any)             {}
func (p pionLogger) Warn(msg string)                { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Warnf(format string, a ...any)  { p.logf(slog.LevelDebug, format, a...) }
func (p pionLogger) Error(msg string)               { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(format string, a ...any) { p.logf(slog.LevelWarn, format, a...) }
