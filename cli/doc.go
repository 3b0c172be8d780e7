// Package cli is the command line every Switchyard binary is built on:
//
//	func main() { os.Exit(cli.Main(cli.Options{Name: "myserver", Handlers: register})) }
//
// gives a binary the flags -config, -addr, -watch, -log-format,
// -log-level, -check (with -diff), -print-config, -version and -help, with
// the plugins linked into that binary: import a plugin's package to
// include it, and -check validates configs that use it.
//
// # Serving
//
// Main loads the config, serves it until SIGINT or SIGTERM (then drains
// within server.shutdown_timeout), reloads on SIGHUP and, with -watch, on
// every save. A listening socket inherited by the systemd convention
// (LISTEN_FDS) is served instead of binding an address, and readiness is
// reported to NOTIFY_SOCKET: the same binary runs under systemd socket
// activation and under the devserver's Go dev loop (devserver -build).
//
// # Config sources
//
// -config is a local file, "-" for stdin, or SCHEME://... for a scheme a
// package registered with [RegisterSource].
//
// # Exit status
//
// 0 on success, 1 for an invalid config or a failure to serve, 2 for bad
// flags ([ExitOK], [ExitFailure], [ExitUsage]).
package cli
