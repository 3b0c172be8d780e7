package core

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// adminHandler serves {prefix}/... : the dashboard and the JSON API. Clients
// outside server.admin.allow get 403.
func (h *Host) adminHandler(s *Snapshot) http.Handler {
	prefix := s.adminPrefix
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := s.ips.IP(r)
		allowed := false
		for _, p := range s.adminAllow {
			if p.Contains(ip) {
				allowed = true
				break
			}
		}
		if !allowed {
			handlers.JSONError(w, http.StatusForbidden, "forbidden")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		switch rest := strings.TrimPrefix(r.URL.Path, prefix); rest {
		case "", "/":
			h.serveDashboard(w, r)
		case "/api/config":
			h.getOnly(w, r, func() any { return h.apiConfig() })
		case "/api/routes":
			h.getOnly(w, r, func() any { return h.apiRoutes() })
		case "/api/plugins":
			h.getOnly(w, r, func() any { return h.apiPlugins() })
		case "/api/pools":
			h.getOnly(w, r, func() any { return h.apiPools() })
		case "/api/reloads":
			h.getOnly(w, r, func() any { return h.apiReloads() })
		case "/api/reload":
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				handlers.JSONError(w, http.StatusMethodNotAllowed, "use POST")
				return
			}
			res := h.Reload(hotreload.TriggerAdmin)
			code := http.StatusOK
			if !res.Success {
				code = http.StatusUnprocessableEntity
			}
			writeJSON(w, code, reloadJSON(res))
		case "/api/cache/purge":
			h.purge(w, r)
		default:
			handlers.JSONError(w, http.StatusNotFound, "not found")
		}
	})
}

func (h *Host) getOnly(w http.ResponseWriter, r *http.Request, fn func() any) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		handlers.JSONError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	writeJSON(w, http.StatusOK, fn())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (h *Host) apiConfig() any {
	s := h.cur.Load()
	if s == nil {
		return map[string]any{}
	}
	return map[string]any{
		"version": s.Version,
		"files":   s.Loaded.Files,
		"config":  config.Redact(s.Loaded.Raw),
	}
}

func (h *Host) apiRoutes() any {
	s := h.cur.Load()
	if s == nil {
		return map[string]any{}
	}
	return map[string]any{"version": s.Version, "routes": s.routes}
}

func (h *Host) apiPlugins() any {
	s := h.cur.Load()
	out := map[string]any{"types": registry.Types(), "instances": h.reg.Instances()}
	if s != nil {
		out["version"] = s.Version
	}
	return out
}

func (h *Host) apiPools() any {
	h.poolsMu.Lock()
	defer h.poolsMu.Unlock()
	out := make(map[string]pool.Stats, len(h.pools))
	for n, src := range h.pools {
		out[n] = src.Stats()
	}
	return out
}

// reloadRecord is one reload in the admin API.
type reloadRecord struct {
	Time       string            `json:"time"`
	Trigger    string            `json:"trigger"`
	Success    bool              `json:"success"`
	Skipped    bool              `json:"skipped,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	Version    string            `json:"version,omitempty"`
	Error      string            `json:"error,omitempty"`
	Changes    hotreload.Changes `json:"changes"`
}

func reloadJSON(r hotreload.Result) reloadRecord {
	return reloadRecord{Time: r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Trigger: string(r.Trigger),
		Success: r.Success, Skipped: r.Skipped, DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Version: r.Version, Error: r.Error, Changes: r.Changes}
}

func (h *Host) apiReloads() any {
	hist := h.History()
	out := make([]reloadRecord, len(hist))
	for i, r := range hist {
		out[i] = reloadJSON(r)
	}
	v := ""
	if s := h.cur.Load(); s != nil {
		v = s.Version
	}
	return map[string]any{"version": v, "reloads": out}
}

// purge answers POST {prefix}/api/cache/purge with {"prefix": "/api/"} or
// {"key": "..."}, optionally {"plugin": "name"} to purge one cache only.
func (h *Host) purge(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		handlers.JSONError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var req struct {
		Prefix string `json:"prefix"`
		Key    string `json:"key"`
		Plugin string `json:"plugin"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		handlers.JSONError(w, http.StatusBadRequest, "body must be {\"prefix\": \"/path/\"} or {\"key\": \"...\"}: "+err.Error())
		return
	}
	if req.Prefix == "" && req.Key == "" {
		handlers.JSONError(w, http.StatusBadRequest, "give a prefix or a key")
		return
	}
	purged := map[string]int{}
	h.reg.Each(func(name, _ string, inst registry.Instance) {
		if req.Plugin != "" && req.Plugin != name {
			return
		}
		if p, ok := inst.(registry.Purger); ok {
			purged[name] += p.Purge(req.Key, req.Prefix)
		}
	})
	total := 0
	for _, n := range purged {
		total += n
	}
	writeJSON(w, http.StatusOK, map[string]any{"purged": total, "plugins": purged})
}
