package scenario

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/proctime"
)

// BenchmarkServerCPU serves the cached gzip hit's and the full stack's
// request mix in-process on both servers, as BenchmarkServers does, and
// reports the process CPU time per request (cpu-ns/op): on a shared machine
// it is steadier than wall time.
func BenchmarkServerCPU(b *testing.B) {
	for _, name := range []string{CachedGzip, Full} {
		sc, _ := Lookup(name)
		for _, kind := range []string{Switchyard, sc.Baseline} {
			b.Run(sc.Name+"/"+strings.ReplaceAll(kind, "/", ""), func(b *testing.B) {
				in, err := Build(sc.Name, kind, Env{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer in.Close()
				reqs := make([]*http.Request, 4096)
				for i := range reqs {
					reqs[i] = httptest.NewRequest(http.MethodGet, sc.Path(uint64(i)), nil)
					reqs[i].RemoteAddr = "127.0.0.1:40000"
					for k, v := range sc.Header {
						reqs[i].Header[k] = v
					}
				}
				w := &discardWriter{h: http.Header{}}
				var i int
				b.ReportAllocs()
				cpu0 := proctime.CPU()
				for b.Loop() {
					clear(w.h)
					in.Handler.ServeHTTP(w, reqs[i%len(reqs)])
					i++
				}
				b.ReportMetric(float64(proctime.CPU()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
