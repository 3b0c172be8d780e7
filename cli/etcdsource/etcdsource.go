// Package etcdsource lets a binary built on package cli take its
// configuration from etcd: importing it registers the etcd:// scheme of
// -config.
//
//	import _ "github.com/switchyard/switchyard/cli/etcdsource"
//
//	devserver -config etcd://10.0.0.1:2379,10.0.0.2:2379/switchyard/config.yaml
//
// The host loads the key, follows its changes with -watch (the default),
// keeps a local copy of the last good configuration for a start while etcd
// is down, and the admin API's PUT /api/config and rollback write the key
// with a compare-and-swap. docs/fleet.md has the whole setup.
package etcdsource

import (
	"context"

	"github.com/switchyard/switchyard/cli"
	"github.com/switchyard/switchyard/configsource/etcd"
)

func init() {
	cli.RegisterSource("etcd", open)
}

func open(_ context.Context, ref string) (*cli.Source, error) {
	src, err := etcd.Open(ref, etcd.Options{})
	if err != nil {
		return nil, err
	}
	return &cli.Source{Name: ref, Describe: ref, Core: src, Close: func() { _ = src.Close() }}, nil
}
