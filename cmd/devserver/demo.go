package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/core"
)

//go:embed index.html
var indexHTML string

// indexBefore and indexAfter are the index page around {{HOST}}, the
// address the browser used (whatever -addr or server.addr said).
var indexBefore, indexAfter, _ = strings.Cut(indexHTML, "{{HOST}}")

// registerDemoHandlers registers the Go handlers that the embedded config
// routes to.
func registerDemoHandlers(h *core.Host) {
	h.HandleFunc("demo.index", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, indexBefore)
		_, _ = io.WriteString(w, html.EscapeString(r.Host))
		_, _ = io.WriteString(w, indexAfter)
	})
	h.HandleFunc("demo.report", func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			ID    int     `json:"id"`
			Name  string  `json:"name"`
			Score float64 `json:"score"`
		}
		rows := make([]row, 200)
		for i := range rows {
			rows[i] = row{ID: i, Name: fmt.Sprintf("item-%03d", i), Score: float64(i) * 1.5}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rows)
	})
	h.HandleFunc("demo.slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=30")
		fmt.Fprintf(w, "{\"id\":%q,\"generated\":%q}\n", chi.URLParam(r, "id"), time.Now().UTC().Format(time.RFC3339Nano))
	})
}
