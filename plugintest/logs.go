package plugintest

import (
	"context"
	"log/slog"
	"sync"
)

// LogEntry is one record a plugin logged through registry.Context.Logger.
type LogEntry struct {
	// Level is the record's level.
	Level slog.Level
	// Message is the record's message.
	Message string
	// Attrs holds the record's attributes and those the logger carries
	// (plugin and type among them), by key; keys inside a group are
	// prefixed with the group name and a dot.
	Attrs map[string]any
}

type logSink struct {
	mu  sync.Mutex
	all []LogEntry
}

func (s *logSink) add(e LogEntry) {
	s.mu.Lock()
	s.all = append(s.all, e)
	s.mu.Unlock()
}

func (s *logSink) entries() []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogEntry(nil), s.all...)
}

// logHandler records every record, at every level, into a logSink.
type logHandler struct {
	sink   *logSink
	attrs  []slog.Attr
	prefix string
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	e := LogEntry{Level: r.Level, Message: r.Message, Attrs: map[string]any{}}
	for _, a := range h.attrs {
		addAttr(e.Attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(e.Attrs, h.prefix, a)
		return true
	})
	h.sink.add(e)
	return nil
}

func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	m[prefix+a.Key] = v.Any()
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = make([]slog.Attr, 0, len(h.attrs)+len(attrs))
	h2.attrs = append(h2.attrs, h.attrs...)
	for _, a := range attrs {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}
