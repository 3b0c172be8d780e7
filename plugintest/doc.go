// Package plugintest is the test kit for Switchyard plugin authors. It builds
// an instance of a plugin type from the YAML a user would write, through the
// real registry and with the host services a plugin receives, serves
// requests through it with net/http/httptest, and runs the conformance suite
// that every plugin must pass.
//
// Only tests import plugintest.
//
// # Building an instance
//
// [New] takes the keys of one entry of the `plugins:` block (its `type:` may
// be left out) and fails the test when they do not build; [Build] returns the
// error instead, for testing validation:
//
//	func TestQuota(t *testing.T) {
//		inst := plugintest.New(t, "quota", "limit: 2\nheader: X-Api-Key")
//		req := httptest.NewRequest("GET", "/", nil)
//		req.Header.Set("X-Api-Key", "k1")
//		if rec := inst.Serve(req); rec.Code != 200 { ... }
//	}
//
//	_, err := plugintest.Build(t, "quota", "limit: 0")
//	// err: plugins.quota.limit: must be > 0
//
// The snippet goes through the host's own config loader and the registry,
// so values are decoded, defaulted and validated exactly as in a config file.
// The instance receives (see registry.Context):
//
//   - Metrics on a private Prometheus registry: [Instance.CounterValue],
//     [Instance.GaugeValue], [Instance.HistogramCount] and [Instance.Gather]
//     read them;
//   - Buffers, a real buffer pool, and Workers, a small worker pool;
//   - Now, a fake [Clock] that stands still until [Clock.Advance] moves it
//     ([Instance.Clock]; [WithClock] shares one, [WithRealTime] uses time.Now);
//   - ClientIP, the host part of RemoteAddr ([RemoteIP]; [WithClientIP]
//     replaces it);
//   - CompileCondition and CompileExpr from package conditions, with the
//     named conditions of [WithConditions];
//   - the type's host section (performance.response.TYPE) handed to the
//     config's SetDefaults: empty, or what [WithHostSection] gives;
//   - Logger, whose records [Instance.Logs] returns.
//
// # Serving
//
// [Instance.Serve] sends a request through the plugin to the [WithNext]
// handler (200 "ok" by default) and returns the recorder;
// [Instance.Handler] puts the plugin in front of any handler, for example
// behind an httptest.Server. The plugin is mounted on a chi router at the
// [WithRoute] pattern, as the host mounts chains, and Wrap is called once per
// instance, never per request. Panics are not recovered.
//
// # Reloads
//
// [Instance.Rebuild] builds the instance again from a new snippet, as a
// config reload does: an unchanged config gives back the same instance; a
// changed one builds a new instance that receives the serving one as
// ctx.Previous, new requests go to it, and the old one is closed after its
// last request (a host first keeps it warm for
// performance.middleware.registry.ttl, so that reverting an edit revives
// it; plugintest closes it at once). [Instance.Close], which runs by itself when the test ends,
// closes the serving instance, and the test fails when a Close panicked,
// returned an error or never returned.
//
// # Conformance
//
// [Conformance] runs the checks every plugin must pass in one line:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Conformance(t, "quota", "limit: 1000",
//			plugintest.WithChangedConfig("limit: 2000"))
//	}
//
// It checks panic safety, that response-writer wrappers have Unwrap so
// that http.ResponseController reaches Flush, Hijack and deadlines, that a
// flushed chunk reaches the client at once, context cancellation, streamed
// and large bodies both ways, 1xx responses, HEAD, reuse of an unchanged
// instance across a rebuild, and Close after the last in-flight request. A failure names what
// is wrong, such as "the response writer *mypkg.writer that the plugin hands
// downstream has no Unwrap() http.ResponseWriter method". Conformance takes a
// [TB], which *testing.T satisfies.
//
// A plugin that refuses requests without credentials (an API key check, an
// IP allow-list) gets them from [WithRequest], which changes every request
// the suite sends, and declares its refusal with [WithRefusal], which adds
// the refusal check:
//
//	plugintest.Conformance(t, "apikey", `keys: ["alice:k1"]`,
//		plugintest.WithRequest(func(r *http.Request) { r.Header.Set("X-Api-Key", "k1") }),
//		plugintest.WithRefusal(http.StatusUnauthorized))
//
// A check whose request is refused (401, 403, 407 or 429 without reaching
// the handler) ends at once: skipped when the status is declared, failed
// otherwise.
package plugintest
