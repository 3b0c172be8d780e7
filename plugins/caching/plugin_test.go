package caching

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     map[string]any
		wantErr []string
	}{
		{name: "defaults", cfg: nil},
		{name: "all keys", cfg: map[string]any{
			"enabled": true, "ttl": "10m", "max_size": "128MB", "max_object_size": "2MiB",
			"store_set_cookie": true, "unkeyed_headers": []any{"X-A"}, "stale_while_revalidate": "30s",
			"stale_if_error": "1h", "store": "redis",
			"redis": map[string]any{"addr": "127.0.0.1:6379", "password": "pw", "db": 2, "prefix": "p:", "timeout": "20ms"},
		}},
		{name: "unknown key", cfg: map[string]any{"max_sise": "1MB"}, wantErr: []string{"plugins.c.max_sise: unknown key"}},
		{name: "wrong type", cfg: map[string]any{"ttl": true}, wantErr: []string{"plugins.c.ttl"}},
		{name: "bad values", cfg: map[string]any{
			"ttl": "0s", "max_size": 0, "stale_if_error": "-1s", "stale_while_revalidate": "-1s",
			"unkeyed_headers": []any{"bad header"}, "store": "disk",
			"redis": map[string]any{"db": -1, "timeout": "0s"},
		}, wantErr: []string{"ttl: must be > 0", "max_size: must be > 0", "stale_if_error: must not be negative",
			"stale_while_revalidate: must not be negative", `unkeyed_headers[0]: "bad header"`, `store: "disk"`,
			"redis.db: must not be negative", "redis.timeout: must be > 0"}},
		{name: "object larger than cache", cfg: map[string]any{"max_size": "1MB", "max_object_size": "2MB"},
			wantErr: []string{"max_object_size: 2000000 is larger than max_size 1000000"}},
		{name: "max_object_size follows a small max_size", cfg: map[string]any{"max_size": "512KB"}},
		{name: "redis without addr", cfg: map[string]any{"store": "redis"}, wantErr: []string{"redis.addr: required with store: redis"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := instances.New(instances.Options{})
			set, err := reg.Build(nil, []instances.Spec{{Name: "c", Type: "caching", Config: tc.cfg}}, nil)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				set.Release()
				return
			}
			if err == nil {
				set.Release()
				t.Fatalf("build succeeded, want errors %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	var c Config
	c.SetDefaults(nil)
	if !c.Enabled || c.TTL != DefaultTTL || c.MaxSize != DefaultMaxSize || c.MaxObjectSize != DefaultMaxObjectSize ||
		c.Store != "memory" || c.Redis.Timeout != DefaultRedisTimeout || !reflect.DeepEqual(c.UnkeyedHeaders, DefaultUnkeyedHeaders) {
		t.Errorf("defaults without host defaults: %+v", c)
	}
	c = Config{}
	if err := c.SetDefaults(registry.Section{"enabled": false, "size": 5000, "ttl": "1m"}); err != nil {
		t.Fatal(err)
	}
	if c.Enabled || c.TTL != time.Minute || c.sizeHint != 5000 {
		t.Errorf("defaults from performance.response.caching not used: %+v", c)
	}
	c.UnkeyedHeaders[0] = "X-Changed"
	if DefaultUnkeyedHeaders[0] != "X-Forwarded-Host" {
		t.Error("SetDefaults shares DefaultUnkeyedHeaders with the config")
	}
}

// TestDocsListEveryKey checks that the plugin page documents every config key.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/plugins/caching.md")
	if err != nil {
		t.Fatalf("read the plugin page: %v", err)
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" {
				continue
			}
			if f.Tag.Get("json") != tag {
				t.Errorf("field %s: json tag %q differs from koanf tag %q", f.Name, f.Tag.Get("json"), tag)
			}
			key := prefix + tag
			if !bytes.Contains(doc, []byte("`"+key+"`")) {
				t.Errorf("docs/plugins/caching.md does not document `%s`", key)
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				walk(key+".", f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	for _, s := range []string{"Purge", "/api/cache/purge", "X-Cache", "Cache-Status", "not stored"} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("docs/plugins/caching.md does not mention %q", s)
		}
	}
}

func TestCollapseVaryMismatch(t *testing.T) {
	e := newEnv(t, nil)
	gate := make(chan struct{})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-gate
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, r.Header.Get("Accept-Language"))
	}}
	srv := e.server(up)
	var wg sync.WaitGroup
	got := make([]string, 6)
	langs := []string{"en", "en", "en", "fr", "fr", "de"}
	wg.Go(func() { got[0] = get(t, srv, "GET", "/v", map[string]string{"Accept-Language": "en"}).body })
	wait.For(t, "a leader in flight", func() bool { return e.cache.flights.busy([]byte("GET " + srv.URL + "/v")) })
	for i := 1; i < len(langs); i++ {
		wg.Go(func() { got[i] = get(t, srv, "GET", "/v", map[string]string{"Accept-Language": langs[i]}).body })
	}
	wait.For(t, "the followers to queue behind the leader", func() bool { return followers() == len(langs)-1 })
	close(gate)
	wg.Wait()
	for i, l := range langs {
		if got[i] != l {
			t.Errorf("request %d with Accept-Language %s got %q", i, l, got[i])
		}
	}
	if c := up.calls(); c < 3 || c > 4 {
		// en once; fr and de go on their own (the two fr may collapse).
		t.Errorf("upstream calls = %d, want 3 or 4", c)
	}
}

