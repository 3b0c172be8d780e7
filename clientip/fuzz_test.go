package clientip

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// referenceXFF is a plain, allocating reading of the rules, used as an oracle.
func referenceXFF(r *Resolver, header string, peer netip.Addr) netip.Addr {
	var leftmost netip.Addr
	parts := strings.Split(header, ",")
	for _, v := range slices.Backward(parts) {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		ip, ok := ParseAddr(v)
		if !ok {
			return Unknown
		}
		if !r.IsTrusted(ip) {
			return ip
		}
		leftmost = ip
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

func FuzzResolverXFF(f *testing.F) {
	for _, s := range []string{
		"", "1.2.3.4", "evil1, 198.51.100.7", "198.51.100.7, 10.1.1.1", "[2001:db8::1]:80, 10.0.0.3",
		"fe80::1%eth0", "::ffff:10.0.0.1", "1.2.3.4:99999", ",,,", "10.1.1.1, 10.2.2.2", "[::1", "a\tb, c",
	} {
		f.Add(s, "10.0.0.1:443")
		f.Add(s, "[::1]:80")
	}
	r := New(mustPrefixes(f, "10.0.0.0/8", "::1/128", "fe80::/10"))
	f.Fuzz(func(t *testing.T, xff, remote string) {
		req := request(remote, []string{xff}, nil)
		got := r.IP(req)
		peer, ok := ParseAddr(remote)
		if !ok {
			if got.IsValid() {
				t.Fatalf("invalid peer %q gave %v", remote, got)
			}
			return
		}
		if (got.Zone() != "" && got != Unknown) || got.Is4In6() {
			t.Fatalf("result %v is not normalised", got)
		}
		if !r.IsTrusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v: believed the header and got %v", peer, got)
		}
		if r.IsTrusted(peer) {
			if want := referenceXFF(r, xff, peer); got != want {
				t.Fatalf("IP(xff=%q, peer=%v) = %v, reference says %v", xff, peer, got, want)
			}
		}
	})
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`, `for="[2001:db8:cafe::17]:4711"`,
		`for=192.0.2.43, for=198.51.100.17`, `for="_gazonk"`, `for=unknown`, `for="a\"b"`,
		`proto=https`, `ext="x,y";for=1.2.3.4`, `for`, `for="`, ` , ,`, `=x`, `a=b=c`,
	} {
		f.Add(s)
	}
	r := New(mustPrefixes(f, "10.0.0.0/8"))
	f.Fuzz(func(t *testing.T, h string) {
		fors, ok := ForwardedFor(nil, []string{h})
		n := 0
		for _, v := range fors {
			if strings.ContainsAny(v, `"`) && ok {
				t.Fatalf("for value %q keeps a quote", v)
			}
			n++
		}
		if ok && n > strings.Count(h, ",")+1 {
			t.Fatalf("%d elements from %q, which has only %d commas", n, h, strings.Count(h, ","))
		}
		// A header split over two lines at an element boundary reads the same.
		if i := strings.IndexByte(h, ','); ok && i >= 0 && !strings.Contains(h, `"`) {
			two, ok2 := ForwardedFor(nil, []string{h[:i], h[i+1:]})
			if !ok2 || !slices.Equal(two, fors) {
				t.Fatalf("split %q: got %q, %v; want %q", h, two, ok2, fors)
			}
		}
		peer := netip.MustParseAddr("10.0.0.1")
		got := r.IP(request("10.0.0.1:1", nil, []string{h}))
		if !got.IsValid() || (got.Zone() != "" && got != Unknown) {
			t.Fatalf("Forwarded %q gave %v", h, got)
		}
		if !ok && got != Unknown {
			t.Fatalf("malformed Forwarded %q believed: %v, want Unknown", h, got)
		}
		for _, v := range fors {
			if _, vok := ParseAddr(v); !vok && got == peer {
				t.Fatalf("Forwarded %q with the unparseable hop %q gave the proxy's own address", h, v)
			}
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4", "1.2.3.4:80", "[::1]:80", "::1", "[::1]", "fe80::1%eth0", "[fe80::1%25eth0]:1",
		"::ffff:1.2.3.4", "1.2.3.4%x", "", "[", "]:", ":80", "1.2.3.4:65536",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseAddr(s)
		if !ok {
			if a.IsValid() {
				t.Fatalf("ParseAddr(%q) failed but returned %v", s, a)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseAddr(%q) = %v, not normalised", s, a)
		}
		if b, ok := ParseAddr(a.String()); !ok || b != a {
			t.Fatalf("round trip of %v gave %v, %v", a, b, ok)
		}
	})
}
