package conditions

import (
	"net/netip"
	"testing"
)

// referenceRemoteAddr is the plain form of parseRemoteAddr.
func referenceRemoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func TestParseRemoteAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.10:5555", "192.0.2.10"},
		{"0.0.0.0:0", "0.0.0.0"},
		{"255.255.255.255:65535", "255.255.255.255"},
		{"256.1.1.1:80", ""},
		{"01.2.3.4:80", ""},
		{"1.2.3:80", ""},
		{"1.2.3.4.5:80", ""},
		{"1.2.3.4:65536", ""},
		{"1.2.3.4:", ""},
		{"1.2.3.4:0080", "1.2.3.4"},
		{"1.2.3.4", "1.2.3.4"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:10.0.0.1]:1", "10.0.0.1"},
		{"[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"2001:db8::1", "2001:db8::1"},
		{"pipe", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := parseRemoteAddr(tt.in)
		if s := ipString(got); s != tt.want {
			t.Errorf("parseRemoteAddr(%q) = %q, want %q", tt.in, s, tt.want)
		}
		if ref := referenceRemoteAddr(tt.in); got != ref {
			t.Errorf("parseRemoteAddr(%q) = %v, netip says %v", tt.in, got, ref)
		}
	}
}

func TestHostOnly(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"example.com:8080", "example.com"},
		{"[::1]:8080", "::1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"", ""},
		{"[broken", "[broken"},
	}
	for _, tt := range tests {
		if got := hostOnly(tt.in); got != tt.want {
			t.Errorf("hostOnly(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzRemoteAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.10:5555", "1.2.3.4", "[2001:db8::1]:443", "01.2.3.4:1", "1.2.3.4:99999", "[::ffff:1.2.3.4]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := parseRemoteAddr(s), referenceRemoteAddr(s); got != want {
			t.Fatalf("parseRemoteAddr(%q) = %v, netip says %v", s, got, want)
		}
	})
}
