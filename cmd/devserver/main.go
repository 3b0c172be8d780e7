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
//
// Run devserver -help for every flag, the signals and the exit codes.
package main

import (
	"context"
	_ "embed"
	"flag"
	"io"
	"os"

	"github.com/switchyard/switchyard/cli"

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
	return cli.Options{
		Name:              "devserver",
		Description:       "a Switchyard host with the built-in plugins and a demo app, for trying configs and for the Go dev loop of your own binary (-build).",
		Examples:          []string{"devserver -build ./cmd/myserver -config my.yaml   rebuild and swap on every save, dropping no request"},
		Handlers:          registerDemoHandlers,
		DefaultConfig:     defaultConfig,
		DefaultConfigName: "default.yaml",
		EnableAdmin:       true,
		Flags: func(fs *flag.FlagSet) {
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
