package handlers

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// MaxBody limits request bodies to limit bytes (server.max_body_bytes); a
// larger body gets 413 with a short JSON body:
//
//   - A Content-Length above limit is refused before next runs.
//   - A body of unannounced length (chunked) is read through
//     [http.MaxBytesReader]. When a read in next fails on the limit and next
//     has written nothing yet, the response becomes 413: anything next writes
//     afterwards (its own 400, a proxy's 502) is discarded. A response next
//     had already started is left as it is.
//
// A request without a body passes straight to next with nothing allocated.
// limit <= 0 returns next unchanged.
func MaxBody(limit int64, next http.Handler) http.Handler {
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			JSONError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		// Not pooled: a transport may still read the body after next returns.
		lw := &limitWriter{w: w}
		// The original w, so the server learns it must close the connection.
		lw.body = http.MaxBytesReader(w, r.Body, limit)
		r.Body = (*limitBody)(lw)
		next.ServeHTTP(lw, r)
		if lw.exceeded.Load() && !lw.wrote {
			lw.refuse()
		}
	})
}

// limitWriter watches the body reads of one request and turns the response
// into 413 when the limit was hit before anything was written.
type limitWriter struct {
	w        http.ResponseWriter
	body     io.ReadCloser
	exceeded atomic.Bool // set by body reads, which may run on another goroutine
	wrote    bool        // a final header went out (from the handler or refuse)
	refused  bool        // the 413 went out: swallow the handler's output
}

// refuse sends the 413 once. Headers set by outer middleware (CORS,
// rate-limit, tracing) stay; those that describe the body next meant to send
// go.
func (lw *limitWriter) refuse() {
	lw.wrote, lw.refused = true, true
	h := lw.w.Header()
	for _, k := range representationHeaders {
		delete(h, k)
	}
	h["Connection"] = connectionClose
	JSONError(lw.w, http.StatusRequestEntityTooLarge, "request body too large")
}

var (
	connectionClose       = []string{"close"}
	representationHeaders = [...]string{"Content-Encoding", "Content-Range", "Content-Disposition",
		"Content-Language", "Content-Location", "Etag", "Last-Modified", "Transfer-Encoding"}
)

// Header implements [http.ResponseWriter].
func (lw *limitWriter) Header() http.Header { return lw.w.Header() }

// WriteHeader implements [http.ResponseWriter].
func (lw *limitWriter) WriteHeader(code int) {
	if lw.wrote {
		return
	}
	if lw.exceeded.Load() {
		lw.refuse()
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		lw.wrote = true
	}
	lw.w.WriteHeader(code)
}

// Write implements [http.ResponseWriter].
func (lw *limitWriter) Write(p []byte) (int, error) {
	if !lw.wrote {
		lw.WriteHeader(http.StatusOK)
	}
	if lw.refused {
		return len(p), nil
	}
	return lw.w.Write(p)
}

// ReadFrom keeps the underlying writer's sendfile path.
func (lw *limitWriter) ReadFrom(r io.Reader) (int64, error) {
	if !lw.wrote {
		lw.WriteHeader(http.StatusOK)
	}
	if lw.refused {
		return io.Copy(io.Discard, r)
	}
	if rf, ok := lw.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{lw.w}, r)
}

// Flush implements [http.Flusher] for code that asserts it.
func (lw *limitWriter) Flush() {
	if !lw.wrote {
		lw.WriteHeader(http.StatusOK)
	}
	if !lw.refused {
		_ = http.NewResponseController(lw.w).Flush()
	}
}

// Hijack implements [http.Hijacker] for code that asserts it.
func (lw *limitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(lw.w).Hijack()
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (lw *limitWriter) Unwrap() http.ResponseWriter { return lw.w }

// writerOnly hides every method but Write, so io.Copy cannot loop back into
// ReadFrom.
type writerOnly struct{ io.Writer }

// limitBody is the request body side of a limitWriter.
type limitBody limitWriter

// Read implements [io.Reader].
func (lb *limitBody) Read(p []byte) (int, error) {
	n, err := lb.body.Read(p)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			lb.exceeded.Store(true)
		}
	}
	return n, err
}

// Close implements [io.Closer].
func (lb *limitBody) Close() error { return lb.body.Close() }
