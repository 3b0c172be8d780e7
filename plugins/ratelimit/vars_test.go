package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/registry"
)

// TestVarKey: key: var:NAME and a CEL key over request.vars bucket requests
// by the value an earlier link set; without it a request is keyed by its
// address.
func TestVarKey(t *testing.T) {
	for _, key := range []string{"var:user", `has(request.vars.user) ? string(request.vars.user) : ""`} {
		t.Run(key, func(t *testing.T) {
			e := newEnv(t)
			lim := e.limiter("peruser", limit5("key", key)).Wrap(okHandler)
			// setUser plays an auth plugin earlier in the chain.
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u := r.Header.Get("X-User"); u != "" {
					r = registry.SetValue(r, "user", u)
				}
				lim.ServeHTTP(w, r)
			})
			send := func(user, remote string) int {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.RemoteAddr = remote
				if user != "" {
					r.Header.Set("X-User", user)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			for i := range 5 {
				if c := send("alice", "192.0.2."+string(rune('1'+i))+":1"); c != http.StatusOK {
					t.Fatalf("alice %d: %d", i+1, c)
				}
			}
			if c := send("alice", "192.0.2.9:1"); c != http.StatusTooManyRequests {
				t.Fatalf("alice 6th from a new address: %d, want 429", c)
			}
			if c := send("bob", "192.0.2.9:1"); c != http.StatusOK {
				t.Fatalf("bob: %d", c)
			}
			if c := send("", "192.0.2.9:1"); c != http.StatusOK {
				t.Fatalf("no value: %d (keyed by address)", c)
			}
		})
	}
}

func TestVarKeyParse(t *testing.T) {
	if _, err := parseKey("var:"); err == nil {
		t.Fatal("var: without a name parsed")
	}
	ks, err := parseKey("var: user")
	if err != nil || ks.source != sourceVar || ks.name != "user" {
		t.Fatalf("parseKey(var: user) = %+v, %v", ks, err)
	}
}
