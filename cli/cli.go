package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/internal/listenfd"
)

// Options describe a binary: its name and help, its Go handlers, an
// embedded default config, and (for tests and wrappers) where it reads
// its arguments and writes its output. The zero value works: a server
// that needs -config.
type Options struct {
	// Name is the binary's name in help, banners and errors; empty uses
	// the base name of os.Args[0].
	Name string
	// Description is one or two sentences for -help.
	Description string
	// Examples are extra lines for the Examples section of -help, such
	// as "customserver -config api.yaml".
	Examples []string
	// Handlers registers the Go handlers the config routes to (handler:
	// NAME), on every host the binary makes, -check's included.
	Handlers func(*core.Host)
	// DefaultConfig, when not nil, is served (and checked, and printed)
	// when -config is not given; DefaultConfigName names it in errors
	// and picks its format ("default.yaml" when empty).
	DefaultConfig     []byte
	DefaultConfigName string
	// EnableAdmin forces server.admin.enabled on, as the devserver does.
	EnableAdmin bool
	// Environ, when set, is asked once the flags are parsed for settings
	// to add to the environment the host reads its SWITCHYARD_ overrides
	// from (the devserver's -tls sets the certificate files this way).
	Environ func() ([]string, error)
	// Banner, when set, adds lines to the start-up banner.
	Banner func(w io.Writer, h *core.Host)

	// Flags, when set, adds the binary's own flags to the standard ones.
	Flags func(*flag.FlagSet)
	// Command, when set, runs after the flags are parsed and checked; when
	// it returns handled, Main exits with its code instead of serving.
	// The devserver's -build is one.
	Command func(ctx context.Context, inv *Invocation) (code int, handled bool)

	// Args are the arguments without the program name; nil uses
	// os.Args[1:].
	Args []string
	// Stdin, Stdout and Stderr default to the process's own.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Context, when set, ends the server instead of SIGINT and SIGTERM.
	Context context.Context
}

// Invocation is one parsed command line: the standard flags and what
// they made.
type Invocation struct {
	// Name is the binary's name.
	Name string
	// Config, Addr, Watch, LogFormat and LogLevel are the flags' values.
	Config    string
	Addr      string
	Watch     bool
	LogFormat string
	LogLevel  string
	// Logger writes to Stderr in the chosen format and level.
	Logger *slog.Logger
	// Stdout and Stderr are the output streams.
	Stdout, Stderr io.Writer
}

// Exit codes of Main.
const (
	ExitOK      = 0 // served and stopped, or the check passed
	ExitFailure = 1 // an invalid config, or a failure to serve
	ExitUsage   = 2 // bad flags or arguments
)

// flags are the standard flags.
type flags struct {
	Invocation
	check, diff, print, version bool
}

// Main runs the binary's whole command line and returns the exit code:
// use it as os.Exit(cli.Main(cli.Options{...})).
func Main(o Options) int {
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	if o.Args == nil {
		o.Args = os.Args[1:]
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.DefaultConfigName == "" {
		o.DefaultConfigName = "default.yaml"
	}
	ctx := o.Context
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}

	f, code, ok := parse(o)
	if !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(o.Stderr, "%s: %s\n", o.Name, fmt.Sprintf(format, a...))
		return code
	}
	if f.version {
		printVersion(o.Stdout, o.Name)
		return ExitOK
	}
	logger, err := newLogger(o.Stderr, f.LogFormat, f.LogLevel)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	f.Logger = logger
	redis.SetLogger(redisLogger{logger})
	if o.Command != nil {
		if code, handled := o.Command(ctx, &f.Invocation); handled {
			return code
		}
	}
	src, err := openSource(ctx, o, f.Config)
	if err != nil {
		return fail(ExitFailure, "%v", err)
	}
	if src.Close != nil {
		defer src.Close()
	}
	if f.check || f.print {
		return check(ctx, o, f, src)
	}
	return serve(ctx, o, f, src)
}

// parse parses and checks the flags. When ok is false, Main returns code.
func parse(o Options) (f flags, code int, ok bool) {
	fs := flag.NewFlagSet(o.Name, flag.ContinueOnError)
	fs.SetOutput(o.Stderr)
	fs.Usage = func() {}
	fs.StringVar(&f.Config, "config", "", configUsage(o))
	fs.StringVar(&f.Addr, "addr", "", "listen `address` HOST:PORT, overriding server.addr (port 0 picks a free one)")
	fs.BoolVar(&f.Watch, "watch", true, "reload when a config file changes (also needs reload.watch: true)")
	fs.StringVar(&f.LogFormat, "log-format", "auto", "log `format`: auto (colour on a terminal, text otherwise), color, text or json")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&f.check, "check", false, "validate the config as a reload would and exit: 0 when valid, 1 with every error as file:line: key: message")
	fs.BoolVar(&f.diff, "diff", false, "with -check: also show what a reload to the config would change on the running server (asked through its admin API)")
	fs.BoolVar(&f.print, "print-config", false, "print the effective config (defaults, files and environment merged) as YAML and exit; the config is validated first")
	fs.BoolVar(&f.version, "version", false, "print the version and VCS revision and exit")
	if o.Flags != nil {
		o.Flags(fs)
	}
	f.Name, f.Stdout, f.Stderr = o.Name, o.Stdout, o.Stderr
	usageErr := func(format string, a ...any) (flags, int, bool) {
		fmt.Fprintf(o.Stderr, "%s: %s\n", o.Name, fmt.Sprintf(format, a...))
		fmt.Fprintf(o.Stderr, "Run '%s -help' for usage.\n", o.Name)
		return f, ExitUsage, false
	}
	if err := fs.Parse(o.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(o, fs)
			return f, ExitOK, false
		}
		// The flag package has printed the error.
		fmt.Fprintf(o.Stderr, "Run '%s -help' for usage.\n", o.Name)
		return f, ExitUsage, false
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q (the config file goes after -config)", fs.Arg(0))
	case f.diff && !f.check:
		return usageErr("-diff needs -check")
	}
	if f.Addr != "" {
		if err := checkAddr(f.Addr); err != nil {
			return usageErr("-addr %s: %v", f.Addr, err)
		}
	}
	return f, 0, true
}

