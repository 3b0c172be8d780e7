// Command devserver runs a Switchyard host: with no -config it serves an
// embedded demo configuration at once; with -config it serves that file and
// reloads it live on every save.
//
//	devserver [-config FILE] [-addr HOST:PORT] [-watch=true] [-log-format text|json] [-log-level info]
//	devserver -check -config FILE     # validate and exit, like nginx -t
//	devserver -print-config           # print the effective config
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"

	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

//go:embed default.yaml
var defaultConfig []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (YAML, TOML or JSON); empty serves the embedded demo config")
	addr := fs.String("addr", "", "listen address HOST:PORT, overriding server.addr")
	watch := fs.Bool("watch", true, "reload when a config file changes (also needs reload.watch: true)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	check := fs.Bool("check", false, "validate the config and exit: 0 when valid, 1 with the errors")
	printCfg := fs.Bool("print-config", false, "print the effective config as YAML and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "devserver:", err)
		return 2
	}

	if *check || *printCfg {
		return checkConfig(*cfgPath, *printCfg, stdout, stderr)
	}

	h := core.New(core.Options{Logger: logger, Env: os.Environ(), EnableAdmin: true})
	registerDemoHandlers(h)
	if *cfgPath == "" {
		err = h.LoadBytes("default.yaml", defaultConfig, ".")
	} else {
		err = h.LoadFile(*cfgPath)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		h.Close()
		return 1
	}
	if *watch {
		if err := h.Watch(); err != nil {
			logger.Warn("config watching off", "err", err)
		}
	}
	if err := h.Start(*addr); err != nil {
		fmt.Fprintln(stderr, "devserver:", err)
		h.Close()
		return 1
	}
	banner(stderr, h, *cfgPath)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hupCtx, hupStop := context.WithCancel(context.Background())
	go hotreload.Signals(hupCtx, func(t hotreload.Trigger) { h.Reload(t) })
	<-ctx.Done()
	hupStop()
	logger.Info("shutting down")
	if err := h.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// checkConfig validates a config the way serving it would (plugins built,
// conditions compiled, routes checked) without binding any listener.
func checkConfig(path string, print bool, stdout, stderr io.Writer) int {
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Env: os.Environ()})
	defer h.Close()
	registerDemoHandlers(h)
	var err error
	if path == "" {
		err = h.LoadBytes("default.yaml", defaultConfig, ".")
	} else {
		err = h.LoadFile(path)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if print {
		out, err := config.Marshal(h.Snapshot().Config())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		_, _ = stdout.Write(out)
		return 0
	}
	name := path
	if name == "" {
		name = "embedded default config"
	}
	fmt.Fprintf(stdout, "%s: OK (version %s)\n", name, h.Snapshot().Version)
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

func banner(w io.Writer, h *core.Host, path string) {
	s := h.Snapshot()
	src := path
	if src == "" {
		src = "(embedded default config)"
	}
	addr := h.Addr().String()
	fmt.Fprintf(w, "switchyard devserver\n  listening  http://%s\n  config     %s\n  version    %s\n", addr, src, s.Version)
	if a := s.Config().Server.Admin; a.Enabled {
		fmt.Fprintf(w, "  dashboard  http://%s%s/\n", addr, a.Prefix)
	}
}
