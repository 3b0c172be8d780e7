package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
)

// newLogger returns a logger writing to w. format is auto
// (color when w is a terminal, text otherwise), color, text or json.
// The human formats print a location as one file:line attribute.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	if format == "auto" {
		format = "text"
		if isTerminal(w) {
			format = "color"
		}
	}
	switch format {
	case "color":
		return slog.New(locationHandler{tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: "15:04:05.000"}), true}), nil
	case "text":
		return slog.New(locationHandler{slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}), false}), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	}
	return nil, fmt.Errorf("-log-format %q: want auto, color, text or json", format)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// locationHandler joins a record's file and line attributes into one
// at=file:line attribute, the form that editors and terminals open at the
// line (a rejected config logs file, line, key and err). On a colour
// terminal it also prints the err attribute in red.
type locationHandler struct {
	slog.Handler
	tinted bool
}

func (h locationHandler) Handle(ctx context.Context, r slog.Record) error {
	var file string
	var line int64
	var hasFile, hasErr bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "file":
			file, hasFile = a.Value.String(), true
		case "line":
			if a.Value.Kind() == slog.KindInt64 {
				line = a.Value.Int64()
			}
		case "err":
			hasErr = true
		}
		return true
	})
	if !hasFile && !(hasErr && h.tinted) {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	at := file
	if line > 0 {
		at += ":" + strconv.FormatInt(line, 10)
	}
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case hasFile && a.Key == "file":
			if at != "" {
				out.AddAttrs(slog.String("at", at))
			}
		case hasFile && a.Key == "line":
		case h.tinted && a.Key == "err":
			out.AddAttrs(tint.Attr(9, a))
		default:
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h locationHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return locationHandler{h.Handler.WithAttrs(as), h.tinted}
}

func (h locationHandler) WithGroup(name string) slog.Handler {
	return locationHandler{h.Handler.WithGroup(name), h.tinted}
}

// redisLogger routes go-redis's own messages (dial failures, pool errors)
// into the log at debug level: the plugins already log Redis
// outages once per interval, so the client's every retry is noise.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}
