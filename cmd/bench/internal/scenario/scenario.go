// Package scenario defines the servers that the benchmark suite compares:
// for each scenario a Switchyard host built from a config file and a
// baseline written the ordinary way with net/http or chi, serving the same
// application handlers, and the request mix that the load generator sends
// to both.
package scenario

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Server kinds.
const (
	// Switchyard is a core.Host serving the scenario's config.
	Switchyard = "switchyard"
	// NetHTTP is a bare net/http handler.
	NetHTTP = "net/http"
	// Chi is a bare chi router, with hand-written middleware where the
	// scenario has some.
	Chi = "chi"
)

// Design is a row of the published performance table that a scenario is
// held against.
type Design struct {
	// LatencyMS is the published latency, in milliseconds.
	LatencyMS float64
	// Throughput is the published throughput, in requests per second.
	Throughput float64
	// MemoryMB is the published memory, in MB; the peak RSS target.
	MemoryMB float64
}

// Target is what a scenario is accepted against.
type Target struct {
	// MinRatio is the least Switchyard/baseline median throughput ratio; 0
	// means no throughput target.
	MinRatio float64
	// MaxP99Ratio is the largest Switchyard/baseline P99 ratio; 0 means no
	// latency target.
	MaxP99Ratio float64
	// MaxRSSMB is the largest peak RSS of the Switchyard process, in MB; 0
	// means no memory target.
	MaxRSSMB float64
	// MaxCPU is the largest ratio of Switchyard's CPU time per request to
	// the baseline's; 0 means no CPU target.
	MaxCPU float64
}

// Scenario is one comparison of the suite.
type Scenario struct {
	// Name is the short name used on the command line and by `bench serve`.
	Name string
	// Title is the name in the report.
	Title string
	// Baseline is the kind of server Switchyard is compared with; for the
	// reload scenario it is Switchyard itself without reloads.
	Baseline string
	// Header is sent with every request.
	Header http.Header
	// Path returns the path of request number i.
	Path func(i uint64) string
	// Design is the published row the scenario is compared with, if any.
	Design *Design
	// Target is what the scenario must meet.
	Target Target
	// Reload rewrites the config file while Switchyard is under load.
	Reload bool
	// About says in one sentence what is measured.
	About string
}

// Scenario names.
const (
	Fast   = "fast"
	Routed = "routed"
	Cached = "cached"
	// CachedGzip is the gzip-encoded cache hit (acceptance 4).
	CachedGzip = "cachedgzip"
	DB         = "db"
	Full       = "full"
	Proxy      = "proxy"
	Reload     = "reload"
)

// RouteCount is the number of routes of the routed scenario.
const RouteCount = 200

// HotItems is the number of distinct URLs that the 20% of full-stack
// requests which may hit the cache go to.
const HotItems = 50

// DBRows is the number of rows of the SQLite table of the DB path.
const DBRows = 10_000

