package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/internal/reqvars"
	"github.com/switchyard/switchyard/registry"
)

// keyKind tells apart the bucket keys of different origins, so that a header
// value can never collide with an address.
type keyKind uint8

const (
	kindIP     keyKind = iota // the client address (IPv6 grouped by prefix)
	kindAnonIP                // the client address of a request the header or expression did not key
	kindPeer                  // RemoteAddr as given, when it holds no address
	kindHeader                // a header value
	kindRoute                 // a route pattern (or the path, outside a router)
	kindExpr                  // an expression's result
	kindVar                   // a request value set by an earlier link
	numKinds
)

var kindPrefix = [numKinds]string{
	kindIP:     "ip:",
	kindAnonIP: "anon:",
	kindPeer:   "peer:",
	kindHeader: "h:",
	kindRoute:  "route:",
	kindExpr:   "x:",
	kindVar:    "v:",
}

// seeds are the hash seeds of the memory store's key hashes, one per kind.
// They are per process, so a limiter rebuilt by a reload finds the keys of
// the one it replaces.
var seeds = func() (s [numKinds]maphash.Seed) {
	for i := range s {
		s[i] = maphash.MakeSeed()
	}
	return s
}()

// bucketKey identifies a bucket. It lives on the stack of a request: the
// memory store reduces it to a 64-bit hash, the Redis store renders it.
type bucketKey struct {
	kind keyKind
	ip   netip.Addr
	s    string
}

// hash is the memory store's identity of the key: a seeded 64-bit hash, so
// that the store keeps no key bytes. Two keys would share a bucket only on a
// 64-bit collision, which a client cannot aim for without the seed.
func (k *bucketKey) hash() uint64 {
	switch k.kind {
	case kindIP, kindAnonIP:
		return maphash.Comparable(seeds[k.kind], k.ip.As16())
	}
	return maphash.String(seeds[k.kind], k.s)
}

// maxKeyBytes bounds the key text sent to Redis; a longer value is replaced
// by its SHA-256.
const maxKeyBytes = 128

// render spells the key for Redis and logs, such as "ip:192.0.2.1",
// "ip:2001:db8::/64" or "route:/api/{id}"; v6bits is the IPv6 grouping.
// A header value may be a secret (an API key, a token), so it is spelled as
// the first 128 bits of its SHA-256 and never appears in Redis or in logs.
func (k *bucketKey) render(v6bits int) string {
	var v string
	switch k.kind {
	case kindIP, kindAnonIP:
		v = k.ip.String()
		if k.ip.Is6() {
			v += "/" + itoa(int64(v6bits))
		}
	case kindHeader:
		sum := sha256.Sum256([]byte(k.s))
		v = hex.EncodeToString(sum[:16])
	default:
		v = k.s
		if len(v) > maxKeyBytes {
			sum := sha256.Sum256([]byte(v))
			v = "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	return kindPrefix[k.kind] + v
}

// keyer turns a request into its bucket key.
type keyer struct {
	spec     keySpec
	v6bits   int
	clientIP func(*http.Request) netip.Addr
	expr     func(*http.Request) string
}

func (kr *keyer) key(r *http.Request) bucketKey {
	switch kr.spec.source {
	case sourceHeader:
		if v := r.Header[kr.spec.header]; len(v) > 0 && v[0] != "" {
			return bucketKey{kind: kindHeader, s: v[0]}
		}
		return kr.ipKey(r, kindAnonIP)
	case sourceRoute:
		if rc := chi.RouteContext(r.Context()); rc != nil {
			if p := rc.RoutePattern(); p != "" {
				return bucketKey{kind: kindRoute, s: p}
			}
		}
		return bucketKey{kind: kindRoute, s: r.URL.Path}
	case sourceVar:
		if v, ok := registry.Value(r, kr.spec.name); ok {
			if s := reqvars.Text(v); s != "" {
				return bucketKey{kind: kindVar, s: s}
			}
		}
		return kr.ipKey(r, kindAnonIP)
	case sourceExpr:
		if v := kr.expr(r); v != "" {
			return bucketKey{kind: kindExpr, s: v}
		}
		return kr.ipKey(r, kindAnonIP)
	}
	return kr.ipKey(r, kindIP)
}

// ipKey keys r by its client address: IPv4 as is, IPv6 by its prefix.
func (kr *keyer) ipKey(r *http.Request, kind keyKind) bucketKey {
	a := kr.clientIP(r)
	if !a.IsValid() {
		return bucketKey{kind: kindPeer, s: r.RemoteAddr}
	}
	a = a.Unmap()
	if a.Is6() {
		p, err := a.Prefix(kr.v6bits)
		if err == nil {
			a = p.Addr()
		}
	}
	return bucketKey{kind: kind, ip: a}
}

func itoa(n int64) string {
	var b [20]byte
	return string(appendInt(b[:0], n))
}
