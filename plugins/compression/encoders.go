package compression

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoding identifies a content coding. Its zero value is identity (no coding).
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encZstd
	encBr
	numEncodings
)

// encNames are the tokens of each coding as Accept-Encoding, Content-Encoding,
// the metric label and the ETag suffix spell them.
var encNames = [numEncodings]string{"identity", "gzip", "zstd", "br"}

func (e encoding) String() string { return encNames[e] }

// parseEncodingName maps a configured name to its coding; identity is not
// configurable.
func parseEncodingName(s string) (encoding, bool) {
	for e := encGzip; e < numEncodings; e++ {
		if asciiEqualFold(s, encNames[e]) {
			return e, true
		}
	}
	return encIdentity, false
}

// contentEncodingValues are the Content-Encoding header values, shared and
// never written to: assigning a shared one-element slice (len == cap, so an
// Add by later code copies it) saves an allocation per response.
var contentEncodingValues = [numEncodings][]string{
	encGzip: {"gzip"},
	encZstd: {"zstd"},
	encBr:   {"br"},
}

// zstdWindow is the zstd window. RFC 9659 limits the window of zstd as an HTTP
// content coding to 8 MB (browsers refuse larger ones). 1 MiB costs responses
// under 1 MiB nothing and keeps a pooled encoder near 2-3 MB: encoders are
// held for the whole of a streamed response, so their size multiplies by the
// number of open streams.
const zstdWindow = 1 << 20

// brotliWindow is brotli's lgwin: a 1 MiB window, as for zstd (the format's
// default of 4 MiB more than doubles a pooled encoder for a ratio gain only
// on bodies over 1 MiB).
const brotliWindow = 20

// zstdLevels and brotliQualities map the gzip 1..9 scale of `level` onto the
// other codecs: fast levels stay fast, 6 gives each codec's usual default for
// dynamic content, 9 gives a strong level that is still usable per request.
var (
	zstdLevels = [10]zstd.EncoderLevel{
		1: zstd.SpeedFastest, 2: zstd.SpeedFastest, 3: zstd.SpeedFastest,
		4: zstd.SpeedDefault, 5: zstd.SpeedDefault, 6: zstd.SpeedDefault,
		7: zstd.SpeedBetterCompression, 8: zstd.SpeedBetterCompression,
		9: zstd.SpeedBestCompression,
	}
	brotliQualities = [10]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8}
	// gzipLevels maps `level` onto klauspost/compress's gzip levels so that
	// a level compresses as well as compress/gzip's (the standard library,
	// what most Go middleware uses) within 2%, at a third of its CPU or
	// less: klauspost's own level 5 is 3.7% larger than the standard
	// library's on a 4 KB JSON document, its level 6 1.6% larger
	// (BenchmarkGzipCodecs). Levels outside 4-5 are used as they are.
	gzipLevels = [10]int{1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 6, 7: 7, 8: 8, 9: 9}
)

// encoder is what every codec's writer provides; Reset starts a new stream
// into w, keeping the writer's allocated state.
type encoder interface {
	Write(p []byte) (int, error)
	Flush() error
	Close() error
	Reset(w io.Writer)
}

// liveEncoders counts the encoders of every instance that the garbage
// collector has not yet freed (pooled, in use, or waiting to be collected).
var liveEncoders atomic.Int64

func encoderFreed(struct{}) { liveEncoders.Add(-1) }

// newEncoder builds a codec writer at the gzip-scale level. Levels are
// validated before an instance exists, so an error here is a programming
// error.
func newEncoder(e encoding, level int) encoder {
	var enc encoder
	switch e {
	case encGzip:
		w, err := gzip.NewWriterLevel(io.Discard, gzipLevels[level])
		if err != nil {
			panic(fmt.Sprintf("compression: gzip level %d: %v", level, err))
		}
		runtime.AddCleanup(w, encoderFreed, struct{}{})
		enc = w
	case encZstd:
		w, err := zstd.NewWriter(io.Discard,
			zstd.WithEncoderLevel(zstdLevels[level]),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(fmt.Sprintf("compression: zstd level %d: %v", level, err))
		}
		runtime.AddCleanup(w, encoderFreed, struct{}{})
		enc = w
	case encBr:
		w := brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: brotliQualities[level], LGWin: brotliWindow})
		runtime.AddCleanup(w, encoderFreed, struct{}{})
		enc = w
	default:
		panic("compression: no encoder for " + e.String())
	}
	liveEncoders.Add(1)
	return enc
}

// encoderPools holds one pool per coding for one instance (one level).
type encoderPools struct {
	pools  [numEncodings]sync.Pool
	inUse  atomic.Int64 // taken and not yet returned
	closed atomic.Bool  // the instance is retired: returned encoders are dropped
}

func newEncoderPools(level int) *encoderPools {
	p := &encoderPools{}
	for e := encGzip; e < numEncodings; e++ {
		p.pools[e].New = func() any { return newEncoder(e, level) }
	}
	return p
}

// get returns an encoder for e writing to w.
func (p *encoderPools) get(e encoding, w io.Writer) encoder {
	enc := p.pools[e].Get().(encoder)
	enc.Reset(w)
	p.inUse.Add(1)
	return enc
}

// put returns enc to its pool after pointing it away from the response, so
// that a pooled encoder never keeps a ResponseWriter alive.
func (p *encoderPools) put(e encoding, enc encoder) {
	enc.Reset(io.Discard)
	p.inUse.Add(-1)
	if !p.closed.Load() {
		p.pools[e].Put(enc)
	}
}

// close stops pooling; what the pools hold is freed by the next two garbage
// collections (sync.Pool drops idle objects), or with the instance.
func (p *encoderPools) close() { p.closed.Store(true) }
