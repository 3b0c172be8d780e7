package clientip

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustPrefixes(t testing.TB, cidrs ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(cidrs)
	if err != nil {
		t.Fatalf("ParsePrefixes(%q): %v", cidrs, err)
	}
	return p
}

func request(remote string, xff, fwd []string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	if xff != nil {
		r.Header[HeaderXForwardedFor] = xff
	}
	if fwd != nil {
		r.Header[HeaderForwarded] = fwd
	}
	return r
}

func TestResolverIP(t *testing.T) {
	proxies := []string{"10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48", "::1/128"}
	tests := []struct {
		name    string
		trusted []string // nil: trust nobody
		remote  string
		xff     []string
		fwd     []string
		want    string // "" = invalid Addr
	}{
		// No trust at all.
		{name: "no trust uses peer", remote: "203.0.113.9:5555", want: "203.0.113.9"},
		{name: "no trust ignores xff", remote: "203.0.113.9:5555", xff: []string{"1.2.3.4"}, want: "203.0.113.9"},
		{name: "no trust ignores forwarded", remote: "203.0.113.9:5555", fwd: []string{"for=1.2.3.4"}, want: "203.0.113.9"},

		// Spoofing: headers from an untrusted peer are ignored.
		{name: "untrusted peer xff ignored", trusted: proxies, remote: "203.0.113.9:1", xff: []string{"1.2.3.4"}, want: "203.0.113.9"},
		{name: "untrusted peer claims trusted xff", trusted: proxies, remote: "203.0.113.9:1", xff: []string{"10.0.0.1"}, want: "203.0.113.9"},
		{name: "untrusted peer forwarded ignored", trusted: proxies, remote: "203.0.113.9:1", fwd: []string{"for=1.2.3.4"}, want: "203.0.113.9"},
		{name: "trusted proxy appended, spoof on left", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"evil1, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "spoofed IP on left is skipped", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"6.6.6.6, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "spoof in first header line", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"6.6.6.6", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "client claims to be a trusted proxy", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"10.9.9.9, 198.51.100.7"}, want: "198.51.100.7"},

		// Walking right to left through trusted hops.
		{name: "trusted peer no header", trusted: proxies, remote: "10.0.0.1:1", want: "10.0.0.1"},
		{name: "trusted peer empty header", trusted: proxies, remote: "10.0.0.1:1", xff: []string{" , "}, want: "10.0.0.1"},
		{name: "single hop", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "skips trusted hops", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7, 10.1.1.1, 192.168.1.1"}, want: "198.51.100.7"},
		{name: "all hops trusted gives left-most", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"10.3.3.3, 10.2.2.2"}, want: "10.3.3.3"},
		{name: "multiple lines merged", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"1.1.1.1, 2.2.2.2", "10.4.4.4"}, want: "2.2.2.2"},
		{name: "empty entries skipped", trusted: proxies, remote: "10.0.0.1:1", xff: []string{",198.51.100.7,, 10.1.1.1,"}, want: "198.51.100.7"},
		{name: "bare peer without port", trusted: proxies, remote: "10.0.0.1", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},

		// Junk met while walking the trusted chain is an unknown, untrusted client:
		// never the (trusted, perhaps allow-listed) peer.
		{name: "junk right-most", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7, junk"}, want: "unknown"},
		{name: "junk behind trusted hop", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"junk, 10.1.1.1"}, want: "unknown"},
		{name: "junk left of client is never read", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"junk, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "hostname", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"example.com"}, want: "unknown"},
		{name: "unknown", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"unknown"}, want: "unknown"},
		{name: "out of range octet", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"1.2.3.256"}, want: "unknown"},
		{name: "bad port", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"1.2.3.4:99999"}, want: "unknown"},
		{name: "empty port", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"1.2.3.4:"}, want: "unknown"},
		{name: "zone on IPv4", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"1.2.3.4%eth0"}, want: "unknown"},
		{name: "junk peer", trusted: proxies, remote: "not-an-ip", xff: []string{"1.2.3.4"}, want: ""},
		{name: "empty peer", trusted: proxies, remote: "", want: ""},

		// Ports, brackets, IPv6, zones, mapped addresses.
		{name: "ipv4 with port in xff", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7:4711"}, want: "198.51.100.7"},
		{name: "ipv6 peer untrusted", trusted: proxies, remote: "[2001:db8::1]:443", xff: []string{"1.2.3.4"}, want: "2001:db8::1"},
		{name: "ipv6 peer trusted", trusted: proxies, remote: "[2001:db8:ffff::5]:443", xff: []string{"2001:db8:1::7"}, want: "2001:db8:1::7"},
		{name: "ipv6 loopback proxy", trusted: proxies, remote: "[::1]:8080", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "ipv6 bracketed with port in xff", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"[2001:db8:1::7]:4711"}, want: "2001:db8:1::7"},
		{name: "ipv6 bracketed no port in xff", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"[2001:db8:1::7]"}, want: "2001:db8:1::7"},
		{name: "ipv6 zone stripped in xff", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "zoned peer", trusted: []string{"fe80::/10"}, remote: "[fe80::1%eth0]:80", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "zoned untrusted peer loses zone", trusted: proxies, remote: "[fe80::1%eth0]:80", want: "fe80::1"},
		{name: "mapped peer is trusted", trusted: proxies, remote: "[::ffff:10.0.0.1]:80", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "mapped xff alias of trusted hop skipped", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7, ::ffff:10.2.2.2"}, want: "198.51.100.7"},
		{name: "mapped client folds", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "unclosed bracket", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"[2001:db8::1"}, want: "unknown"},
		{name: "trailing garbage after bracket", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"[2001:db8::1]x"}, want: "unknown"},
		{name: "empty zone", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"fe80::1%"}, want: "unknown"},

		// RFC 7239 Forwarded.
		{name: "forwarded simple", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.7"}, want: "198.51.100.7"},
		{name: "forwarded case and params", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"proto=https;For=198.51.100.7;by=10.0.0.1"}, want: "198.51.100.7"},
		{name: "forwarded quoted v4 port", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{`for="198.51.100.7:4711"`}, want: "198.51.100.7"},
		{name: "forwarded quoted v6", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded walk", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=198.51.100.7", "for=10.1.1.1;proto=http"}, want: "198.51.100.7"},
		{name: "forwarded quoted comma", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.7;ext="a,b,for=6.6.6.6"`}, want: "198.51.100.7"},
		{name: "forwarded unknown", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=unknown"}, want: "unknown"},
		{name: "forwarded obfuscated", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=_hidden"}, want: "unknown"},
		{name: "forwarded element without for", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, proto=https"}, want: "unknown"},
		{name: "forwarded unterminated quote", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{`for="198.51.100.7`}, want: "unknown"},
		{name: "forwarded pair without equals", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for"}, want: "unknown"},
		{name: "forwarded duplicate for", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=1.1.1.1;for=2.2.2.2"}, want: "unknown"},
		{name: "forwarded escape", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{`for="1.1.1.\1"`}, want: "unknown"},
		{name: "forwarded empty elements", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{" , for=198.51.100.7 , "}, want: "198.51.100.7"},
		{name: "forwarded all trusted", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{"for=10.7.7.7, for=10.8.8.8"}, want: "10.7.7.7"},
		{name: "forwarded empty header", trusted: proxies, remote: "10.0.0.1:1", fwd: []string{""}, want: "10.0.0.1"},
		{name: "xff wins over forwarded", trusted: proxies, remote: "10.0.0.1:1", xff: []string{"198.51.100.7"}, fwd: []string{"for=6.6.6.6"}, want: "198.51.100.7"},
		{name: "forwarded many elements", trusted: proxies, remote: "10.0.0.1:1",
			fwd: []string{strings.Repeat("for=6.6.6.6, ", 20) + "for=198.51.100.7" + strings.Repeat(", for=10.0.0.2", 20)}, want: "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Resolver
			if tt.trusted != nil {
				r = New(mustPrefixes(t, tt.trusted...))
			} else {
				r = New(nil)
			}
			got := r.IP(request(tt.remote, tt.xff, tt.fwd))
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("IP = %v, want invalid", got)
				}
				return
			}
			if tt.want == "unknown" {
				if got != Unknown {
					t.Fatalf("IP = %v, want Unknown", got)
				}
				return
			}
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("IP = %v, want %v", got, tt.want)
			}
			if got.Zone() != "" {
				t.Fatalf("IP %v carries a zone", got)
			}
		})
	}
}

