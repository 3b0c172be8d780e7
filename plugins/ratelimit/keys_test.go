package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
)

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
		{kind: kindRoute, s: "192.0.2.1"}, {kind: kindPeer, s: "192.0.2.1"}, {kind: kindVar, s: "192.0.2.1"},
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