func TestPanickingUpstreamReleasesFollowers(t *testing.T) {
	e := newEnv(t, nil)
	gate := make(chan struct{})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-gate
			panic("upstream bug")
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	}}
	h := e.cache.Wrap(up)
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/p", nil))
	}()
	wait.For(t, "a leader in flight", func() bool { return e.cache.flights.busy([]byte("GET http://example.com/p")) })
	follower := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/p", nil))
		follower <- rec
	}()
	wait.For(t, "the follower to queue behind the leader", func() bool { return followers() == 1 })
	close(gate)
	if p := <-done; p != "upstream bug" {
		t.Errorf("leader: recovered %v, want the upstream panic", p)
	}
	select {
	case rec := <-follower:
		if rec.Code != 200 || rec.Body.String() != "ok" {
			t.Errorf("follower got %d %q", rec.Code, rec.Body.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower still waiting after the leader panicked")
	}
	if up.calls() != 2 {
		t.Errorf("upstream calls = %d, want 2", up.calls())
	}
}

func TestWriterPassthrough(t *testing.T) {
	e := newEnv(t, nil)
	var flushErr, deadlineErr error
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		rc := http.NewResponseController(w)
		fmt.Fprint(w, "part1")
		flushErr = rc.Flush()
		deadlineErr = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		fmt.Fprint(w, "part2")
	})
	srv := e.server(up)
	r := get(t, srv, "GET", "/f", nil)
	if flushErr != nil || deadlineErr != nil {
		t.Errorf("ResponseController through the cache: Flush %v, SetWriteDeadline %v", flushErr, deadlineErr)
	}
	if r.body != "part1part2" {
		t.Errorf("body %q", r.body)
	}
	if r2 := get(t, srv, "GET", "/f", nil); r2.header.Get("X-Cache") != "HIT" || r2.body != "part1part2" {
		t.Errorf("flushed response not stored whole: %q %q", r2.header.Get("X-Cache"), r2.body)
	}
	// An unsafe method goes through the status writer.
	var postFlush error
	post := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		postFlush = http.NewResponseController(w).Flush()
	})
	e.cache.Wrap(post).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/f", nil))
	if postFlush != nil {
		t.Errorf("Flush through the status writer: %v", postFlush)
	}
}

