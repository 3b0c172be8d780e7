package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/registry"
)

// The admin routes, below server.admin.prefix:
//
//	GET  {prefix}/                 the dashboard page
//	GET  {prefix}/assets/...       its script and style sheet
//	GET  {prefix}/api/config       effective config (secrets redacted), version, files
//	GET  {prefix}/api/routes       routes with their chains and conditions
//	GET  {prefix}/api/plugins      plugin types and instances with their stats
//	GET  {prefix}/api/pools        pool statistics
//	GET  {prefix}/api/reloads      reload history, newest first
//	GET  {prefix}/api/stats        request counters and latency histogram
//	POST {prefix}/api/reload       reload now
//	POST {prefix}/api/cache/purge  purge caching plugins
//	POST {prefix}/api/config/validate  preview a candidate config, nothing applied
//	PUT  {prefix}/api/config       write the config to its source (see config.go)
//	POST {prefix}/api/rollback     write a kept generation back
//	GET  {prefix}/api/generations  the kept generations
//
// Every route answers 403 to a client outside server.admin.allow and 421 to
// a request whose Host is not an IP literal, localhost or listed in
// server.admin.hosts (DNS rebinding), and every
// error is a JSON body {"error": "..."}. The POST routes also refuse
// cross-origin browser requests (CSRF), so that a web page open in the
// operator's browser cannot drive them.

// adminTimeFormat is how times appear in the admin API.
const adminTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// csrf rejects cross-origin browser requests to the admin POST routes.
var csrf = http.NewCrossOriginProtection()

// purger is a plugin instance whose cache the purge route can drop entries
// of, such as the caching plugin's. A non-nil error says that a part of the
// cache (a shared tier) could not be purged; its message names that part.
type purger interface {
	Purge(key, prefix string) (int, error)
}

// api serves the admin routes of one snapshot.
type api struct {
	h      *core.Host
	s      *core.Snapshot
	prefix string
	allow  []netip.Prefix
	hosts  map[string]bool // server.admin.hosts, lower case
}

// Handler returns the admin routes of the snapshot s of h: the dashboard
// and the JSON API below server.admin.prefix. Pass it as core.Options.Admin;
// the host calls it once for each snapshot whose server.admin.enabled is on.
func Handler(h *core.Host, s *core.Snapshot) http.Handler {
	adm := s.Config().Server.Admin
	// The host has validated server.admin.allow before building the routes.
	allow, _ := clientip.ParsePrefixes(adm.Allow)
	a := &api{h: h, s: s, prefix: strings.TrimRight(adm.Prefix, "/"), allow: allow, hosts: make(map[string]bool, len(adm.Hosts))}
	for _, name := range adm.Hosts {
		a.hosts[strings.ToLower(strings.TrimSuffix(name, "."))] = true
	}
	prefix := a.prefix
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.allowed(r) {
			handlers.JSONError(w, http.StatusForbidden, "forbidden: client address not in server.admin.allow")
			return
		}
		if !a.hostAllowed(r.Host) {
			handlers.JSONError(w, http.StatusMisdirectedRequest, "misdirected request: Host is not an IP address, localhost or in server.admin.hosts")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		rest := strings.TrimPrefix(r.URL.Path, prefix)
		switch rest {
		case "":
			// {prefix} alone: the page's relative links need the slash.
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
		case "/":
			getOnly(w, r, func() { a.serveDashboard(w, r) })
		case "/api/config":
			if r.Method == http.MethodPut {
				a.apiPutConfig(w, r)
				return
			}
			if s := a.h.Snapshot(); s != nil {
				w.Header().Set("ETag", `"`+s.Version+`"`)
			}
			getJSON(w, r, a.apiConfig)
		case "/api/generations":
			getJSON(w, r, a.apiGenerations)
		case "/api/rollback":
			postOnly(w, r, func() { a.apiRollback(w, r) })
		case "/api/routes":
			getJSON(w, r, a.apiRoutes)
		case "/api/plugins":
			getJSON(w, r, a.apiPlugins)
		case "/api/pools":
			getJSON(w, r, a.apiPools)
		case "/api/reloads":
			getJSON(w, r, a.apiReloads)
		case "/api/stats":
			getJSON(w, r, a.apiStats)
		case "/api/reload":
			postOnly(w, r, func() { a.apiReload(w) })
		case "/api/cache/purge":
			postOnly(w, r, func() { a.apiPurge(w, r) })
		case "/api/config/validate":
			postOnly(w, r, func() { a.apiValidate(w, r) })
		default:
			if name, ok := strings.CutPrefix(rest, "/assets/"); ok {
				getOnly(w, r, func() { serveAsset(w, r, name) })
				return
			}
			handlers.JSONError(w, http.StatusNotFound, "not found")
		}
	})
}