func TestNilResolverTrustsNobody(t *testing.T) {
	var r *Resolver
	got := r.IP(request("10.0.0.1:1", []string{"1.2.3.4"}, nil))
	if got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("nil Resolver IP = %v, want the peer", got)
	}
	if r.Trusted() != nil || r.IsTrusted(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("nil Resolver trusts something")
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		badIdx  int
		wantErr string
	}{
		{name: "empty list", in: nil, want: []string{}},
		{name: "cidrs and bare ips", in: []string{"10.0.0.0/8", "::1/128", "192.0.2.7", "::1", " 172.16.0.0/12 "},
			want: []string{"10.0.0.0/8", "::1/128", "192.0.2.7/32", "::1/128", "172.16.0.0/12"}},
		{name: "host bits masked", in: []string{"10.1.2.3/8"}, want: []string{"10.0.0.0/8"}},
		{name: "mapped folds to v4", in: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"}, want: []string{"10.0.0.0/8", "192.0.2.1/32"}},
		{name: "bad length", in: []string{"10.0.0.0/8", "10.0.0.0/33"}, badIdx: 1, wantErr: `entry [1] "10.0.0.0/33"`},
		{name: "hostname", in: []string{"localhost"}, badIdx: 0, wantErr: `entry [0] "localhost": not a valid IP address`},
		{name: "empty entry", in: []string{"::1", ""}, badIdx: 1, wantErr: `entry [1] "": empty`},
		{name: "zone", in: []string{"fe80::1%eth0"}, badIdx: 0, wantErr: "zone"},
		{name: "garbage cidr", in: []string{"1.2.3.4/x"}, badIdx: 0, wantErr: "not a valid CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefixes(tt.in)
			if tt.wantErr != "" {
				var pe *PrefixError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want *PrefixError", err)
				}
				if pe.Index != tt.badIdx || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q (index %d), want index %d containing %q", err, pe.Index, tt.badIdx, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotS := make([]string, len(got))
			for i, p := range got {
				gotS[i] = p.String()
			}
			if !slices.Equal(gotS, tt.want) {
				t.Fatalf("got %v, want %v", gotS, tt.want)
			}
		})
	}
}

