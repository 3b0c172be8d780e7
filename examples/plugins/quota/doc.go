// Package quota is an example Switchyard plugin with a typed, validated
// config, state that survives reloads, and a Close. It registers the plugin
// type "quota": each client may make limit requests per UTC day; further
// requests get 429 with Retry-After (the seconds until midnight UTC) and a
// short JSON body.
//
//	plugins:
//	  apiquota:
//	    type: quota
//	    limit: 1000            # requests per client per day, required
//	    header: X-Api-Key      # identifies the client; default: its IP
//	    max_clients: 100000    # clients counted per day (the default)
//	    state_file: ./quota.json   # keep counts across restarts (optional)
//
// Every response carries X-Quota-Limit and X-Quota-Remaining. A request
// without the header counts against the client IP, so a missing header
// never merges every client into one count. Refused requests use no quota.
//
// # State across reloads
//
// The registry keeps an instance whose config is unchanged by a reload, so
// its counts simply stay. When the config changes (a new limit, say), the
// new instance receives the serving one as ctx.Previous and shares its
// counts: nobody's quota starts over because an operator raised the limit.
// The counts are reference-counted; Close drops a reference, and the last
// one saves them to state_file when one is set, so a restart the same day
// keeps them too.
//
// # Metrics
//
// switchyard_quota_requests_total{plugin,result} counts allowed and refused
// requests.
package quota
