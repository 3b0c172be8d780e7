package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// printHelp writes -help to stdout: description, usage, flags, examples,
// signals and environment.
func printHelp(o Options, fs *flag.FlagSet) {
	w := o.Stdout
	n := o.Name
	if o.Description != "" {
		fmt.Fprintf(w, "%s: %s\n\n", n, o.Description)
	}
	fmt.Fprintf(w, "Usage:\n  %s [flags]\n\nFlags:\n", n)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(o.Stderr)
	fmt.Fprintf(w, "\nExamples:\n")
	examples := []string{
		n + " -config switchyard.yaml                   serve it, reloading on every save",
		n + " -check -config switchyard.yaml            validate (for CI): exit 1 with file:line errors",
		n + " -check -diff -config switchyard.yaml      preview what a reload would change on the running server",
		n + " -print-config -config switchyard.yaml     the effective config, defaults included",
	}
	if o.DefaultConfig != nil {
		examples = append(examples, n+" -print-config > switchyard.yaml             start from the embedded config")
	}
	for _, e := range append(examples, o.Examples...) {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprint(w, `
Signals:
  SIGHUP           reload the configuration
  SIGINT, SIGTERM  stop accepting, let in-flight requests finish (up to
                   server.shutdown_timeout), then exit

Environment:
  SWITCHYARD_...   override config keys (see docs/configuration.md)
  LISTEN_FDS       serve an inherited listening socket instead of binding
                   (systemd socket activation; devserver -build)
  NOTIFY_SOCKET    report readiness (systemd Type=notify; devserver -build)

Exit status: 0 success, 1 invalid config or failure to serve, 2 bad flags.
`)
}

// printVersion writes the binary's module version, the Switchyard version
// it was built with, the VCS revision and the Go version, from the build
// information.
func printVersion(w io.Writer, name string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(w, "%s (no build information)\n", name)
		return
	}
	fmt.Fprintf(w, "%s %s\n", name, versionLine(bi))
}

// versionLine is "MODULE VERSION[, switchyard V][, rev R[ (modified)]], goX".
func versionLine(bi *debug.BuildInfo) string {
	parts := []string{bi.Main.Path + " " + orDevel(bi.Main.Version)}
	const self = "github.com/switchyard/switchyard"
	if bi.Main.Path != self {
		for _, d := range bi.Deps {
			if d.Path == self {
				v := d.Version
				if d.Replace != nil {
					v = orDevel(d.Replace.Version) + " => " + d.Replace.Path
				}
				parts = append(parts, "switchyard "+orDevel(v))
			}
		}
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if rev != "" {
		parts = append(parts, "rev "+rev+modified)
	} else {
		parts = append(parts, "rev unknown (built without VCS information)")
	}
	return strings.Join(append(parts, bi.GoVersion), ", ")
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