func TestInformationalPassesThrough(t *testing.T) {
	e := newEnv(t, nil)
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "final")
	})
	srv := e.server(up)
	var hints int
	req, _ := http.NewRequest("GET", srv.URL+"/eh", nil)
	req = req.WithContext(httptraceWithHints(req, &hints))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if hints != 1 || res.StatusCode != 200 {
		t.Errorf("103 seen %d times, final status %d", hints, res.StatusCode)
	}
	if r := get(t, srv, "GET", "/eh", nil); r.header.Get("X-Cache") != "HIT" || r.body != "final" {
		t.Errorf("after 103 the final response was not stored: %q %q", r.header.Get("X-Cache"), r.body)
	}
}

func TestPurgeClearStats(t *testing.T) {
	e := newEnv(t, nil)
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/api/v" {
			w.Header().Set("Vary", "Accept-Language")
		}
		fmt.Fprint(w, r.URL.Path)
	}}
	h := e.cache.Wrap(up)
	do := func(path, lang string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, p := range []string{"/api/a", "/api/b?x=1", "/api/v", "/static/s", "/api/a"} {
		do(p, "en")
	}
	do("/api/v", "fr")
	st := e.cache.Stats()
	if st["hits"] != int64(1) || st["misses"] != int64(5) || st["entries"] != int64(5) || st["bytes"].(int64) <= 0 {
		t.Fatalf("stats = %v", st)
	}
	if got := e.counterValue("hit"); got != 1 {
		t.Errorf("cache_requests_total{result=hit} = %v", got)
	}
	if got := e.bytesGauge(); int64(got) != st["bytes"].(int64) {
		t.Errorf("cache_bytes = %v, stats bytes = %v", got, st["bytes"])
	}
	if n, err := e.cache.Purge("http://example.com/api/b?x=1", ""); n != 1 || err != nil {
		t.Errorf("Purge by key dropped %d URLs, want 1", n)
	}
	if rec := do("/api/b?x=1", ""); rec.Header().Get("X-Cache") != "MISS" {
		t.Errorf("purged key still served: %s", rec.Header().Get("X-Cache"))
	}
	if n, err := e.cache.Purge("", "/api/"); n != 3 || err != nil { // a, b, v (with its two variants)
		t.Errorf("Purge by prefix dropped %d URLs, want 3", n)
	}
	if rec := do("/static/s", ""); rec.Header().Get("X-Cache") != "HIT" {
		t.Errorf("a path outside the prefix was purged")
	}
	if n, err := e.cache.Clear(); n != 1 || err != nil {
		t.Errorf("Clear dropped %d URLs, want 1", n)
	}
	e.cache.mem.rc.Wait()
	if b := e.cache.mem.bytes.Load(); b != 0 || e.bytesGauge() != 0 || e.cache.mem.entries.Load() != 0 {
		t.Errorf("after Clear: bytes %d, gauge %v, entries %d", b, e.bytesGauge(), e.cache.mem.entries.Load())
	}
	if n, err := e.cache.Purge("", ""); n != 0 || err != nil {
		t.Errorf("Purge with neither key nor prefix dropped %d", n)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	e := &entry{
		key: "GET http://h/a\x00v1\x00en", urlKey: "GET http://h/a", path: "/a", varyKey: "\x00en", status: 203,
		header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=60"}, "X-Two": {"a", "b"},
			"Date": {"Fri, 02 Jan 2026 03:04:05 GMT"}},
		body:        []byte("hello"),
		requestTime: time.Unix(100, 5), responseTime: time.Unix(101, 7), ageValue: 3,
		upstreamCS: []string{"up; hit"},
	}
	want := e.headerMapBeforeFinish()
	e.finish(DefaultTargetedFields)
	d, err := decodeValue(encodeEntry(e))
	if err != nil || d.e == nil {
		t.Fatalf("decode: %v", err)
	}
	g := d.e
	if g.key != e.key || g.urlKey != e.urlKey || g.path != e.path || g.varyKey != e.varyKey || g.status != e.status ||
		!reflect.DeepEqual(g.header, want) || string(g.body) != "hello" || !g.requestTime.Equal(e.requestTime) ||
		!g.responseTime.Equal(e.responseTime) || g.ageValue != 3 || !reflect.DeepEqual(g.upstreamCS, e.upstreamCS) {
		t.Errorf("entry round trip:\n got %+v\nwant %+v", g, e)
	}
	g.finish(DefaultTargetedFields)
	if !reflect.DeepEqual(g, e) {
		t.Errorf("finished entries differ:\n got %+v\nwant %+v", g, e)
	}
	rec := &varyRecord{urlKey: "GET http://h/a", path: "/a", fields: []string{"Accept-Language"}, nonce: 42}
	d, err = decodeValue(encodeRecord(rec))
	if err != nil || d.rec == nil || !reflect.DeepEqual(d.rec, rec) {
		t.Errorf("record round trip: %+v, %v", d.rec, err)
	}
	for _, bad := range [][]byte{nil, []byte("SY"), []byte("SY\x01\x09"), encodeEntry(e)[:20], append(encodeEntry(e), 0)} {
		if _, err := decodeValue(bad); !errors.Is(err, errCodec) {
			t.Errorf("decode(%q) = %v, want errCodec", bad, err)
		}
	}
}

