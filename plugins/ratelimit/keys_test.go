package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestPeerIP(t *testing.T) {
	tests := []struct {
		remote string
		want   string // "" for no address
	}{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1"},
		{"@", ""},
		{"", ""},
		{"example.com:80", ""},
	}
	for _, tc := range tests {
		r := &http.Request{RemoteAddr: tc.remote}
		got := peerIP(r)
		if (tc.want == "" && got.IsValid()) || (tc.want != "" && got != netip.MustParseAddr(tc.want)) {
			t.Errorf("peerIP(%q) = %v, want %q", tc.remote, got, tc.want)
		}
	}
}

// FuzzPeerIP checks peerIP against net.SplitHostPort + netip.ParseAddr.
func FuzzPeerIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1:1", "[::1]:80", "::1", "[::1", "]:", "1.2.3.4:", "[1.2.3.4]:5", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := peerIP(&http.Request{RemoteAddr: s})
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			host = s
		}
		want, werr := netip.ParseAddr(host)
		if werr == nil && got != want {
			t.Fatalf("peerIP(%q) = %v, the standard split gives %v", s, got, want)
		}
		if werr != nil && got.IsValid() {
			// peerIP reads more leniently (a bracketed address without a
			// port, an unparsable port), but only ever the host part.
			var hosts []string
			if inner, ok := strings.CutPrefix(s, "["); ok {
				if i := strings.IndexByte(inner, ']'); i >= 0 {
					hosts = append(hosts, inner[:i])
				}
			}
			if i := strings.IndexByte(s, ':'); i >= 0 {
				hosts = append(hosts, s[:i])
			}
			found := false
			for _, h := range hosts {
				if a, err := netip.ParseAddr(h); err == nil && a == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("peerIP(%q) = %v, which is not its host part", s, got)
			}
		}
	})
}

func TestKeyRender(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		key  bucketKey
		want string
	}{
		{bucketKey{kind: kindIP, ip: netip.MustParseAddr("192.0.2.1")}, "ip:192.0.2.1"},
		{bucketKey{kind: kindIP, ip: netip.MustParseAddr("2001:db8::")}, "ip:2001:db8::/64"},
		{bucketKey{kind: kindAnonIP, ip: netip.MustParseAddr("192.0.2.1")}, "anon:192.0.2.1"},
		{bucketKey{kind: kindHeader, s: "alice"}, "h:2bd806c97f0e00af1a1fc3328fa763a9"},
		{bucketKey{kind: kindRoute, s: "/api/{id}"}, "route:/api/{id}"},
		{bucketKey{kind: kindExpr, s: "t1"}, "x:t1"},
		{bucketKey{kind: kindPeer, s: "@"}, "peer:@"},
		{bucketKey{kind: kindExpr, s: long}, "x:sha256:"},
	}
	for _, tc := range tests {
		got := tc.key.render(64)
		if !strings.HasPrefix(got, tc.want) || (tc.key.s != long && got != tc.want) {
			t.Errorf("render = %q, want %q", got, tc.want)
		}
		if len(got) > maxKeyBytes+16 {
			t.Errorf("render length %d", len(got))
		}
	}
}

// Keys of different kinds never share a bucket, even with equal text.
func TestKeyKindsDistinct(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	keys := []bucketKey{
		{kind: kindIP, ip: a}, {kind: kindAnonIP, ip: a},
		{kind: kindHeader, s: "192.0.2.1"}, {kind: kindExpr, s: "192.0.2.1"},
		{kind: kindRoute, s: "192.0.2.1"}, {kind: kindPeer, s: "192.0.2.1"},
	}
	seen := map[uint64]int{}
	for i, k := range keys {
		h := k.hash()
		if j, dup := seen[h]; dup {
			t.Fatalf("keys %d and %d share hash %x", j, i, h)
		}
		seen[h] = i
	}
}
