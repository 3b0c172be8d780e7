package core

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/switchyard/switchyard/internal/accesslog"
)

// statusWriter records the status code for metrics. It is
// pooled by the host; Unwrap lets http.ResponseController reach the
// connection's Flush, Hijack and deadlines.
type statusWriter struct {
	w      http.ResponseWriter
	status int
	bytes  int64 // body bytes written, for the access log
	notes  accesslog.Notes
}

// Note records an outcome for the access log (registry.Note reaches it).
func (sw *statusWriter) Note(key, value string) { sw.notes.Set(key, value) }

func (sw *statusWriter) Header() http.Header { return sw.w.Header() }

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 && code >= 200 {
		sw.status = code
	}
	sw.w.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.w.Write(b)
	sw.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (sw *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := sw.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{sw.w}, r)
	}
	sw.bytes += n
	return n, err
}

// Flush implements http.Flusher for middleware that asserts it.
func (sw *statusWriter) Flush() {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	_ = http.NewResponseController(sw.w).Flush()
}

// Hijack implements http.Hijacker for WebSocket libraries that assert it.
func (sw *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(sw.w).Hijack()
	if err == nil && sw.status == 0 {
		sw.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.w }

type writerOnly struct{ io.Writer }
