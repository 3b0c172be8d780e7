// Command devserver runs a Switchyard host with the built-in plugins: with
// no -config it serves an embedded demo configuration at once; with
// -config it serves that file and reloads it live on every save. With
// -build PKG it runs the Go dev loop instead: it builds PKG (a binary made
// with package cli), serves it on a socket the devserver holds, and on
// every save of the module's Go files rebuilds and swaps in the new build
// without dropping a request.
//
//	devserver [-config FILE] [-addr HOST:PORT] [-watch=true] [-log-format auto|color|text|json] [-log-level info]
//	devserver -check -config FILE     # validate and exit, like nginx -t
//	devserver -print-config           # print the effective config
//	devserver -build ./cmd/myserver -config my.yaml
//	devserver -tls                    # HTTPS with a local certificate (see internal/devcert)
//
// Run devserver -help for every flag, the signals and the exit codes.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/switchyard/switchyard/cli"
	_ "github.com/switchyard/switchyard/cli/etcdsource" // -config etcd://...
	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/internal/devcert"

	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

//go:embed default.yaml
var defaultConfig []byte

func main() {
	os.Exit(cli.Main(options(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}

// run is the whole command with ctx in place of SIGINT and SIGTERM.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := options(args, stdin, stdout, stderr)
	o.Context = ctx
	return cli.Main(o)
}

// options describe the devserver to the command kit.
func options(args []string, stdin io.Reader, stdout, stderr io.Writer) cli.Options {
	var build string
	var local bool
	var ca string
	return cli.Options{
		Name:              "devserver",
		Description:       "a Switchyard host with the built-in plugins and a demo app, for trying configs and for the Go dev loop of your own binary (-build).",
		Examples:          []string{"devserver -build ./cmd/myserver -config my.yaml   rebuild and swap on every save, dropping no request"},
		Handlers:          registerDemoHandlers,
		DefaultConfig:     defaultConfig,
		DefaultConfigName: "default.yaml",
		EnableAdmin:       true,
		Environ: func() ([]string, error) {
			if !local {
				return nil, nil
			}
			files, err := localCert()
			if err != nil {
				return nil, fmt.Errorf("-tls: %w", err)
			}
			ca = files.CA
			return []string{"SWITCHYARD_SERVER__TLS__CERT_FILE=" + files.Cert, "SWITCHYARD_SERVER__TLS__KEY_FILE=" + files.Key}, nil
		},
		Banner: func(w io.Writer, h *core.Host) {
			if ca != "" {
				fmt.Fprintf(w, "  ca         %s (curl --cacert %s %s/hello)\n", ca, ca, cli.BaseURL(h))
			}
		},
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&local, "tls", false, "serve HTTPS with a local certificate for localhost, made in the user cache directory")
			fs.StringVar(&build, "build", "", "Go `package` to build and run as a child on the devserver's socket, rebuilt on every save of the module's Go files (the dev loop)")
		},
		Command: func(ctx context.Context, inv *cli.Invocation) (int, bool) {
			if build == "" {
				return 0, false
			}
			return devLoop(ctx, build, inv), true
		},
		Args: args, Stdin: stdin, Stdout: stdout, Stderr: stderr,
	}
}

// localCert returns the local development certificate, made on first use
// in the user's cache directory.
func localCert() (devcert.Files, error) {
	dir, err := devcert.Dir()
	if err != nil {
		return devcert.Files{}, err
	}
	return devcert.Ensure(dir)
}
