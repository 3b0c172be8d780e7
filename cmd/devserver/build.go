package main

import (
	"context"
	"fmt"
	"os"

	"github.com/switchyard/switchyard/cli"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/internal/devloop"
)

// defaultAddr is where the dev loop listens when neither -addr nor the
// config's server.addr says.
const defaultAddr = "127.0.0.1:8080"

// devLoop runs devserver -build PKG until ctx ends.
func devLoop(ctx context.Context, pkg string, inv *cli.Invocation) int {
	addr := inv.Addr
	var args []string
	if inv.Config != "" {
		l, err := config.Load(inv.Config, os.Environ())
		if err != nil {
			fmt.Fprintf(inv.Stderr, "devserver: %v\n", err)
			return cli.ExitFailure
		}
		if addr == "" {
			addr = l.Config.Server.Addr
		}
		args = append(args, "-config", inv.Config)
	}
	if addr == "" {
		addr = defaultAddr
	}
	args = append(args, "-watch="+fmt.Sprint(inv.Watch), "-log-format", inv.LogFormat, "-log-level", inv.LogLevel)
	err := devloop.Run(ctx, devloop.Options{
		Package: pkg,
		Addr:    addr,
		Args:    args,
		Logger:  inv.Logger,
		Output:  inv.Stderr,
	})
	if err != nil {
		fmt.Fprintf(inv.Stderr, "devserver: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}
