package compression

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/switchyard/switchyard/registry"
)

// writerState is where a response is in its life.
type writerState uint8

const (
	// statePending: nothing is sent yet; the body is held until the coding
	// can be decided.
	statePending writerState = iota
	// stateIdentity: the response goes out as the handler wrote it.
	stateIdentity
	// stateEncoding: the headers say Content-Encoding and the body goes
	// through the encoder (nowhere, for HEAD).
	stateEncoding
	// stateHijacked: the handler took the connection over.
	stateHijacked
)

// workerMinBytes is the size of a single write from which compression runs on
// the host's CPU worker pool, when it has one.
const workerMinBytes = 1 << 20

// bufferBodyMax is the body (before encoding) up to which an encoded
// response is held back so as to go out in one write with a Content-Length;
// past it the response streams.
const bufferBodyMax = 64 << 10

// sniffLen is how many bytes net/http's content sniffing looks at.
const sniffLen = 512

// responseWriter wraps the ResponseWriter of one request. It is pooled per
// instance, reset by assignment and cleared before it goes back.
type responseWriter struct {
	c    *Compressor
	rw   http.ResponseWriter
	req  *http.Request
	enc  encoding // the client's best acceptable coding; identity when none
	head bool     // HEAD: headers as for GET, no body

	state   writerState
	status  int  // final status; 0 until written or implied
	clSmall bool // Content-Length is set and below min_size
	counted bool // the response is counted in the metrics

	hold *bytes.Buffer // body held while pending
	zw   encoder       // encoder while encoding (nil for HEAD)
	out  countingWriter
	// zbuf holds the encoded body, and the status line and header wait,
	// until the handler returns (then the response goes out in one write
	// with its Content-Length), flushes, or writes more than bufferBodyMax
	// (then it streams). nil once streaming.
	zbuf *bytes.Buffer
	in   int64    // uncompressed bytes into the encoder
	inm  []string // If-None-Match as the client sent it (with suffixes)
}

// countingWriter counts the compressed bytes on their way to the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Header returns the response's header map; until the coding is decided the
// handler may still change it.
func (w *responseWriter) Header() http.Header { return w.rw.Header() }

// Unwrap returns the wrapped ResponseWriter so that http.ResponseController
// reaches SetWriteDeadline, SetReadDeadline and EnableFullDuplex.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader records the status. Informational 1xx responses (other than
// 101) are sent at once and are not the final status; 101 ends any encoding.
func (w *responseWriter) WriteHeader(code int) {
	switch {
	case w.state == stateHijacked:
		return
	case w.zbuf != nil:
		return // superfluous: the status is decided and waits with the body
	case w.state != statePending:
		w.rw.WriteHeader(code) // net/http reports the superfluous call
		return
	case w.status != 0:
		return // superfluous while the decision is pending
	case code < 100 || code > 999:
		w.rw.WriteHeader(code) // net/http panics with its own message
		return
	case code < 200 && code != http.StatusSwitchingProtocols:
		w.rw.WriteHeader(code)
		return
	}
	w.status = code
	w.decideOnHeader()
}

// decideOnHeader settles what the status and headers alone settle.
func (w *responseWriter) decideOnHeader() {
	h := w.rw.Header()
	if w.status == http.StatusNotModified {
		w.fixNotModified(h)
		w.startIdentity(false)
		return
	}
	if w.status == http.StatusSwitchingProtocols || w.status == http.StatusNoContent ||
		w.status == http.StatusPartialContent || len(h["Content-Range"]) > 0 ||
		len(h["Content-Encoding"]) > 0 || hasToken(h["Cache-Control"], "no-transform") {
		w.startIdentity(false)
		return
	}
	cl, hasCL := contentLength(h)
	w.clSmall = hasCL && cl < w.c.minSize
	ct, hasCT := h["Content-Type"]
	if !hasCT {
		return // sniffed from the body
	}
	switch {
	case !w.c.allowed(ct):
		w.startIdentity(false)
	case w.enc == encIdentity || w.clSmall:
		w.startIdentity(true)
	case hasCL:
		w.startEncoding()
	}
}

// fixNotModified gives a 304 the Vary and ETag that the 200 would carry:
// when the client's If-None-Match held the handler's tag with a coding
// suffix, the 304 names that variant.
func (w *responseWriter) fixNotModified(h http.Header) {
	if len(h["Content-Encoding"]) > 0 || hasToken(h["Cache-Control"], "no-transform") {
		return
	}
	addVary(h)
	if et := h["Etag"]; len(et) > 0 && isStrongETag(et[0]) {
		if e, ok := suffixedTagFor(w.inm, et[0][1:len(et[0])-1]); ok {
			h["Etag"] = []string{etagWithSuffix(et[0], e)}
		}
	}
}

