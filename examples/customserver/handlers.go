package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/switchyard/switchyard/core"
)

// registerHandlers registers the Go handlers that config.yaml routes to
// with `handler: app.NAME`.
func registerHandlers(h *core.Host) {
	h.HandleFunc("app.hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"message":    "Hello from a custom Switchyard server",
			"request_id": middleware.GetReqID(r.Context()), // set by the requestid plugin
		})
	})
	h.HandleFunc("app.items", func(w http.ResponseWriter, r *http.Request) {
		type item struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}
		items := make([]item, 100)
		for i := range items {
			items[i] = item{ID: i + 1, Name: fmt.Sprintf("item %03d", i+1)}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=10")
		_ = json.NewEncoder(w).Encode(items)
	})
}
