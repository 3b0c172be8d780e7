// Command fleethost is a minimal host that takes its configuration from an
// etcd:// URL, with the devserver's -config and -addr flags. The docs test
// builds it under the name devserver to run docs/fleet.md's commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard/switchyard/configsource/etcd"
	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
)

func main() {
	cfg := flag.String("config", "", "etcd://HOST:PORT[,HOST:PORT]/KEY")
	addr := flag.String("addr", "", "listen address (wins over server.addr)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	src, err := etcd.Open(*cfg, etcd.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(2)
	}
	defer src.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := core.New(core.Options{Logger: log, Admin: admin.Handler, Env: os.Environ()})
	if err := h.Run(ctx, core.RunOptions{Source: src, Addr: *addr, Watch: true}); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}
