package core

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/registry"
)

// services are what the plugin instances of one build get from the host
// (registry.Services): its logger, metrics, pools and clock, and the
// condition compiler of the snapshot being built, so that a plugin's
// conditions see that snapshot's named conditions.
type services struct {
	h     *Host
	conds *conditions.Compiler
	dir   string // the configuration's directory, absolute
}

func (s *services) Logger() *slog.Logger                { return s.h.log }
func (s *services) Metrics() *registry.Metrics          { return s.h.metrics.factory }
func (s *services) Buffers() registry.BufferPool        { return s.h.pools.Buffers }
func (s *services) Workers() registry.WorkerPool        { return s.h.pools.Process }
func (s *services) ClientIP(r *http.Request) netip.Addr { return s.h.ClientIP(r) }
func (s *services) Clock() func() time.Time             { return s.h.opts.Now }
func (s *services) ConfigDir() string                   { return s.dir }

func (s *services) CompileCondition(keyPath string, src any) (func(*http.Request) bool, error) {
	return s.conds.CompileFunc(keyPath, src)
}

func (s *services) CompileExpr(keyPath, expr string) (func(*http.Request) string, error) {
	return s.conds.CompileString(keyPath, expr)
}

var _ registry.Services = (*services)(nil)
