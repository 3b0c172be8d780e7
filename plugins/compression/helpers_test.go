package compression

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testInstance builds one compression instance through the real registry and
// releases it when the test ends.
func testInstance(t testing.TB, cfg map[string]any) (*Compressor, *registry.Metrics) {
	t.Helper()
	metrics := registry.NewMetrics(prometheus.NewRegistry())
	reg := instances.New(instances.Options{})
	set, err := reg.Build(plugintest.NewServices(plugintest.WithMetrics(metrics)), []instances.Spec{{Name: "comp", Type: TypeName, Config: cfg}}, nil)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { set.Release(); reg.Close() })
	inst, ok := set.Get("comp")
	if !ok {
		t.Fatal("instance comp missing from the set")
	}
	return inst.(*Compressor), metrics
}

// testServer serves h through a fresh instance with cfg.
func testServer(t *testing.T, cfg map[string]any, h http.Handler) (*httptest.Server, *Compressor) {
	t.Helper()
	c, _ := testInstance(t, cfg)
	srv := httptest.NewServer(c.Wrap(h))
	t.Cleanup(srv.Close)
	return srv, c
}

// rawClient never negotiates or decodes by itself: the tests see the bytes.
func rawClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// fetched is a response with its raw and decoded body.
type fetched struct {
	*http.Response
	raw     []byte
	decoded []byte
}

func fetch(t *testing.T, c *http.Client, method, url string, hdr map[string]string) fetched {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	res := fetched{Response: resp, raw: raw, decoded: raw}
	if method != http.MethodHead && resp.StatusCode != http.StatusNotModified {
		res.decoded = decode(t, resp.Header.Get("Content-Encoding"), raw)
	}
	return res
}

// decode undoes a content coding with an independent decoder (the standard
// library's for gzip).
func decode(t testing.TB, ce string, raw []byte) []byte {
	t.Helper()
	var r io.Reader
	switch ce {
	case "":
		return raw
	case "gzip":
		zr, err := stdgzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(raw))
	default:
		return raw // not ours to decode (a handler's own coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", ce, err)
	}
	return out
}

// jsonBody returns about n bytes of realistic JSON (an array of records with
// repeated keys and varied values), the same for the same n.
func jsonBody(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	names := []string{"Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Dennis", "Frances", "Donald"}
	cities := []string{"Zürich", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Hanoi"}
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"uuid":"%08x-%04x-%04x","name":"%s %s","email":"user%d@example.com","city":"%s","score":%.3f,"active":%t,"tags":["t%d","t%d"]}`,
			i, rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff,
			names[rng.IntN(len(names))], names[rng.IntN(len(names))], rng.IntN(100000),
			cities[rng.IntN(len(cities))], rng.Float64()*100, rng.IntN(2) == 0, rng.IntN(50), rng.IntN(50))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// bodyHandler answers with body and the given headers.
func bodyHandler(body []byte, hdr map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		_, _ = w.Write(body)
	}
}

func hasVaryAE(h http.Header) bool {
	return hasToken(h.Values("Vary"), "Accept-Encoding")
}

func headerLine(h http.Header, k string) string { return strings.Join(h.Values(k), ", ") }