// All returns the scenarios in the order the suite runs them.
func All() []Scenario {
	gzip := http.Header{"Accept-Encoding": {"gzip"}}
	return []Scenario{
		{
			Name: Fast, Title: "Fast path", Baseline: NetHTTP,
			Path:   func(uint64) string { return "/health" },
			Design: &Design{LatencyMS: 0.5, Throughput: 50_000, MemoryMB: 10},
			Target: Target{MinRatio: 0.95, MaxRSSMB: 10},
			About:  "GET /health on Switchyard against a bare net/http handler writing the same JSON.",
		},
		{
			Name: Routed, Title: "Routed", Baseline: Chi,
			Path:   RoutedPath,
			Target: Target{MinRatio: 0.95},
			About: fmt.Sprintf("a `respond` route of a %d-route config (half static, half with a {id} parameter) "+
				"against bare chi with the same %d routes; requests spread over every route.", RouteCount, RouteCount),
		},
		{
			Name: Cached, Title: "Cached path", Baseline: Chi,
			Path:   func(uint64) string { return "/api/doc" },
			Design: &Design{LatencyMS: 1.2, Throughput: 30_000, MemoryMB: 25},
			Target: Target{MinRatio: 0.85, MaxRSSMB: 25},
			About:  "a cache hit of a 4 KB JSON response (caching plugin) against bare chi serving the same bytes from memory.",
		},
		{
			Name: CachedGzip, Title: "Cached gzip hit", Baseline: Chi, Header: gzip,
			Path:   func(uint64) string { return "/api/doc" },
			Target: Target{MinRatio: 1.0},
			About: "a cache hit of the same 4 KB JSON asked for with Accept-Encoding: gzip, through caching then gzip " +
				"(level 5) on the route, so that the cache holds and serves the gzip bytes, against chi with a " +
				"map+RWMutex cache in front of middleware.Compress(5), holding the same gzip bytes.",
		},
		{
			Name: DB, Title: "DB path", Baseline: Chi,
			Path:   func(i uint64) string { return "/db/items/" + strconv.FormatUint(i*7919%DBRows+1, 10) },
			Design: &Design{LatencyMS: 5, Throughput: 8_000, MemoryMB: 50},
			Target: Target{MaxRSSMB: 50},
			About: fmt.Sprintf("a Go handler reading one row by primary key from an embedded SQLite database "+
				"(modernc.org/sqlite, %d rows, WAL) through database/sql, with the pool sized by "+
				"performance.memory.connection_pool (the baseline sets the same limits by hand).", DBRows),
		},
		{
			Name: Full, Title: "Full stack", Baseline: Chi, Header: gzip,
			Path:   FullPath,
			Design: &Design{LatencyMS: 8, Throughput: 5_000, MemoryMB: 100},
			Target: Target{MinRatio: 1.3, MaxP99Ratio: 1, MaxRSSMB: 100, MaxCPU: 0.7},
			About: "global per-IP rate limit (never refusing) + caching (80% of requests to distinct URLs) + gzip " +
				"(level 5, conditions on both) + metrics, against the same stack written with chi: " +
				"middleware.Compress, go-chi/httprate, a Prometheus middleware and a map+RWMutex cache.",
		},
		{
			Name: Proxy, Title: "Reverse proxy", Baseline: Chi,
			Path:   func(uint64) string { return "/hello" },
			Target: Target{MinRatio: 1.0, MaxCPU: 1.0},
			About: "a `proxy` route with the default connection pool against chi mounting a hand-written " +
				"httputil.ReverseProxy with a tuned http.Transport, both in front of the same kind of bare " +
				"net/http upstream in their own process (its CPU counts in theirs).",
		},
		{
			Name: Reload, Title: "Reload under load", Baseline: Switchyard, Header: gzip,
			Path:   FullPath,
			Target: Target{MaxP99Ratio: 1.5, MaxRSSMB: 100},
			Reload: true,
			About: "the full stack while its config file is rewritten 10 times a second (each write a real change), " +
				"against the same process without rewrites: errors must be 0.",
		},
	}
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	all := All()
	i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return all[i], true
}

// Names lists the scenario names.
func Names() []string {
	var out []string
	for _, s := range All() {
		out = append(out, s.Name)
	}
	return out
}

// routedPattern is the pattern of route k of the routed scenario.
func routedPattern(k int) string {
	if k%2 == 0 {
		return "/api/v1/res" + strconv.Itoa(k)
	}
	return "/api/v1/res" + strconv.Itoa(k) + "/{id}"
}

// RoutedPath spreads requests over every route of the routed scenario.
func RoutedPath(i uint64) string {
	k := int(i * 7 % RouteCount)
	if k%2 == 0 {
		return "/api/v1/res" + strconv.Itoa(k)
	}
	return "/api/v1/res" + strconv.Itoa(k) + "/" + strconv.FormatUint(i%1000, 10)
}

// FullPath is the miss-heavy mix of the full stack: four requests in five go
// to a URL never requested before, one in five to one of HotItems URLs.
func FullPath(i uint64) string {
	if i%5 == 0 {
		return "/api/items/" + strconv.FormatUint(i/5%HotItems, 10)
	}
	return "/api/items/" + strconv.FormatUint(1_000_000+i, 10)
}
