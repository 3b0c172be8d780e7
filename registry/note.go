package registry

import "net/http"

// noter is the writer the host wraps every instrumented request's
// ResponseWriter in.
type noter interface {
	Note(key, value string)
}

// Note reports an outcome of the request w answers, as key and value (the
// caching plugin notes "cache" HIT, MISS, STALE..., ratelimit notes
// "ratelimit" allowed or refused, compression notes "encoding" gzip, zstd
// or br). The host writes the notes on the request's access log line:
//
//	registry.Note(w, "auth", "refused")
//
// Note follows Unwrap() http.ResponseWriter from w to the host's writer,
// so a middleware that wraps w does not hide it; where there is none (a
// test's recorder, a handler served outside the host) it does nothing. A
// request keeps up to four notes; a note under a key already noted
// replaces its value, and a fifth key is dropped. Keys and values should
// be short constants: Note neither copies nor allocates.
func Note(w http.ResponseWriter, key, value string) {
	for w != nil {
		if n, ok := w.(noter); ok {
			n.Note(key, value)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}
