package compression

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/internal/proctime"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// catalogJSON is a JSON document of about size bytes that compresses like
// API output (varied names, numbers and tags): the bench suite's document.
func catalogJSON(size int) []byte {
	type entry struct {
		SKU   string   `json:"sku"`
		Name  string   `json:"name"`
		Price float64  `json:"price"`
		Stock int      `json:"stock"`
		Tags  []string `json:"tags"`
	}
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"anchor", "bolt", "cable", "damper", "engine", "flange", "gasket", "hinge",
		"insulator", "joint", "key", "lever", "magnet", "nozzle", "o-ring", "piston", "relay", "spring"}
	doc := struct {
		ID    string  `json:"id"`
		Kind  string  `json:"kind"`
		Items []entry `json:"items"`
	}{ID: "item", Kind: "catalog"}
	for {
		b, _ := json.Marshal(doc)
		if len(b) >= size-120 {
			return append(b, '\n')
		}
		doc.Items = append(doc.Items, entry{
			SKU:   fmt.Sprintf("SKU-%05d", rng.IntN(100000)),
			Name:  words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
			Price: float64(rng.IntN(100000)) / 100,
			Stock: rng.IntN(500),
			Tags:  []string{words[rng.IntN(len(words))], words[rng.IntN(len(words))]},
		})
	}
}

// codecWriter is a pooled gzip writer of one library and setting.
type codecWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// BenchmarkGzipCodecs compresses the 4 KB JSON document with the standard
// library's compress/gzip, klauspost/compress/gzip and klauspost/pgzip at
// each level around 5, with pooled writers, into a reused buffer. It reports
// the compressed size ("bytes") next to the cost: the choice of encoder is
// the cheapest whose size is within 2% of compress/gzip level 5.
func BenchmarkGzipCodecs(b *testing.B) {
	doc := catalogJSON(4096)
	type codec struct {
		name string
		new  func() codecWriter
	}
	var codecs []codec
	for _, l := range []int{4, 5, 6} {
		codecs = append(codecs, codec{fmt.Sprintf("stdlib/%d", l), func() codecWriter {
			w, _ := stdgzip.NewWriterLevel(io.Discard, l)
			return w
		}})
	}
	for _, l := range []int{4, 5, 6, 7, 8, 9} {
		codecs = append(codecs, codec{fmt.Sprintf("klauspost/%d", l), func() codecWriter {
			w, _ := kgzip.NewWriterLevel(io.Discard, l)
			return w
		}})
	}
	codecs = append(codecs, codec{"klauspost/stateless", func() codecWriter {
		w, _ := kgzip.NewWriterLevel(io.Discard, kgzip.StatelessCompression)
		return w
	}})
	codecs = append(codecs, codec{"pgzip/5", func() codecWriter {
		w, _ := pgzip.NewWriterLevel(io.Discard, 5)
		return w
	}})
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			pool := sync.Pool{New: func() any { return c.new() }}
			var out bytes.Buffer
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			cpu0 := proctime.CPU()
			for b.Loop() {
				out.Reset()
				w := pool.Get().(codecWriter)
				w.Reset(&out)
				_, _ = w.Write(doc)
				_ = w.Close()
				w.Reset(io.Discard)
				pool.Put(w)
			}
			b.ReportMetric(float64(proctime.CPU()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(out.Len()), "bytes")
		})
	}
}
