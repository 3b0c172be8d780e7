package pool

import (
	"net/http"
)

// busyBody is the JSON body of the answer to a request refused by Handler.
var busyBody = []byte(`{"error":"server busy","detail":"every worker is busy and the queue is full; retry later"}` + "\n")

// Handler returns a middleware-style handler that runs next on a worker of
// w. When every worker is busy and the queue is full it answers at once
// with 503 Service Unavailable, Retry-After: 1 and a short JSON body; it
// never makes the client hang. The same answer goes to a request whose
// context ends while it is queued, and to every request after w is closed.
// A panic in next is raised again on the request's own goroutine, where
// net/http or the host's recovery handles it.
//
// The request goroutine waits while next runs on the worker, so next may use
// the ResponseWriter as usual (including Flush and Hijack through
// http.ResponseController). Handler adds no allocation of its own per
// request. A nil w returns next unchanged.
func Handler(w *Workers, next http.Handler) http.Handler {
	if w == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		t := getTask()
		t.h, t.rw, t.r = next, rw, r
		if err := w.do(r.Context(), t); err != nil {
			h := rw.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Retry-After"] = []string{"1"}
			h["Cache-Control"] = []string{"no-store"}
			rw.WriteHeader(http.StatusServiceUnavailable)
			rw.Write(busyBody) //nolint:errcheck // the client may be gone; nothing to do
		}
	})
}

// Limit returns Handler(w, next) as a func(http.Handler) http.Handler, the
// shape of every chi and Switchyard middleware.
func Limit(w *Workers) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return Handler(w, next) }
}
