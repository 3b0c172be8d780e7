// Command customserver is a Switchyard server of your own: the host from
// package core, the built-in plugins, two custom plugins (the examples in
// examples/plugins), and a handler written in Go. Copy it to start a binary
// with your own plugins: a plugin is included by importing its package.
//
//	go run ./examples/customserver -config examples/customserver/config.yaml
//
// Flags:
//
//	-config FILE      the config file (YAML, TOML or JSON); every save reloads it
//	-addr HOST:PORT   listen address, overriding server.addr (port 0 picks a free one)
//
// It logs one line per reload, answers /health with the config version, and
// shuts down gracefully on SIGINT or SIGTERM; SIGHUP reloads.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"

	// The built-in plugins.
	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"

	// Custom plugins: importing a package registers its plugin type.
	_ "github.com/switchyard/switchyard/examples/plugins/quota"
	_ "github.com/switchyard/switchyard/examples/plugins/requestid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("customserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "config.yaml", "config file (YAML, TOML or JSON)")
	addr := fs.String("addr", "", "listen address HOST:PORT, overriding server.addr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	h := core.New(core.Options{Logger: logger, Env: os.Environ(), Admin: admin.Handler})
	registerHandlers(h)
	err := h.Run(ctx, core.RunOptions{ConfigFile: *cfgPath, Addr: *addr, Watch: true, Ready: func(h *core.Host) {
		logger.Info("listening", "addr", h.Addr().String(), "config", *cfgPath, "version", h.Snapshot().Version)
	}})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

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
