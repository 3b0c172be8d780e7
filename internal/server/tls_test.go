package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/devcert"
)

func tlsConfig(t *testing.T, ca *devcert.Authority) *tls.Config {
	t.Helper()
	c, k, err := ca.Issue(devcert.Hosts, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}
}

// Turning TLS on starts a generation; a new certificate is swapped in for
// the next handshakes without one; h2c serves HTTP/2 with prior knowledge.
func TestTLSGenerations(t *testing.T) {
	ca, err := devcert.NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	s := New(Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), Logger: quiet()})
	set := Settings{Addr: "127.0.0.1:0", H2C: true}
	if err := s.Start("", set); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	addr := s.Addr().String()

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	get := func(tr *http.Transport, url string) string {
		t.Helper()
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(&http.Transport{Protocols: &h2c}, "http://"+addr+"/"); got != "HTTP/2.0" {
		t.Fatalf("h2c: served %s", got)
	}

	set.H2C, set.TLS = false, tlsConfig(t, ca)
	s.Apply(set, nil)
	if n := s.Generations(); n != 2 {
		t.Errorf("%d generations after TLS was turned on, want 2 (the old one draining)", n)
	}
	served := func() *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Errorf("ALPN chose %q, want h2", p)
		}
		return c.ConnectionState().PeerCertificates[0]
	}
	first := served()
	if got := get(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true},
		"https://"+addr+"/"); got != "HTTP/2.0" {
		t.Errorf("TLS: served %s, want HTTP/2.0", got)
	}

	gens := s.Generations()
	set.TLS = tlsConfig(t, ca)
	s.Apply(set, nil)
	if n := s.Generations(); n > gens {
		t.Errorf("a new certificate started a generation (%d, was %d)", n, gens)
	}
	if second := served(); second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the new certificate is not served to a new handshake")
	}
}
