// Package accesslog writes one line per request, in JSON, key=value text,
// or the Common and Combined Log Formats, to stderr, stdout or a file.
//
// A file is opened once per path and shared by every [Logger] that writes
// to it (a reload builds a new Logger; the file stays open). It is reopened
// on SIGUSR1 and when it has been moved or removed, so that logrotate's
// default "create" mode works without copytruncate. Lines written before the
// reopen go to the moved file: none is lost.
//
// Writing a line formats into a pooled buffer and makes one Write call: no
// allocation per request.
package accesslog

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Format is how a line is written.
type Format int

const (
	// JSON is one JSON object per line.
	JSON Format = iota
	// Text is key=value pairs, as log/slog's text handler writes them.
	Text
	// Common is the Common Log Format (CLF).
	Common
	// Combined is CLF followed by the Referer and the User-Agent.
	Combined
)

// ParseFormat parses json, text, common or combined.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "json":
		return JSON, nil
	case "text":
		return Text, nil
	case "common":
		return Common, nil
	case "combined":
		return Combined, nil
	}
	return 0, errors.New("unknown access log format " + strconv.Quote(s) + ": want json, text, common or combined")
}

// Options configure a Logger.
type Options struct {
	// Format of each line.
	Format Format
	// Output is stderr, stdout or a file path (appended to, created 0644).
	Output string
	// Writer, when set, receives the lines instead of Output.
	Writer io.Writer
	// Sample is the fraction of requests logged; 0 and 1 log all.
	Sample float64
	// SkipPaths are paths never logged; a trailing * matches a prefix.
	SkipPaths []string
}

// Logger writes access log lines. It is safe for concurrent use.
type Logger struct {
	format   Format
	w        io.Writer
	file     *file // nil unless Output is a file
	sample   float64
	exact    map[string]bool
	prefixes []string
}

// New returns a Logger for opts; a file output is opened (or shared).
// Close it when no request uses it any more.
func New(opts Options) (*Logger, error) {
	l := &Logger{format: opts.Format, sample: opts.Sample}
	if l.sample <= 0 || l.sample >= 1 {
		l.sample = 1
	}
	for _, p := range opts.SkipPaths {
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			l.prefixes = append(l.prefixes, pre)
			continue
		}
		if l.exact == nil {
			l.exact = map[string]bool{}
		}
		l.exact[p] = true
	}
	switch {
	case opts.Writer != nil:
		l.w = opts.Writer
	case opts.Output == "stderr" || opts.Output == "":
		l.w = stderr
	case opts.Output == "stdout":
		l.w = stdout
	default:
		f, err := openShared(opts.Output)
		if err != nil {
			return nil, err
		}
		l.file, l.w = f, f
	}
	return l, nil
}

// Close releases the Logger's file, closed with the last Logger using it.
func (l *Logger) Close() error {
	if l.file != nil {
		f := l.file
		l.file = nil
		return f.release()
	}
	return nil
}

// Skip reports whether the request for path is not to be logged: a skipped
// path, or one left out by sampling. Call it first: a skipped request costs
// nothing more.
func (l *Logger) Skip(path string) bool {
	if l.exact != nil && l.exact[path] {
		return true
	}
	for _, p := range l.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return l.sample < 1 && rand.Float64() >= l.sample
}

// Entry is what one line says.
type Entry struct {
	// Start is when the request arrived.
	Start time.Time
	// Duration is how long it took to serve.
	Duration time.Duration
	// ClientIP is the client address as the host determines it.
	ClientIP netip.Addr
	// Route is the route pattern that served it ("unmatched" for 404/405).
	Route string
	// Status is the status code sent.
	Status int
	// Bytes counts the body bytes sent.
	Bytes int64
	// Notes are the outcomes the plugins reported; nil for none.
	Notes *Notes
}

// MaxNotes is how many outcomes a request's line carries.
const MaxNotes = 4

// Notes are the outcomes plugins report for one request (registry.Note),
// in the order first noted: a fixed array, so noting allocates nothing.
// The zero value is empty.
type Notes struct {
	kv [MaxNotes][2]string
	n  int
}

// Set records value under key: a key already noted gets the new value, a
// new key beyond MaxNotes is dropped.
func (ns *Notes) Set(key, value string) {
	for i := 0; i < ns.n; i++ {
		if ns.kv[i][0] == key {
			ns.kv[i][1] = value
			return
		}
	}
	if ns.n < MaxNotes {
		ns.kv[ns.n] = [2]string{key, value}
		ns.n++
	}
}

