// Command customserver is a Switchyard server of your own: the built-in
// plugins, two custom ones (examples/plugins) and Go handlers, with the
// whole command line of package cli (run it with -help). Copy it to start.
package main

import (
	"os"

	"github.com/switchyard/switchyard/cli"

	_ "github.com/switchyard/switchyard/plugins/caching" // the built-in plugins
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"

	_ "github.com/switchyard/switchyard/examples/plugins/quota" // your plugins: import to include
	_ "github.com/switchyard/switchyard/examples/plugins/requestid"
)

func main() {
	os.Exit(cli.Main(cli.Options{
		Name:        "customserver",
		Description: "a Switchyard server with two custom plugins and Go handlers.",
		Handlers:    registerHandlers, // handlers.go
	}))
}
