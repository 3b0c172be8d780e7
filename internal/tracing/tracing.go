// Package tracing exports OpenTelemetry spans over OTLP/HTTP: one server
// span per request and one span per chain link that runs, with W3C
// traceparent/tracestate taken from the request and given to proxy
// upstreams.
//
// A [Tracer] is shared by every snapshot whose settings are the same (a
// reload that leaves server.tracing alone keeps exporting through the same
// provider); the last Close flushes and shuts it down. Off, nothing is
// wired in: the request path pays nothing.
package tracing

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Options are server.tracing's keys.
type Options struct {
	Enabled     bool
	Endpoint    string
	ServiceName string
	Sample      float64
}

// On reports whether o, with the environment getenv reads, turns tracing
// on: server.tracing.enabled, or an OTLP endpoint in OTEL_EXPORTER_OTLP_*;
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off.
func On(o Options, getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return o.Enabled || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracer starts the spans of one host configuration.
type Tracer struct {
	key  Options
	refs int // guarded by shared.mu
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator
}

var shared struct {
	mu sync.Mutex
	m  map[Options]*Tracer
}

// Acquire returns the Tracer for o, made on first use and shared while
// anyone holds it. Release it with Close.
func Acquire(o Options) (*Tracer, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if t, ok := shared.m[o]; ok {
		t.refs++
		return t, nil
	}
	t, err := newTracer(o)
	if err != nil {
		return nil, err
	}
	if shared.m == nil {
		shared.m = map[Options]*Tracer{}
	}
	shared.m[o] = t
	return t, nil
}

func newTracer(o Options) (*Tracer, error) {
	var opts []otlptracehttp.Option
	if o.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(o.Endpoint))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	name := o.ServiceName
	if name == "" {
		name = "switchyard"
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the config.
	res, err := resource.New(context.Background(),
		resource.WithAttributes(attribute.String("service.name", name)), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, err
	}
	sample := o.Sample
	if sample <= 0 || sample > 1 {
		sample = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))),
	)
	return &Tracer{key: o, refs: 1, tp: tp, tr: tp.Tracer("github.com/switchyard/switchyard"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}, nil
}

// shutdownTimeout bounds the flush of the last spans when a Tracer closes.
const shutdownTimeout = 5 * time.Second

// Close releases t; the last release exports what is buffered and shuts
// the provider down.
func (t *Tracer) Close() error {
	shared.mu.Lock()
	t.refs--
	last := t.refs == 0
	if last {
		delete(shared.m, t.key)
	}
	shared.mu.Unlock()
	if !last {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return t.tp.Shutdown(ctx)
}

// Start starts the server span of r, its parent taken from r's traceparent,
// and returns r with the span in its context.
func (t *Tracer) Start(r *http.Request, route string) (*http.Request, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := t.tr.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("http.route", route),
			attribute.String("network.protocol.version", protoVersion(r)),
		))
	ctx = context.WithValue(ctx, requestSpanKey, span)
	return r.WithContext(ctx), span
}

type ctxKey struct{ name string }

// requestSpanKey holds the request's server span: every link span is its
// child.
var requestSpanKey = &ctxKey{"request span"}

// End ends a server span with the response status.
func End(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End()
}

func protoVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	return "1." + strconv.Itoa(r.ProtoMinor)
}

// Link wraps a chain link's handler in a span named for its plugin, a child
// of the request's server span (so every link that runs is a child of the
// request span; the spans of the links inside it overlap it in time).
func (t *Tracer) Link(plugin, typ string, next http.Handler) http.Handler {
	name := "plugin " + plugin
	attrs := trace.WithAttributes(attribute.String("switchyard.plugin.name", plugin), attribute.String("switchyard.plugin.type", typ))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parent := r.Context()
		if rs, ok := parent.Value(requestSpanKey).(trace.Span); ok {
			parent = trace.ContextWithSpan(parent, rs)
		}
		ctx, span := t.tr.Start(parent, name, trace.WithSpanKind(trace.SpanKindInternal), attrs)
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Transport makes a client span for each upstream request of rt and sends
// its traceparent (and tracestate) upstream.
func (t *Tracer) Transport(rt http.RoundTripper) http.RoundTripper {
	return &transport{t: t, next: rt}
}

type transport struct {
	t    *Tracer
	next http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := tr.t.tr.Start(req.Context(), req.Method+" upstream", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host), attribute.String("url.full", req.URL.Redacted())))
	defer span.End()
	out := req.Clone(ctx) // a RoundTripper must not change the request it is given
	tr.t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := tr.next.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// CloseIdleConnections passes through to the wrapped transport.
func (tr *transport) CloseIdleConnections() {
	if c, ok := tr.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