// headerMapBeforeFinish copies the header of an unfinished entry.
func (e *entry) headerMapBeforeFinish() http.Header { return e.header.Clone() }

// FuzzDecodeValue checks that any bytes decode without panicking and that a
// value that decodes, once finished, encodes to bytes that decode to the same
// entry.
func FuzzDecodeValue(f *testing.F) {
	seed := &entry{key: "GET http://h/", urlKey: "GET http://h/", status: 200, header: http.Header{"A": {"b"}}, body: []byte("x")}
	seed.finish(DefaultTargetedFields)
	f.Add(encodeEntry(seed))
	f.Add(encodeRecord(&varyRecord{urlKey: "GET http://h/", fields: []string{"Accept"}, nonce: 7}))
	f.Add([]byte("SY\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeValue(b)
		if err != nil {
			return
		}
		if d.rec != nil {
			d2, err := decodeValue(encodeRecord(d.rec))
			if err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("record round trip: %v\n%+v\n%+v", err, d, d2)
			}
			return
		}
		d.e.finish(DefaultTargetedFields)
		d2, err := decodeValue(encodeEntry(d.e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		d2.e.finish(DefaultTargetedFields)
		if !reflect.DeepEqual(d.e, d2.e) {
			t.Fatalf("round trip differs:\n%+v\n%+v", d.e, d2.e)
		}
	})
}

// FuzzURLKey checks that key normalisation never panics and is idempotent: the
// key of the URL a key names is the key itself.
func FuzzURLKey(f *testing.F) {
	for _, s := range []string{"/a?b=2&a=1", "/%61%2f?x=%7e", "/?&&", "/p?z&y=1&z=2", "/a b"} {
		f.Add(s, "Example.com:80")
	}
	f.Fuzz(func(t *testing.T, target, host string) {
		req, err := http.NewRequest("GET", "http://placeholder"+target, nil)
		if err != nil || strings.ContainsAny(host, "/?#@ \x00") {
			return
		}
		req.Host = host
		k := string(appendURLKey(nil, req))
		if !strings.HasPrefix(k, "GET http://") {
			t.Fatalf("key %q", k)
		}
		if n := normalizeKey(k); n != k && strings.HasPrefix(n, "GET http://") && !strings.Contains(k, "%") {
			t.Fatalf("not idempotent: %q -> %q", k, n)
		}
		q := req.URL.RawQuery
		if got, want := string(appendQuery(nil, q)), referenceQuery(q); got != want {
			t.Fatalf("appendQuery(%q) = %q, the plain way gives %q", q, got, want)
		}
	})
}

// referenceQuery normalises a query the plain way: split, drop empty
// parameters, sort stably by name, escape.
func referenceQuery(q string) string {
	var params []string
	for p := range strings.SplitSeq(q, "&") {
		if p != "" {
			params = append(params, p)
		}
	}
	if len(params) == 0 {
		return ""
	}
	if len(params) > maxSortedParams {
		return "?" + string(appendEscaped(nil, q))
	}
	name := func(p string) string { n, _, _ := strings.Cut(p, "="); return n }
	slices.SortStableFunc(params, func(a, b string) int { return strings.Compare(name(a), name(b)) })
	for i, p := range params {
		params[i] = string(appendEscaped(nil, p))
	}
	return "?" + strings.Join(params, "&")
}

func TestSampledClock(t *testing.T) {
	if !isTimeNow(time.Now) || isTimeNow(newFakeClock().Now) || isTimeNow(func() time.Time { return time.Now() }) {
		t.Fatal("isTimeNow misidentifies time.Now")
	}
	reg := instances.New(instances.Options{})
	set, err := reg.Build(nil, []instances.Spec{{Name: "a", Type: "caching"}, {Name: "b", Type: "caching", Config: map[string]any{"enabled": false}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := set.Get("a")
	wallClock.mu.Lock()
	refs := wallClock.refs
	wallClock.mu.Unlock()
	if !a.(*Cache).sampled || refs != 2 {
		t.Fatalf("sampled %v, clock users %d; want the sampled clock with 2 users", a.(*Cache).sampled, refs)
	}
	before, start := a.(*Cache).now(), time.Now()
	wait.For(t, "the sampled clock to move a tick", func() bool { return a.(*Cache).now().Sub(before) >= clockTick })
	if d, real := a.(*Cache).now().Sub(before), time.Since(start); d > real+clockTick {
		t.Errorf("sampled clock moved %v in %v", d, real)
	}
	if d := time.Since(a.(*Cache).now()); d < 0 {
		t.Errorf("sampled clock is %v ahead", -d)
	}
	// It keeps up with the wall clock: within a few ticks of it.
	wait.For(t, "the sampled clock within 10 ticks of the wall clock", func() bool {
		d := time.Since(a.(*Cache).now())
		return d >= 0 && d <= 10*clockTick
	})
	set.Release()
	wallClock.mu.Lock()
	refs = wallClock.refs
	wallClock.mu.Unlock()
	if refs != 0 {
		t.Errorf("clock users after release: %d", refs)
	}
}

func TestSweep(t *testing.T) {
	e := newEnv(t, map[string]any{"ttl": "10s"})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=5")
		fmt.Fprint(w, "x")
	}}
	h := e.cache.Wrap(up)
	for i := range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/old/%d", i), nil))
	}
	e.clock.Advance(11 * time.Second)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/new", nil))
	if n := e.cache.mem.entries.Load(); n != 11 {
		t.Fatalf("entries before the sweep = %d, want 11", n)
	}
	e.cache.mem.sweep(e.clock.Now())
	e.cache.mem.rc.Wait()
	if n := e.cache.mem.entries.Load(); n != 1 {
		t.Errorf("entries after the sweep = %d, want 1 (the expired ones dropped)", n)
	}
}

// TestCloseStopsBackgroundRevalidation checks that Close cancels a background
// revalidation that is waiting on the upstream, and waits for it.
func TestCloseStopsBackgroundRevalidation(t *testing.T) {
	clock := newFakeClock()
	reg := instances.New(instances.Options{})
	set, err := reg.Build(plugintest.NewServices(plugintest.WithNow(clock.Now)), []instances.Spec{{Name: "c", Type: "caching"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := set.Get("c")
	c := inst.(*Cache)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			close(started)
			<-r.Context().Done()
			close(cancelled)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		fmt.Fprint(w, "v1")
	}}
	h := c.Wrap(up)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/bg", nil))
	clock.Advance(2 * time.Second)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/bg", nil))
	if rec.Header().Get("X-Cache") != "STALE" {
		t.Fatalf("X-Cache %q, want STALE", rec.Header().Get("X-Cache"))
	}
	<-started
	done := make(chan struct{})
	go func() { set.Release(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a background revalidation was waiting")
	}
	select {
	case <-cancelled:
	default:
		t.Error("Close returned before the background revalidation ended")
	}
	if c.closeCalls.Load() != 1 {
		t.Errorf("Close called %d times", c.closeCalls.Load())
	}
}
