// Command devserver runs a Switchyard host: with no -config it serves an
// embedded demo configuration at once; with -config it serves that file and
// reloads it live on every save.
//
//	devserver [-config FILE] [-addr HOST:PORT] [-watch=true] [-log-format auto|color|text|json] [-log-level info]
//	devserver -check -config FILE     # validate and exit, like nginx -t
//	devserver -print-config           # print the effective config
//
// Logs go to stderr: coloured on a terminal (-log-format auto, the default),
// plain text or JSON otherwise. Every reload logs one line with the new
// version, how long it took and what changed; a rejected edit logs one line
// per error with its file:line, key and message, and the previous
// configuration keeps serving. SIGHUP reloads; SIGINT and SIGTERM shut down
// gracefully within server.shutdown_timeout.
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

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
	"github.com/switchyard/switchyard/core/config"

	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

//go:embed default.yaml
var defaultConfig []byte

// embeddedName is the name errors give the embedded config.
const embeddedName = "default.yaml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	config    string
	addr      string
	watch     bool
	logFormat string
	logLevel  string
	check     bool
	print     bool
}

// run is the whole command: it parses args, and either checks or prints
// the config and returns, or serves until ctx ends. stdin is read when the
// config is "-" or /dev/stdin. It returns the exit code: 0 on success, 1
// for an invalid config or a failure to serve, 2 for bad flags.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "config file (YAML, TOML or JSON), or - for YAML on stdin; empty serves the embedded demo config")
	fs.StringVar(&o.addr, "addr", "", "listen address HOST:PORT, overriding server.addr")
	fs.BoolVar(&o.watch, "watch", true, "reload when a config file changes (also needs reload.watch: true)")
	fs.StringVar(&o.logFormat, "log-format", "auto", "log format: auto (colour on a terminal, text otherwise), color, text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.check, "check", false, "validate the config and exit: 0 when valid, 1 with the errors")
	fs.BoolVar(&o.print, "print-config", false, "print the effective config as YAML and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devserver: unexpected argument %q (the config file goes after -config)\n", fs.Arg(0))
		return 2
	}
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "devserver:", err)
		return 2
	}
	redis.SetLogger(redisLogger{logger})
	src, err := newSource(o.config, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "devserver:", err)
		return 1
	}
	if o.check || o.print {
		return checkConfig(src, o.print, stdout, stderr)
	}
	return serve(ctx, o, src, logger, stderr)
}

// source is where the config comes from: a file (watched), stdin (read
// once), or the embedded demo config.
type source struct {
	path string // the file, or "" for data
	name string // for errors and the banner
	data []byte
}

// newSource resolves the -config flag: empty is the embedded config, "-"
// and /dev/stdin read stdin (YAML) at once.
func newSource(path string, stdin io.Reader) (source, error) {
	switch path {
	case "":
		return source{name: embeddedName, data: defaultConfig}, nil
	case "-", "/dev/stdin":
		data, err := io.ReadAll(io.LimitReader(stdin, config.MaxFileSize+1))
		if err != nil {
			return source{}, fmt.Errorf("reading the config from stdin: %w", err)
		}
		if len(data) > config.MaxFileSize {
			return source{}, fmt.Errorf("the config on stdin is larger than %d bytes", config.MaxFileSize)
		}
		return source{name: "stdin.yaml", data: data}, nil
	}
	return source{path: path, name: path}, nil
}

// load makes the host serve src.
func (src source) load(h *core.Host) error {
	if src.path == "" {
		return h.LoadBytes(src.name, src.data, ".")
	}
	return h.LoadFile(src.path)
}

// describe names the source for people.
func (src source) describe() string {
	switch {
	case src.path != "":
		return src.path
	case src.name == embeddedName:
		return "embedded default config"
	}
	return "config on stdin"
}

// serve runs the host until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, o options, src source, logger *slog.Logger, stderr io.Writer) int {
	h := core.New(core.Options{Logger: logger, Env: os.Environ(), EnableAdmin: true, Admin: admin.Handler})
	registerDemoHandlers(h)
	if err := src.load(h); err != nil {
		printErrors(stderr, err)
		fmt.Fprintf(stderr, "devserver: %s: the configuration is invalid; nothing is served\n", src.describe())
		h.Close()
		return 1
	}
	err := h.Run(ctx, core.RunOptions{Addr: o.addr, Watch: o.watch, Ready: func(h *core.Host) {
		banner(stderr, h, src, o.watch)
	}})
	if err != nil {
		fmt.Fprintln(stderr, "devserver:", err)
		return 1
	}
	return 0
}

// printErrors prints each error of a rejected configuration on a line of
// its own: "file:line: key: what is wrong".
func printErrors(w io.Writer, err error) {
	var errs config.Errors
	if !errors.As(err, &errs) {
		fmt.Fprintln(w, err)
		return
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
}

// checkConfig validates a config the way serving it would (plugins built,
// conditions compiled, routes checked) without binding any listener, and
// prints either OK or every error on a line of its own
// ("file:line: key: what is wrong"); with print it writes the effective
// config as YAML instead.
func checkConfig(src source, print bool, stdout, stderr io.Writer) int {
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Env: os.Environ(), Admin: admin.Handler})
	defer h.Close()
	registerDemoHandlers(h)
	if err := src.load(h); err != nil {
		printErrors(stderr, err)
		fmt.Fprintf(stderr, "%s: invalid\n", src.describe())
		return 1
	}
	if print {
		out, err := h.Snapshot().Loaded.MarshalEffective()
		if err != nil {
			fmt.Fprintln(stderr, "devserver:", err)
			return 1
		}
		_, _ = stdout.Write(out)
		return 0
	}
	fmt.Fprintf(stdout, "%s: OK (version %s)\n", src.describe(), h.Snapshot().Version)
	return 0
}

// banner prints one short block: where the host listens, what it serves
// and where the dashboard is.
func banner(w io.Writer, h *core.Host, src source, watch bool) {
	s := h.Snapshot()
	from := src.describe()
	switch {
	case src.name == embeddedName && src.path == "":
		from = "embedded demo config (devserver -print-config > switchyard.yaml to start your own)"
	case src.path != "" && watch && s.Config().Reload.Watch:
		from += " (watching for edits)"
	}
	addr := h.Addr().String()
	fmt.Fprintf(w, "switchyard devserver\n  listening  http://%s\n  config     %s\n  version    %s\n", addr, from, s.Version)
	if a := s.Config().Server.Admin; a.Enabled {
		fmt.Fprintf(w, "  dashboard  http://%s%s/\n", addr, a.Prefix)
	}
}
