package durable

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/durohost/durohost/abi"
)

// logHandler is the slog.Handler of Context.Logger: it formats records as slog text (without
// time and level, which the host records itself) and hands them to the log host function.
type logHandler struct {
	ctx   *Context
	inner slog.Handler
	w     *logWriter
}

// logWriter receives one formatted record per Write from the inner text handler.
type logWriter struct {
	ctx   *Context
	level int32
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.ctx.h.log(w.level, bytes.TrimSuffix(p, []byte("\n")))
	return len(p), nil
}

func newLogHandler(c *Context) *logHandler {
	w := &logWriter{ctx: c}
	inner := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &logHandler{ctx: c, inner: inner, w: w}
}

// Enabled drops every record while the orchestration replays (the host would drop it anyway)
// and after it returned (a host call then is an ABI misuse).
func (l *logHandler) Enabled(context.Context, slog.Level) bool {
	return !l.ctx.done && l.ctx.h.isReplaying() == 0
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	l.w.level = abiLevel(r.Level)
	return l.inner.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{ctx: l.ctx, inner: l.inner.WithAttrs(attrs), w: l.w}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{ctx: l.ctx, inner: l.inner.WithGroup(name), w: l.w}
}

// abiLevel maps a slog level to the nearest ABI level at or below it.
func abiLevel(l slog.Level) int32 {
	switch {
	case l >= slog.LevelError:
		return abi.LogError
	case l >= slog.LevelWarn:
		return abi.LogWarn
	case l >= slog.LevelInfo:
		return abi.LogInfo
	}
	return abi.LogDebug
}
