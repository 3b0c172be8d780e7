package core

import (
	_ "embed"
	"net/http"
)

//go:embed dashboard/index.html
var dashboardHTML []byte

// serveDashboard serves the single-page dashboard; it reads the JSON API.
func (h *Host) serveDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(dashboardHTML)
}