// configUsage is the help of -config.
func configUsage(o Options) string {
	s := "config `file` (YAML, TOML or JSON), or - for YAML on stdin"
	for _, scheme := range sourceSchemes() {
		s += ", or " + scheme + "://..."
	}
	if o.DefaultConfig != nil {
		s += "; empty serves the embedded " + o.DefaultConfigName
	}
	return s
}

// checkAddr checks a HOST:PORT listen address without binding it.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT, such as 127.0.0.1:8080 or :8080")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /?#@") {
		return fmt.Errorf("host %q: want an IP address or a host name", host)
	}
	return nil
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

// newHost makes a host with the binary's handlers and environment.
func newHost(o Options, logger *slog.Logger, enableAdmin bool, env []string) *core.Host {
	h := core.New(core.Options{Logger: logger, Env: append(os.Environ(), env...), EnableAdmin: enableAdmin, Admin: admin.Handler})
	if o.Handlers != nil {
		o.Handlers(h)
	}
	return h
}

// serve runs the host until ctx ends, then shuts it down gracefully. It
// serves an inherited listener (LISTEN_FDS) when there is one and reports
// readiness to NOTIFY_SOCKET.
func serve(ctx context.Context, o Options, f flags, src *Source) int {
	var env []string
	if o.Environ != nil {
		var err error
		if env, err = o.Environ(); err != nil {
			fmt.Fprintf(o.Stderr, "%s: %v\n", o.Name, err)
			return ExitFailure
		}
	}
	h := newHost(o, f.Logger, o.EnableAdmin, env)
	if err := src.load(h); err != nil {
		if errors.Is(err, core.ErrSourceUnavailable) { // not the config's fault: one line
			fmt.Fprintf(o.Stderr, "%s: %v\n", o.Name, err)
			h.Close()
			return ExitFailure
		}
		printErrors(o.Stderr, err)
		fmt.Fprintf(o.Stderr, "%s: %s: the configuration is invalid; nothing is served\n", o.Name, src.Describe)
		h.Close()
		return ExitFailure
	}
	lns, err := listenfd.Listeners()
	if err != nil {
		fmt.Fprintf(o.Stderr, "%s: %v\n", o.Name, err)
		h.Close()
		return ExitFailure
	}
	var ln net.Listener
	if len(lns) > 0 {
		ln = lns[0]
		for _, extra := range lns[1:] {
			f.Logger.Warn("inherited listener not served: one is served", "addr", extra.Addr().String())
			extra.Close()
		}
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	followDone := make(chan struct{})
	err = h.Run(ctx, core.RunOptions{Addr: f.Addr, Listener: ln, Watch: f.Watch, Ready: func(h *core.Host) {
		banner(o.Stderr, o.Name, h, src, f.Watch, ln != nil)
		if o.Banner != nil {
			o.Banner(o.Stderr, h)
		}
		if err := listenfd.Notify("READY=1"); err != nil {
			f.Logger.Warn("readiness not reported", "err", err)
		}
		if src.Follow == nil {
			close(followDone)
			return
		}
		go func() {
			defer close(followDone)
			if err := src.Follow(followCtx, h); err != nil && followCtx.Err() == nil {
				f.Logger.Error("config source stopped", "source", src.Describe, "err", err)
			}
		}()
	}})
	stopFollow()
	if err != nil {
		fmt.Fprintf(o.Stderr, "%s: %v\n", o.Name, err)
		return ExitFailure
	}
	<-followDone
	return ExitOK
}

// BaseURL is the URL the host serves at: https when server.tls is on, and
// then localhost for a loopback address, the name a local certificate is
// for.
func BaseURL(h *core.Host) string {
	addr := h.Addr().String()
	if !h.Snapshot().Config().Server.TLS.Enabled() {
		return "http://" + addr
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			addr = net.JoinHostPort("localhost", port)
		}
	}
	return "https://" + addr
}

// banner prints one short block: where the host listens, what it serves
// and where the dashboard is.
func banner(w io.Writer, name string, h *core.Host, src *Source, watch, inherited bool) {
	s := h.Snapshot()
	from := src.Describe
	switch {
	case src.embedded:
		from = "embedded demo config (" + name + " -print-config > switchyard.yaml to start your own)"
	case src.Path != "" && watch && s.Config().Reload.Watch:
		from += " (watching for edits)"
	}
	base := BaseURL(h)
	listen := base
	if inherited {
		listen += " (inherited socket)"
	}
	fmt.Fprintf(w, "switchyard %s\n  listening  %s\n  config     %s\n  version    %s\n", name, listen, from, s.Version)
	if a := s.Config().Server.Admin; a.Enabled {
		fmt.Fprintf(w, "  dashboard  %s%s/\n", base, a.Prefix)
	}
}