// contentLength returns the Content-Length the handler set, if valid.
func contentLength(h http.Header) (int64, bool) {
	v := h["Content-Length"]
	if len(v) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// decideOnBody settles the coding once the body says enough: p is the write
// that reaches min_size (or nil on a flush or at the end), final reports
// that the handler has returned.
func (w *responseWriter) decideOnBody(p []byte, final bool) {
	h := w.rw.Header()
	w.sniffType(h, p)
	ct, hasCT := h["Content-Type"]
	switch {
	case !hasCT || !w.c.allowed(ct):
		w.startIdentity(false)
	case w.enc == encIdentity || w.clSmall || (final && int64(w.heldLen()+len(p)) < w.c.minSize):
		w.startIdentity(true)
	default:
		w.startEncoding()
	}
}

// sniffType sets Content-Type from the first uncompressed bytes when the
// handler set none, as net/http would; left to net/http, it would sniff the
// compressed bytes instead.
func (w *responseWriter) sniffType(h http.Header, p []byte) {
	if _, ok := h["Content-Type"]; ok {
		return
	}
	held := w.heldBytes()
	data := p
	switch {
	case len(held) >= sniffLen || len(p) == 0:
		data = held
	case len(held) > 0:
		data = append(held[:len(held):len(held)], p[:min(len(p), sniffLen-len(held))]...)
	}
	if len(data) == 0 {
		return // nothing to look at: net/http sends no Content-Type either
	}
	h["Content-Type"] = []string{http.DetectContentType(data)}
}

// startIdentity sends the response as written, with Vary when another
// Accept-Encoding could have changed it.
func (w *responseWriter) startIdentity(vary bool) {
	if vary {
		addVary(w.rw.Header())
	}
	w.state = stateIdentity
	w.count(encIdentity)
	if w.status != 0 {
		w.rw.WriteHeader(w.status)
	}
	if held := w.heldBytes(); len(held) > 0 {
		_, _ = w.rw.Write(held) // an error shows again on the handler's next write
	}
	w.releaseHold()
}

// startEncoding rewrites the headers for the chosen coding, sends them and
// starts the encoder with what was held.
func (w *responseWriter) startEncoding() {
	h := w.rw.Header()
	h["Content-Encoding"] = contentEncodingValues[w.enc]
	registry.Note(w.rw, "encoding", encNames[w.enc])
	addVary(h)
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	if et := h["Etag"]; len(et) > 0 && isStrongETag(et[0]) {
		h["Etag"] = []string{etagWithSuffix(et[0], w.enc)}
	}
	w.state = stateEncoding
	w.count(w.enc)
	if w.head {
		w.rw.WriteHeader(w.status)
	} else {
		// The status and header wait for the encoded body: see zbuf.
		w.zbuf = w.c.getBuffer()
		w.out = countingWriter{w: w.zbuf}
		w.zw = w.c.encoders.get(w.enc, &w.out)
		if held := w.heldBytes(); len(held) > 0 {
			n, _ := w.zw.Write(held) // an error shows again on the handler's next write
			w.in += int64(n)
		}
	}
	w.releaseHold()
}

// Write holds the body until min_size is reached, then writes it out,
// compressed or not.
func (w *responseWriter) Write(p []byte) (int, error) {
	switch w.state {
	case stateIdentity:
		return w.rw.Write(p)
	case stateEncoding:
		return w.encode(p)
	case stateHijacked:
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
		if w.state != statePending {
			return w.Write(p)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.enc != encIdentity && !w.clSmall && int64(w.heldLen()+len(p)) < w.c.minSize {
		if w.hold == nil {
			w.hold = w.c.getBuffer()
		}
		return w.hold.Write(p)
	}
	w.decideOnBody(p, false)
	return w.Write(p)
}

// encode writes p through the encoder; a single write of 1 MB or more runs
// on the host's CPU worker pool when there is one.
func (w *responseWriter) encode(p []byte) (int, error) {
	if w.zw == nil { // HEAD: the headers are what matters
		return len(p), nil
	}
	if w.zbuf != nil && w.in+int64(len(p)) > bufferBodyMax {
		if err := w.startStreaming(); err != nil {
			return 0, err
		}
	}
	if w.c.workers != nil && len(p) >= workerMinBytes {
		var n int
		var err error
		ctx := w.req.Context()
		if werr := w.c.workers.Do(ctx, func() { n, err = w.zw.Write(p) }); werr == nil {
			w.in += int64(n)
			return n, err
		}
		if cerr := ctx.Err(); cerr != nil {
			return 0, cerr
		}
		// The pool is saturated: compress here rather than fail a response
		// whose headers are already out.
	}
	n, err := w.zw.Write(p)
	w.in += int64(n)
	return n, err
}

// startStreaming sends the status, the header and the encoded body held so
// far, and points the encoder's output at the client.
func (w *responseWriter) startStreaming() error {
	zb := w.zbuf
	if zb == nil {
		return nil
	}
	w.zbuf = nil
	w.out.w = w.rw
	w.rw.WriteHeader(w.status)
	var err error
	if zb.Len() > 0 {
		_, err = w.rw.Write(zb.Bytes())
	}
	w.c.putBuffer(zb)
	return err
}

// sendBuffered sends a response whose encoded body is complete in zbuf: its
// Content-Length, the status and header, and the body in one write.
func (w *responseWriter) sendBuffered() {
	zb := w.zbuf
	w.zbuf = nil
	var d [20]byte
	w.rw.Header()["Content-Length"] = []string{string(strconv.AppendInt(d[:0], int64(zb.Len()), 10))}
	w.rw.WriteHeader(w.status)
	if zb.Len() > 0 {
		_, _ = w.rw.Write(zb.Bytes()) // a failed write to a gone client has nowhere to go
	}
	w.c.putBuffer(zb)
}

// ReadFrom copies src through Write with a pooled buffer, or hands it to the
// underlying writer (sendfile) when the response is not encoded.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.state == stateIdentity {
		if rf, ok := w.rw.(io.ReaderFrom); ok {
			return rf.ReadFrom(src)
		}
	}
	bp := copyBuffers.Get().(*[32 << 10]byte)
	defer copyBuffers.Put(bp)
	var total int64
	for {
		n, err := src.Read(bp[:])
		if n > 0 {
			m, werr := w.Write(bp[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// FlushError sends what the handler wrote so far: a pending response is
// decided (encoded when its type allows, whatever its size: a flushing
// handler streams), the encoder is flushed, then the connection.
func (w *responseWriter) FlushError() error {
	switch w.state {
	case stateHijacked:
		return http.ErrHijacked
	case statePending:
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		if w.state == statePending {
			w.decideOnBody(nil, false)
		}
	}
	if w.zw != nil {
		if err := w.zw.Flush(); err != nil {
			return err
		}
	}
	if err := w.startStreaming(); err != nil {
		return err
	}
	return http.NewResponseController(w.rw).Flush()
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection over (WebSocket libraries assert
// http.Hijacker directly); whatever was held or encoded is dropped.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.rw).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.zw != nil {
		w.c.encoders.put(w.enc, w.zw)
		w.zw = nil
	}
	w.releaseHold()
	w.releaseEncoded()
	w.count(encIdentity)
	w.state = stateHijacked
	return conn, brw, nil
}

// finish completes the response after the handler returned.
func (w *responseWriter) finish() {
	if w.state == statePending {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		if w.state == statePending {
			w.decideOnBody(nil, true)
		}
	}
	if w.zw != nil {
		_ = w.zw.Close() // a failed write to a gone client has nowhere to go
		w.c.encoders.put(w.enc, w.zw)
		w.zw = nil
		if w.zbuf != nil {
			w.sendBuffered()
		}
		w.c.addBytes(w.in, w.out.n)
	}
}

// release returns everything the request borrowed and the writer itself. A
// handler that panicked leaves an unfinished response: nothing more is
// written to it, so the host's recovery can still answer 500.
func (w *responseWriter) release() {
	if w.zw != nil {
		w.c.encoders.put(w.enc, w.zw)
	}
	w.releaseHold()
	w.releaseEncoded()
	w.count(encIdentity) // a response that ended unfinished
	c := w.c
	*w = responseWriter{c: c}
	c.writers.Put(w)
}

// count records the response's coding once.
func (w *responseWriter) count(e encoding) {
	if w.counted {
		return
	}
	w.counted = true
	w.c.countResponse(e)
}

func (w *responseWriter) heldBytes() []byte {
	if w.hold == nil {
		return nil
	}
	return w.hold.Bytes()
}

func (w *responseWriter) heldLen() int {
	if w.hold == nil {
		return 0
	}
	return w.hold.Len()
}

// releaseEncoded drops an encoded body that was never sent.
func (w *responseWriter) releaseEncoded() {
	if w.zbuf != nil {
		w.c.putBuffer(w.zbuf)
		w.zbuf = nil
	}
}

func (w *responseWriter) releaseHold() {
	if w.hold != nil {
		w.c.putBuffer(w.hold)
		w.hold = nil
	}
}
