package core

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// With server.h2c, a client with HTTP/2 prior knowledge gets 200 from a
// respond route, a compressed route and a cached route.
func TestH2C(t *testing.T) {
	fh := startFileHost(t, `
server:
  h2c: true
plugins:
  gz:    {type: compression, min_size: 0}
  cache: {type: caching, max_size: 1MB}
routes:
  - path: /hello
    handler: {respond: {status: 200, body: hello}}
  - path: /gz
    middleware: [{use: gz}]
    handler: {respond: {status: 200, body: '{"a":"a body long enough to be worth compressing, compressing, compressing"}', headers: {Content-Type: application/json}}}
  - path: /cached
    middleware: [{use: cache}]
    handler: {respond: {status: 200, body: cached, headers: {Cache-Control: "public, max-age=60"}}}
`)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true) // prior knowledge: no HTTP/1.1 at all
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p, DisableCompression: true}}
	defer c.CloseIdleConnections()
	for _, tc := range []struct {
		name, path, enc string
		times           int
	}{
		{"respond", "/hello", "", 1},
		{"compressed", "/gz", "gzip", 1},
		{"cached", "/cached", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.times {
				req, _ := http.NewRequest(http.MethodGet, fh.base+tc.path, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
					t.Fatalf("request %d: %s %d, want HTTP/2.0 200", i, resp.Proto, resp.StatusCode)
				}
				if got := resp.Header.Get("Content-Encoding"); got != tc.enc {
					t.Errorf("Content-Encoding %q, want %q", got, tc.enc)
				}
				if tc.path == "/cached" && i == 1 && resp.Header.Get("X-Cache") != "HIT" {
					t.Errorf("second request X-Cache %q, want HIT", resp.Header.Get("X-Cache"))
				}
			}
		})
	}
}
