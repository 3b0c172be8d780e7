package core

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard/switchyard/internal/wait"
)

// otlpReceiver is an in-process OTLP/HTTP traces endpoint.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil || r.URL.Path != "/v1/traces" {
			http.Error(w, "bad export", 400)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// find returns the spans named name.
func (rc *otlpReceiver) find(name string) []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range rc.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			if v := a.Value.GetStringValue(); v != "" {
				return v
			}
			return a.Value.String()
		}
	}
	return ""
}

// A request gets one server span with one child span per chain link that
// ran; a traceparent's trace ID is kept; a proxy upstream receives the
// propagated traceparent.
func TestTracingSpansAndPropagation(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10") // export every 10ms
	rc := newOTLPReceiver(t)
	var (
		upMu   sync.Mutex
		upSeen string
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upMu.Lock()
		upSeen = r.Header.Get("Traceparent")
		upMu.Unlock()
		_, _ = io.WriteString(w, "upstream")
	}))
	defer upstream.Close()
	fh := startFileHost(t, `
server:
  tracing: {enabled: true, endpoint: "`+rc.URL+`/v1/traces"}
plugins:
  first:  {type: count, tag: first}
  second: {type: count, tag: second}
  third:  {type: count, tag: third}
routes:
  - path: /chain
    middleware:
      - use: first
      - use: second
        when: {header: {X-Second: ""}}
      - use: third
    handler: {respond: {status: 200, body: ok}}
  - path: /proxy
    handler: {proxy: {upstream: "`+upstream.URL+`"}}
`)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("GET", fh.base+"/chain", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := fh.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	wait.For(t, "the request span and the link span exported", func() bool {
		return len(rc.find("GET /chain")) == 1 && len(rc.find("plugin first")) == 1 && len(rc.find("plugin third")) == 1
	})
	srv := rc.find("GET /chain")[0]
	if got := hex.EncodeToString(srv.TraceId); got != traceID {
		t.Errorf("trace ID %s, want the traceparent's %s", got, traceID)
	}
	if got := hex.EncodeToString(srv.ParentSpanId); got != parentID {
		t.Errorf("parent span %s, want the traceparent's %s", got, parentID)
	}
	if srv.Kind != tracepb.Span_SPAN_KIND_SERVER || spanAttr(srv, "http.route") != "/chain" || !strings.Contains(spanAttr(srv, "http.response.status_code"), "200") {
		t.Errorf("server span: kind %v, attributes %v", srv.Kind, srv.Attributes)
	}
	for _, name := range []string{"first", "third"} {
		link := rc.find("plugin " + name)[0]
		if string(link.ParentSpanId) != string(srv.SpanId) || string(link.TraceId) != string(srv.TraceId) {
			t.Errorf("the span of link %s is not a child of the request span", name)
		}
		if spanAttr(link, "switchyard.plugin.name") != name || spanAttr(link, "switchyard.plugin.type") != "count" {
			t.Errorf("link span attributes %v", link.Attributes)
		}
	}
	if n := len(rc.find("plugin second")); n != 0 {
		t.Errorf("%d spans for a link whose condition did not hold", n)
	}

	// Proxy: the upstream receives a traceparent in the request's trace.
	if code, _, body, err := fh.get("/proxy"); err != nil || code != 200 || body != "upstream" {
		t.Fatalf("GET /proxy: %d %q %v", code, body, err)
	}
	wait.For(t, "the proxy request span exported", func() bool { return len(rc.find("GET /proxy")) == 1 })
	ps := rc.find("GET /proxy")[0]
	upMu.Lock()
	seen := upSeen
	upMu.Unlock()
	if want := "00-" + hex.EncodeToString(ps.TraceId) + "-"; !strings.HasPrefix(seen, want) {
		t.Errorf("upstream got traceparent %q, want it in trace %x", seen, ps.TraceId)
	}
}
