// Package core is the Switchyard host: it serves HTTP requests through a
// snapshot of its configuration and swaps in a new snapshot, in one atomic
// store, every time the configuration is reloaded.
//
// A [Host] owns the serving [Snapshot]. A snapshot is immutable: its chi
// router, every route's chain of plugin instances with their conditions,
// the fast paths that skip the chains, the client-address resolver and the
// version of the configuration it was built from. A request loads the
// snapshot once and runs on it to the end, however many reloads happen
// meanwhile.
//
// # Request path
//
// [Host.ServeHTTP] (host.go) loads the snapshot and counts the request on
// it, serves a fast path (/health, /metrics, /static/*, the admin routes,
// performance.routing.fast_paths) when the path is one, and otherwise hands
// the request to the router. Each route's handler is wrapped once, at build
// time, in its chain (chain.go) and its metrics (metrics.go).
//
// # Reload path
//
// Every reload — the first load, a file event, SIGHUP, the admin API — goes
// through one entry (reload.go): read the source, validate, build a complete
// snapshot beside the serving one (build.go), bind a new listener when the
// address changed, swap, and retire the old snapshot once its last request
// has finished. Any error on the way leaves the serving snapshot untouched
// and comes back as [config.Errors], each with its file, line and key.
//
// # Running a host
//
// A binary builds a host with [New], registers its Go handlers with
// [Host.Handle], and calls [Host.Run], which loads, watches, serves, reloads
// on SIGHUP and shuts down gracefully when its context ends. The admin API
// and dashboard live in package core/admin; pass [admin.Handler] as
// [Options.Admin] to serve them.
//
// [admin.Handler]: https://pkg.go.dev/github.com/switchyard/switchyard/core/admin#Handler
package core