// Len is the number of notes.
func (ns *Notes) Len() int {
	if ns == nil {
		return 0
	}
	return ns.n
}

// At returns the i-th note, 0 <= i < Len.
func (ns *Notes) At(i int) (key, value string) { return ns.kv[i][0], ns.kv[i][1] }

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Log writes the line for r and e.
func (l *Logger) Log(r *http.Request, e *Entry) {
	bp := bufs.Get().(*[]byte)
	b := (*bp)[:0]
	switch l.format {
	case JSON:
		b = appendJSON(b, r, e)
	case Text:
		b = appendText(b, r, e)
	default:
		b = appendCLF(b, r, e, l.format == Combined)
	}
	b = append(b, '\n')
	_, _ = l.w.Write(b)
	if cap(b) <= 64<<10 { // a huge line is not kept
		*bp = b
		bufs.Put(bp)
	}
}

func appendJSON(b []byte, r *http.Request, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","client_ip":"`...)
	b = e.ClientIP.AppendTo(b)
	b = append(b, `","method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.URL.Path)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Nanoseconds())/1e6, 'f', 3, 64)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	for i := range e.Notes.Len() {
		k, v := e.Notes.At(i)
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	// Invalid UTF-8 is replaced with U+FFFD and reported as an error: the
	// line is still worth writing.
	out, _ := jsontext.AppendQuote(b, s)
	return out
}

func appendText(b []byte, r *http.Request, e *Entry) []byte {
	b = append(b, "time="...)
	b = e.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, " client_ip="...)
	b = e.ClientIP.AppendTo(b)
	b = append(b, " method="...)
	b = appendTextValue(b, r.Method)
	b = append(b, " path="...)
	b = appendTextValue(b, r.URL.Path)
	b = append(b, " proto="...)
	b = appendTextValue(b, r.Proto)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, " duration="...)
	b = appendDuration(b, e.Duration)
	b = append(b, " route="...)
	b = appendTextValue(b, e.Route)
	return appendNotes(b, e.Notes)
}

// appendNotes writes the notes as " key=value" pairs (text, common and
// combined formats).
func appendNotes(b []byte, ns *Notes) []byte {
	for i := range ns.Len() {
		k, v := ns.At(i)
		b = append(b, ' ')
		b = appendTextValue(b, k)
		b = append(b, '=')
		b = appendTextValue(b, v)
	}
	return b
}

// appendDuration writes d in milliseconds with microsecond precision
// ("0.153ms"): time.Duration.String would allocate.
func appendDuration(b []byte, d time.Duration) []byte {
	b = strconv.AppendFloat(b, float64(d.Nanoseconds())/1e6, 'f', 3, 64)
	return append(b, "ms"...)
}

// appendTextValue writes s bare when it has no space, quote, = or control
// character, quoted otherwise (as log/slog's text handler does).
func appendTextValue(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == '=' || c >= utf8.RuneSelf {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}

const clfTime = "02/Jan/2006:15:04:05 -0700"

func appendCLF(b []byte, r *http.Request, e *Entry, combined bool) []byte {
	b = e.ClientIP.AppendTo(b)
	b = append(b, " - "...)
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		b = appendCLFField(b, u)
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = e.Start.AppendFormat(b, clfTime)
	b = append(b, `] "`...)
	b = appendCLFField(b, r.Method)
	b = append(b, ' ')
	b = appendCLFField(b, r.RequestURI)
	b = append(b, ' ')
	b = appendCLFField(b, r.Proto)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	if e.Bytes > 0 {
		b = strconv.AppendInt(b, e.Bytes, 10)
	} else {
		b = append(b, '-')
	}
	if combined {
		b = append(b, ` "`...)
		b = appendCLFField(b, r.Header.Get("Referer"))
		b = append(b, `" "`...)
		b = appendCLFField(b, r.Header.Get("User-Agent"))
		b = append(b, '"')
	}
	return appendNotes(b, e.Notes)
}

// appendCLFField writes s with quotes, backslashes and control characters
// escaped as \xHH, as nginx does, so that a field cannot break the line.
func appendCLFField(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == '"' || c == '\\' || c == 0x7f {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