// allowed reports whether r comes from a client inside
// server.admin.allow.
func (a *api) allowed(r *http.Request) bool {
	ip := a.s.ClientIP(r)
	for _, p := range a.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// hostAllowed reports whether the Host header host names the admin routes:
// an IP literal, localhost, or a name in server.admin.hosts. A browser page
// on a rebound DNS name sends its own name, so it is refused even when its
// requests arrive from an allowed address. An empty Host (HTTP/1.0) is
// allowed: browsers always send one.
func (a *api) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	return a.hosts[strings.ToLower(host)]
}

func getOnly(w http.ResponseWriter, r *http.Request, serve func()) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		handlers.JSONError(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	serve()
}

func getJSON[T any](w http.ResponseWriter, r *http.Request, view func() T) {
	getOnly(w, r, func() { writeJSON(w, http.StatusOK, view()) })
}

func postOnly(w http.ResponseWriter, r *http.Request, serve func()) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		handlers.JSONError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
		return
	}
	if err := csrf.Check(r); err != nil {
		handlers.JSONError(w, http.StatusForbidden, "forbidden: cross-origin request")
		return
	}
	serve()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// configView is GET {prefix}/api/config.
type configView struct {
	// Version is the short hash of the effective configuration.
	Version string `json:"version"`
	// Built is when the serving snapshot was built.
	Built string `json:"built"`
	// Files are the files the configuration was read from, main file first.
	Files []string `json:"files"`
	// Config is the effective configuration (defaults, files and
	// environment merged) with secrets replaced by "REDACTED".
	Config map[string]any `json:"config"`
}

func (a *api) apiConfig() configView {
	s := a.h.Snapshot()
	if s == nil {
		return configView{Files: []string{}, Config: map[string]any{}}
	}
	return configView{Version: s.Version, Built: s.Built.UTC().Format(adminTimeFormat),
		Files: nonNil(s.Loaded.Files), Config: config.Redact(s.Loaded.Raw)}
}

// routesView is GET {prefix}/api/routes.
type routesView struct {
	Version string           `json:"version"`
	Routes  []core.RouteInfo `json:"routes"`
	// Conditions are the named conditions of the `conditions:` block, as
	// written (expressions as strings, structured matchers as maps).
	Conditions map[string]any `json:"conditions"`
}

func (a *api) apiRoutes() routesView {
	s := a.h.Snapshot()
	if s == nil {
		return routesView{Routes: []core.RouteInfo{}, Conditions: map[string]any{}}
	}
	conds := config.Redact(s.Config().Conditions)
	if conds == nil {
		conds = map[string]any{}
	}
	return routesView{Version: s.Version, Routes: nonNil(s.Routes()), Conditions: conds}
}

// pluginsView is GET {prefix}/api/plugins.
type pluginsView struct {
	Version string `json:"version"`
	// Types are the registered plugin types.
	Types []string `json:"types"`
	// Instances are the live instances (used by the serving snapshot) and
	// the warm ones (retired, kept for reuse), each with its Stats.
	Instances []instances.Info `json:"instances"`
}

func (a *api) apiPlugins() pluginsView {
	v := pluginsView{Types: registry.Types(), Instances: nonNil(a.h.Plugins().Instances())}
	if s := a.h.Snapshot(); s != nil {
		v.Version = s.Version
	}
	return v
}

// poolView is one pool in GET {prefix}/api/pools (see pool.Stats).
type poolView struct {
	InUse      int64 `json:"in_use"`
	Idle       int64 `json:"idle"`
	Capacity   int64 `json:"capacity"`
	Gets       int64 `json:"gets"`
	Hits       int64 `json:"hits"`
	Misses     int64 `json:"misses"`
	Waits      int64 `json:"waits"`
	QueueDepth int64 `json:"queue_depth"`
	Rejected   int64 `json:"rejected"`
	Dropped    int64 `json:"dropped"`
	Workers    int64 `json:"workers"`
	Panics     int64 `json:"panics"`
}

// poolsView is GET {prefix}/api/pools.
type poolsView struct {
	Pools map[string]poolView `json:"pools"`
}

func (a *api) apiPools() poolsView {
	stats := a.h.Pools().Stats()
	v := poolsView{Pools: make(map[string]poolView, len(stats))}
	for n, st := range stats {
		v.Pools[n] = poolView(st)
	}
	return v
}

