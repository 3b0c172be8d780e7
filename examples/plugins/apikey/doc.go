// Package apikey is an example Switchyard plugin that guards routes with API
// keys. It registers the plugin type "apikey": a request whose key header
// holds a known key goes on, and the caller's name is set as a request value
// for the rest of the chain; any other request gets 401 with
// WWW-Authenticate and a short JSON body.
//
//	plugins:
//	  auth:
//	    type: apikey
//	    keys: ["alice:alpha-key-1"]   # NAME:KEY or KEY; secret, shown as REDACTED
//	    keys_file: ./keys.txt         # more keys, one a line (optional)
//	    header: X-Api-Key             # the default; Authorization reads "Bearer KEY"
//	    var: user                     # the request value set to NAME (the default)
//	  peruser:
//	    type: ratelimit
//	    rate: 100
//	    key: var:user                 # one bucket per caller
//	middleware:
//	  - use: auth
//	  - use: peruser
//	routes:
//	  - path: /admin/*
//	    middleware:
//	      - use: audit
//	        when: 'request.vars.user == "alice"'
//
// # Secrets
//
// The keys field is tagged secret:"true", so the admin API, the dashboard,
// -print-config and error messages show it as REDACTED. Errors about the
// keys name the key path or the file line, never a key. Keys are kept as
// their SHA-256: the time a lookup takes tells nothing about them.
//
// # Request values
//
// A Go handler behind the plugin reads the caller with
// registry.Value(r, "user"); a condition with request.vars.user or the
// structured matcher vars: {user: "alice"}; a ratelimit with key: var:user.
//
// # Testing
//
// The package's conformance test passes the credentials with
// plugintest.WithRequest and declares the refusal with
// plugintest.WithRefusal(401).
package apikey
