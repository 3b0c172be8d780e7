package compression

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/registry"
)

// TypeName is the plugin type under which this package registers.
const TypeName = "compression"

func init() {
	registry.Register(TypeName, New)
}

// Compressor is one compression instance: it negotiates gzip, zstd or br
// per request and encodes eligible responses as they stream. It is safe for
// concurrent use; its encoders and per-request writers are pooled and live
// as long as the instance, so an unchanged instance kept across a reload
// keeps its warm pools.
type Compressor struct {
	name     string
	level    int
	minSize  int64
	prefs    []encoding
	types    []mediaPattern
	encoders *encoderPools
	writers  sync.Pool
	buffers  registry.BufferPool
	workers  registry.WorkerPool

	responses [numEncodings]prometheus.Counter
	bytesIn   prometheus.Counter
	bytesOut  prometheus.Counter

	nResponses [numEncodings]atomic.Uint64
	nIn, nOut  atomic.Uint64
	closes     atomic.Int32
}

// New builds a compression instance from its validated config. It is the
// factory registered for the "compression" type.
func New(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
	if err := cfg.Validate(); err != nil { // the registry has validated; direct callers may not have
		return nil, err
	}
	prefs, _ := cfg.encodings() // validated above
	types, _ := cfg.patterns()
	c := &Compressor{
		name:     ctx.Name,
		level:    cfg.Level,
		minSize:  int64(cfg.MinSize),
		prefs:    prefs,
		types:    types,
		encoders: newEncoderPools(cfg.Level),
		buffers:  ctx.Buffers(),
		workers:  ctx.Workers(),
	}
	c.writers.New = func() any { return &responseWriter{c: c} }

	metrics := ctx.Metrics()
	responses := metrics.Counter("compression_responses_total",
		"Responses that passed through a compression plugin, by the content coding they were sent with (identity: not encoded).",
		"plugin", "encoding")
	for e := range numEncodings {
		c.responses[e] = responses.WithLabelValues(ctx.Name, encNames[e])
	}
	bytesTotal := metrics.Counter("compression_bytes_total",
		"Body bytes of encoded responses: direction in is before compression, out after.",
		"plugin", "direction")
	c.bytesIn = bytesTotal.WithLabelValues(ctx.Name, "in")
	c.bytesOut = bytesTotal.WithLabelValues(ctx.Name, "out")
	return c, nil
}

// Wrap returns the compressing middleware around next.
func (c *Compressor) Wrap(next http.Handler) http.Handler {
	return &handler{c: c, next: next}
}

type handler struct {
	c    *Compressor
	next http.Handler
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c := h.c
	if r.Method == http.MethodConnect || isUpgrade(r.Header) {
		c.countResponse(encIdentity)
		h.next.ServeHTTP(rw, r)
		return
	}
	w := c.writers.Get().(*responseWriter)
	w.rw, w.req, w.head = rw, r, r.Method == http.MethodHead
	w.enc = negotiate(r.Header["Accept-Encoding"], c.prefs)
	if inm := r.Header["If-None-Match"]; listHasSuffixedETag(inm) || listHasSuffixedETag(r.Header["If-Match"]) {
		w.inm = inm
		r = withoutETagSuffixes(r)
		w.req = r
	}
	defer w.release()
	h.next.ServeHTTP(w, r)
	w.finish()
}

// withoutETagSuffixes returns a shallow copy of r whose If-None-Match and
// If-Match name the handler's own entity-tags, so that its conditional
// logic (and 304s) work on encoded variants. r itself is not modified.
func withoutETagSuffixes(r *http.Request) *http.Request {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	for _, k := range [...]string{"If-None-Match", "If-Match"} {
		if v, ok := r2.Header[k]; ok {
			r2.Header[k] = stripETagSuffixes(v)
		}
	}
	return r2
}

// allowed reports whether a Content-Type header value is on the allow list.
func (c *Compressor) allowed(ct []string) bool {
	return len(ct) > 0 && matchMediaType(c.types, ct[0])
}

func (c *Compressor) countResponse(e encoding) {
	c.responses[e].Inc()
	c.nResponses[e].Add(1)
}

func (c *Compressor) addBytes(in, out int64) {
	c.bytesIn.Add(float64(in))
	c.bytesOut.Add(float64(out))
	c.nIn.Add(uint64(in))
	c.nOut.Add(uint64(out))
}

// bufferPool is the fallback when the host provides no buffer pool.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer bounds what goes back into the fallback pool.
const maxPooledBuffer = 1 << 20

func (c *Compressor) getBuffer() *bytes.Buffer {
	if c.buffers != nil {
		return c.buffers.Get()
	}
	return bufferPool.Get().(*bytes.Buffer)
}

func (c *Compressor) putBuffer(b *bytes.Buffer) {
	if c.buffers != nil {
		c.buffers.Put(b)
		return
	}
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		bufferPool.Put(b)
	}
}

// Stats reports the instance's settings and counters for the admin API:
// responses by coding, body bytes in and out of the encoders, and their
// ratio (bytes in per byte out; 0 before the first encoded response).
func (c *Compressor) Stats() map[string]any {
	responses := make(map[string]uint64, numEncodings)
	for e := range numEncodings {
		responses[encNames[e]] = c.nResponses[e].Load()
	}
	encs := make([]string, len(c.prefs))
	for i, e := range c.prefs {
		encs[i] = encNames[e]
	}
	in, out := c.nIn.Load(), c.nOut.Load()
	ratio := 0.0
	if out > 0 {
		ratio = float64(in) / float64(out)
	}
	return map[string]any{
		"level":           c.level,
		"min_size":        c.minSize,
		"encodings":       encs,
		"responses":       responses,
		"bytes_in":        in,
		"bytes_out":       out,
		"ratio":           ratio,
		"encoders_in_use": c.encoders.inUse.Load(),
	}
}

// Close retires the instance. The registry calls it once, after the last
// request that used the instance; its pooled encoders are then freed by the
// garbage collector with the instance.
func (c *Compressor) Close() error {
	c.closes.Add(1)
	c.encoders.close()
	return nil
}

var (
	_ registry.Instance      = (*Compressor)(nil)
	_ registry.Closer        = (*Compressor)(nil)
	_ registry.StatsReporter = (*Compressor)(nil)
	_ registry.Defaulter     = (*Config)(nil)
	_ registry.Validator     = (*Config)(nil)
	_ http.ResponseWriter    = (*responseWriter)(nil)
	_ http.Flusher           = (*responseWriter)(nil)
	_ http.Hijacker          = (*responseWriter)(nil)
)
