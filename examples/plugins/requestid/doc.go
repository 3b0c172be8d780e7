// Package requestid is an example Switchyard plugin that wraps an existing
// net/http middleware, chi's middleware.RequestID, in a few lines. It
// registers the plugin type "requestid".
//
// Every request gets an ID: the one the client sent in the configured header,
// or a new one from chi ("host/random-000001"). Handlers read it with chi's
// middleware.GetReqID(r.Context()), and the response carries it back in the
// same header.
//
//	plugins:
//	  reqid:
//	    type: requestid
//	    header: X-Request-Id   # the default
//	middleware:
//	  - use: reqid
//
// A binary includes the plugin by importing the package for its side effect:
//
//	import _ "github.com/switchyard/switchyard/examples/plugins/requestid"
//
// The whole plugin is its config struct, its validation and a factory that
// returns registry.MiddlewareFunc around chi's middleware. With a header
// other than X-Request-Id, an incoming X-Request-Id is still accepted, as
// chi reads that header by name.
package requestid
