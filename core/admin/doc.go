// Package admin serves a host's admin API and dashboard below
// server.admin.prefix: the effective configuration, the routes with their
// chains, the plugin instances and pools with their statistics, the reload
// history, live request statistics, and the few actions an operator takes
// (reload, cache purge). The routes are listed in admin.go.
//
// The package reads a [core.Host] and never the reverse: a binary passes
// [Handler] as core.Options.Admin, and the host calls it once for each
// snapshot whose server.admin.enabled is on.
//
// Every route answers 403 to a client outside server.admin.allow, and
// every error is a JSON body {"error": "..."}.
package admin
