package core

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/switchyard/switchyard/internal/accesslog"
	"github.com/switchyard/switchyard/internal/tlsconf"
	"github.com/switchyard/switchyard/internal/tracing"
)

// tls reads the certificates of server.tls: a pair that cannot be read,
// does not match or has expired fails the build (the error names the file
// and the key), so that the certificate serving now keeps serving.
func (b *builder) tls() error {
	t := b.cfg.Server.TLS
	if !t.Enabled() {
		return nil
	}
	spec := tlsconf.Spec{MinVersion: t.MinVersion, ClientCAFile: t.ClientCAFile, ClientCAKey: "server.tls.client_ca_file"}
	if t.CertFile != "" {
		spec.Pairs = append(spec.Pairs, tlsconf.Pair{CertFile: t.CertFile, KeyFile: t.KeyFile,
			CertKey: "server.tls.cert_file", KeyKey: "server.tls.key_file"})
	}
	for i, c := range t.Certificates {
		key := fmt.Sprintf("server.tls.certificates[%d]", i)
		spec.Pairs = append(spec.Pairs, tlsconf.Pair{CertFile: c.CertFile, KeyFile: c.KeyFile,
			CertKey: key + ".cert_file", KeyKey: key + ".key_file"})
	}
	tc, err := tlsconf.Load(spec, b.h.opts.Now())
	if err != nil {
		var errs []error
		for _, e := range joined(err) {
			if te, ok := e.(*tlsconf.Error); ok {
				errs = append(errs, keyed(te.Key, te))
				continue
			}
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	}
	b.snap.tls = tc
	return nil
}

// accessLogWriter, when set, receives the access log whatever
// server.access_log.output says: benchmarks set it to io.Discard.
var accessLogWriter io.Writer

// accessLog opens server.access_log's output; the snapshot closes it.
func (b *builder) accessLog() error {
	al := b.cfg.Server.AccessLog
	if !al.Enabled {
		return nil
	}
	f, err := accesslog.ParseFormat(al.Format)
	if err != nil {
		return keyed("server.access_log.format", err)
	}
	lg, err := accesslog.New(accesslog.Options{Format: f, Output: al.Output, Writer: accessLogWriter,
		Sample: al.Sample, SkipPaths: al.SkipPaths})
	if err != nil {
		return keyed("server.access_log.output", err)
	}
	b.snap.closers = append(b.snap.closers, lg)
	b.snap.alog = &accessLog{lg: lg, ips: b.snap.ips}
	return nil
}

// tracing starts (or shares) the trace exporter of server.tracing and the
// OTEL_* environment; the snapshot releases it.
func (b *builder) tracing() error {
	tc := b.cfg.Server.Tracing
	o := tracing.Options{Enabled: tc.Enabled, Endpoint: tc.Endpoint, ServiceName: tc.ServiceName, Sample: tc.Sample}
	if !tracing.On(o, os.Getenv) {
		return nil
	}
	t, err := tracing.Acquire(o)
	if err != nil {
		return keyed("server.tracing", err)
	}
	b.snap.closers = append(b.snap.closers, t)
	b.snap.tracer = t
	return nil
}

// joined lists the errors err joins, or err alone.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
