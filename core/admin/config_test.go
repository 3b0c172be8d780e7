package admin

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/core"
)

// fleetYAML is a config serving body at /v, with the admin API on.
func fleetYAML(body string, extra ...string) string {
	return fmt.Sprintf(`server:
  admin: {enabled: true, prefix: /_sy, allow: [127.0.0.0/8]}
reload: {history: 5}
routes:
  - path: /v
    handler: {respond: {body: %q}}
`, body) + strings.Join(extra, "")
}

func body(h http.Handler, path string) string {
	return admin(h, "GET", path, "", allowedPeer).Body.String()
}

func TestPutConfigFile(t *testing.T) {
	h, path := newAdminHost(t, fleetYAML("one"))
	v1 := h.Snapshot().Version
	if got := admin(h, "GET", "/_sy/api/config", "", allowedPeer).Header().Get("ETag"); got != `"`+v1+`"` {
		t.Errorf("GET api/config ETag %q, want %q", got, v1)
	}

	t.Run("no If-Match", func(t *testing.T) {
		decode[errorJSON](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), allowedPeer), http.StatusPreconditionRequired)
	})
	t.Run("stale If-Match", func(t *testing.T) {
		e := decode[writeError](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), allowedPeer, "If-Match", `"000000000000"`), http.StatusPreconditionFailed)
		if e.Version != v1 {
			t.Errorf("412 names version %q, want %q", e.Version, v1)
		}
	})
	t.Run("outside admin.allow", func(t *testing.T) {
		decode[errorJSON](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), disallowedPeer, "If-Match", `"`+v1+`"`), http.StatusForbidden)
	})
	t.Run("cross-origin", func(t *testing.T) {
		decode[errorJSON](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), allowedPeer, "If-Match", `"`+v1+`"`, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	})
	t.Run("invalid", func(t *testing.T) {
		e := decode[writeError](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two", "bogus: 1\n"), allowedPeer, "If-Match", `"`+v1+`"`), http.StatusUnprocessableEntity)
		if len(e.Errors) == 0 || e.Errors[0].Key != "bogus" {
			t.Errorf("errors %+v, want one for key bogus", e.Errors)
		}
		if b, _ := os.ReadFile(path); string(b) != fleetYAML("one") {
			t.Errorf("an invalid config was written: %s", b)
		}
	})

	res := decode[writeResult](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), allowedPeer, "If-Match", `"`+v1+`"`), http.StatusOK)
	if res.Version == v1 || res.Version != h.Snapshot().Version {
		t.Fatalf("PUT answered version %q; serving %q (was %q)", res.Version, h.Snapshot().Version, v1)
	}
	if got := body(h, "/v"); got != "two" {
		t.Errorf("serving %q after PUT, want two", got)
	}
	if b, _ := os.ReadFile(path); string(b) != fleetYAML("two") {
		t.Errorf("file holds %q", b)
	}
	entries, _ := os.ReadDir(strings.TrimSuffix(path, "switchyard.yaml"))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the config (no temporary left)", len(entries))
	}

	// Two more writes, then a rollback to the first generation, three
	// writes back.
	v := res.Version
	for _, b := range []string{"three", "four"} {
		v = decode[writeResult](t, admin(h, "PUT", "/_sy/api/config", fleetYAML(b), allowedPeer, "If-Match", `"`+v+`"`), http.StatusOK).Version
	}
	gens := decode[generationsView](t, admin(h, "GET", "/_sy/api/generations", "", allowedPeer), http.StatusOK)
	if len(gens.Generations) != 4 || gens.Generations[3].Version != v1 || !gens.Generations[0].Serving {
		t.Fatalf("generations %+v", gens)
	}
	decode[errorJSON](t, admin(h, "POST", "/_sy/api/rollback", `{"version":"nope"}`, allowedPeer), http.StatusNotFound)
	rb := decode[writeResult](t, admin(h, "POST", "/_sy/api/rollback", `{"version":"`+v1+`"}`, allowedPeer), http.StatusOK)
	if rb.Version != v1 || body(h, "/v") != "one" {
		t.Fatalf("rollback answered %q, serving %q", rb.Version, body(h, "/v"))
	}
	gens = decode[generationsView](t, admin(h, "GET", "/_sy/api/generations", "", allowedPeer), http.StatusOK)
	if g := gens.Generations[0]; g.Version != v1 || g.Number != 5 || g.Trigger != "rollback" || g.Source != "file" {
		t.Errorf("newest generation %+v, want number 5, version %s, trigger rollback", g, v1)
	}

	// reload.history: 5 keeps five.
	for _, b := range []string{"five", "six"} {
		v = decode[writeResult](t, admin(h, "PUT", "/_sy/api/config", fleetYAML(b), allowedPeer, "If-Match", `"`+h.Snapshot().Version+`"`), http.StatusOK).Version
	}
	gens = decode[generationsView](t, admin(h, "GET", "/_sy/api/generations", "", allowedPeer), http.StatusOK)
	if len(gens.Generations) != 5 || gens.Generations[0].Version != v {
		t.Errorf("kept %d generations, newest %q; want 5, newest %q", len(gens.Generations), gens.Generations[0].Version, v)
	}
}

// TestPutConfigConcurrentFile: two writers with the same If-Match: exactly
// one wins.
func TestPutConfigConcurrentFile(t *testing.T) {
	h, _ := newAdminHost(t, fleetYAML("one"))
	for round := range 20 {
		v := h.Snapshot().Version
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				codes[i] = admin(h, "PUT", "/_sy/api/config", fleetYAML(fmt.Sprintf("r%d-w%d", round, i)), allowedPeer, "If-Match", `"`+v+`"`).Code
			})
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
			t.Fatalf("round %d: codes %v, want one 200 and one 412", round, codes)
		}
	}
}

func TestPutConfigBytesSourceNotWritable(t *testing.T) {
	h := newBytesHost(t)
	decode[errorJSON](t, admin(h, "PUT", "/_sy/api/config", fleetYAML("two"), allowedPeer, "If-Match", `"`+h.Snapshot().Version+`"`), http.StatusConflict)
}

func newBytesHost(t *testing.T) *core.Host {
	t.Helper()
	h := core.New(core.Options{Logger: quietLogger(), Admin: Handler})
	if err := h.LoadBytes("mem.yaml", []byte(fleetYAML("one")), t.TempDir()); err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}