// reloadRecord is one reload in the admin API.
type reloadRecord struct {
	Time    string `json:"time"`
	Trigger string `json:"trigger"`
	Success bool   `json:"success"`
	// Result is "applied", "unchanged" (the files' content equals the
	// last load's: nothing was rebuilt) or "rejected", the words of the
	// dashboard's reload list.
	Result     string            `json:"result"`
	Skipped    bool              `json:"unchanged,omitempty"`
	Repeats    int               `json:"repeats,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	Version    string            `json:"version,omitempty"`
	Error      string            `json:"error,omitempty"`
	Changes    hotreload.Changes `json:"changes"`
}

// reloadResult is the one word for how a reload ended, in the API and on
// the dashboard. A reload skipped because its files did not change is
// "unchanged" even while the content it repeats stays rejected.
func reloadResult(r hotreload.Result) string {
	switch {
	case r.Skipped:
		return "unchanged"
	case r.Success:
		return "applied"
	default:
		return "rejected"
	}
}

func reloadJSON(r hotreload.Result) reloadRecord {
	return reloadRecord{Time: r.Time.UTC().Format(adminTimeFormat), Trigger: string(r.Trigger),
		Success: r.Success, Result: reloadResult(r), Skipped: r.Skipped, Repeats: r.Repeats,
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Version:    r.Version, Error: r.Error, Changes: r.Changes}
}

// reloadsView is GET {prefix}/api/reloads.
type reloadsView struct {
	Version string         `json:"version"`
	Reloads []reloadRecord `json:"reloads"`
}

func (a *api) apiReloads() reloadsView {
	hist := a.h.History()
	v := reloadsView{Reloads: make([]reloadRecord, len(hist))}
	for i, r := range hist {
		v.Reloads[i] = reloadJSON(r)
	}
	if s := a.h.Snapshot(); s != nil {
		v.Version = s.Version
	}
	return v
}

// apiReload answers POST {prefix}/api/reload: 200 with the result, or 422
// with the result and its error when the configuration was rejected.
func (a *api) apiReload(w http.ResponseWriter) {
	res := a.h.Reload(hotreload.TriggerAdmin)
	code := http.StatusOK
	if !res.Success {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, reloadJSON(res))
}

// purgeRequest is the body of POST {prefix}/api/cache/purge.
type purgeRequest struct {
	// Prefix drops every entry whose path starts with it.
	Prefix string `json:"prefix"`
	// Key drops the entry with this cache key.
	Key string `json:"key"`
	// Plugin limits the purge to one caching instance; empty purges all.
	Plugin string `json:"plugin"`
}

// purgeView is the answer of POST {prefix}/api/cache/purge.
type purgeView struct {
	// Purged is the number of entries dropped, in all instances.
	Purged int `json:"purged"`
	// Plugins is the number dropped by each caching instance.
	Plugins map[string]int `json:"plugins"`
	// Failed names, for each instance of which a part could not be purged,
	// what went wrong (the tier first). The answer is then 502 rather than
	// 200; the purge still takes effect (see docs/plugins/caching.md).
	Failed map[string]string `json:"failed,omitempty"`
}

// apiPurge answers POST {prefix}/api/cache/purge with {"prefix": "/api/"}
// or {"key": "..."}, optionally {"plugin": "name"} to purge one cache only.
func (a *api) apiPurge(w http.ResponseWriter, r *http.Request) {
	var req purgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		handlers.JSONError(w, http.StatusBadRequest, `body must be {"prefix": "/path/"} or {"key": "..."}, optionally with "plugin": `+purgeDecodeError(err))
		return
	}
	if req.Prefix == "" && req.Key == "" {
		handlers.JSONError(w, http.StatusBadRequest, `give "prefix" or "key"`)
		return
	}
	v := purgeView{Plugins: map[string]int{}}
	found := false
	a.h.Plugins().Each(func(name, _ string, inst registry.Instance) {
		if req.Plugin != "" && req.Plugin != name {
			return
		}
		if p, ok := inst.(purger); ok {
			found = true
			n, err := p.Purge(req.Key, req.Prefix)
			v.Plugins[name] += n
			v.Purged += n
			if err != nil {
				if v.Failed == nil {
					v.Failed = map[string]string{}
				}
				v.Failed[name] = err.Error()
			}
		}
	})
	if req.Plugin != "" && !found {
		handlers.JSONError(w, http.StatusNotFound, "no live caching plugin instance named "+req.Plugin)
		return
	}
	code := http.StatusOK
	if len(v.Failed) > 0 {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, v)
}

// purgeDecodeError says what is wrong with a purge body in the API's terms:
// field names as JSON spells them, never Go's type names.
func purgeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "the body is not a JSON object"
		}
		return fmt.Sprintf("%q must be a string, not a JSON %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return "unknown field " + name
	}
	return msg
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// latestReload returns the newest entry of the reload history.
func (a *api) latestReload() (hotreload.Result, bool) {
	hist := a.h.History()
	if len(hist) == 0 {
		return hotreload.Result{}, false
	}
	return hist[0], true
}

// timeOrZero formats t for the API, or "" for the zero time.
func timeOrZero(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(adminTimeFormat)
}