func TestTrustedIsACopy(t *testing.T) {
	r := New(mustPrefixes(t, "10.0.0.0/8", "::ffff:192.168.0.0/112"))
	got := r.Trusted()
	if len(got) != 2 || got[1] != netip.MustParsePrefix("192.168.0.0/16") {
		t.Fatalf("Trusted = %v", got)
	}
	got[0] = netip.MustParsePrefix("0.0.0.0/0")
	if r.IsTrusted(netip.MustParseAddr("1.2.3.4")) {
		t.Fatal("changing the result of Trusted changed the Resolver")
	}
}

func TestNewPanicsOnInvalidPrefix(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a zero prefix")
		}
	}()
	New([]netip.Prefix{{}})
}

func TestForwardedFor(t *testing.T) {
	tests := []struct {
		name   string
		in     []string
		want   []string
		wantOK bool
	}{
		{name: "rfc example", in: []string{`for="_gazonk"`}, want: []string{"_gazonk"}, wantOK: true},
		{name: "rfc example 2", in: []string{`For="[2001:db8:cafe::17]:4711"`}, want: []string{"[2001:db8:cafe::17]:4711"}, wantOK: true},
		{name: "rfc example 3", in: []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, want: []string{"192.0.2.60"}, wantOK: true},
		{name: "rfc example 4", in: []string{`for=192.0.2.43, for=198.51.100.17`}, want: []string{"192.0.2.43", "198.51.100.17"}, wantOK: true},
		{name: "missing for", in: []string{`proto=https, for=1.2.3.4`}, want: []string{"", "1.2.3.4"}, wantOK: true},
		{name: "empty", in: []string{"", " ,, "}, want: []string{}, wantOK: true},
		{name: "bad pair", in: []string{"for=1.2.3.4, by"}, want: []string{"1.2.3.4"}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ForwardedFor(nil, tt.in)
			if ok != tt.wantOK || !slices.Equal(got, tt.want) {
				t.Fatalf("ForwardedFor(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestIPAllocations(t *testing.T) {
	r := New(mustPrefixes(t, "10.0.0.0/8", "::1/128"))
	tests := []struct {
		name string
		req  *http.Request
	}{
		{name: "untrusted peer", req: request("203.0.113.9:5555", []string{"1.2.3.4"}, nil)},
		{name: "trusted peer no header", req: request("10.0.0.1:5555", nil, nil)},
		{name: "xff", req: request("10.0.0.1:5555", []string{"198.51.100.7, 10.1.1.1"}, nil)},
		{name: "ipv6 zoned peer", req: request("[fe80::1%eth0]:5555", nil, nil)},
		{name: "forwarded", req: request("[::1]:5555", nil, []string{`for="[2001:db8::1]:80", for=10.0.0.2`})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(200, func() { r.IP(tt.req) }); n != 0 {
				t.Fatalf("IP allocates %v times per call", n)
			}
		})
	}
}

func BenchmarkIP(b *testing.B) {
	r := New(mustPrefixes(b, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128"))
	cases := []struct {
		name string
		req  *http.Request
	}{
		{name: "peer", req: request("203.0.113.9:5555", nil, nil)},
		{name: "xff3", req: request("10.0.0.1:5555", []string{"198.51.100.7, 10.1.1.1, 172.16.0.9"}, nil)},
		{name: "forwarded", req: request("10.0.0.1:5555", nil, []string{"for=198.51.100.7;proto=https, for=10.1.1.1"})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.IP(c.req)
			}
		})
	}
}

// TestUnknownMatchesNothing: the marker for an unparseable hop is a valid
// address (a rate limit keys it) that no prefix contains, not even the
// catch-all ones, and that is never trusted.
func TestUnknownMatchesNothing(t *testing.T) {
	if !Unknown.IsValid() {
		t.Fatal("Unknown is not a valid address")
	}
	all := mustPrefixes(t, "0.0.0.0/0", "::/0", "100::/64", "127.0.0.0/8", "::1/128")
	for _, p := range all {
		if p.Contains(Unknown) || p.Contains(Unknown.Unmap()) {
			t.Errorf("%v contains Unknown", p)
		}
	}
	if New(all).IsTrusted(Unknown) {
		t.Error("Unknown is trusted by a resolver trusting everything")
	}
	p, err := Unknown.Prefix(64)
	if err != nil || p.Addr().IsLoopback() || p.Addr().IsPrivate() {
		t.Errorf("Unknown/64 = %v, %v: want the discard-only 100::/64", p, err)
	}
}
