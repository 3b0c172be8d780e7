package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/devcert"
)

// pair writes a pair for hosts valid from nb to na into dir/name.{crt,key}.
func pair(t *testing.T, ca *devcert.Authority, dir, name string, hosts []string, nb, na time.Time) Pair {
	t.Helper()
	c, k, err := ca.Issue(hosts, nb, na)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"),
		CertKey: name + ".cert_file", KeyKey: name + ".key_file"}
	if err := os.WriteFile(p.CertFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.KeyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	ca, err := devcert.NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Now()
	good := pair(t, ca, dir, "good", devcert.Hosts, now.Add(-time.Hour), now.Add(time.Hour))
	other := pair(t, ca, dir, "other", devcert.Hosts, now.Add(-time.Hour), now.Add(time.Hour))
	expired := pair(t, ca, dir, "expired", devcert.Hosts, now.Add(-2*time.Hour), now.Add(-time.Hour))
	future := pair(t, ca, dir, "future", devcert.Hosts, now.Add(time.Hour), now.Add(2*time.Hour))
	mismatch := Pair{CertFile: good.CertFile, KeyFile: other.KeyFile, CertKey: "m.cert_file", KeyKey: "m.key_file"}
	missing := Pair{CertFile: filepath.Join(dir, "none.crt"), KeyFile: good.KeyFile, CertKey: "n.cert_file", KeyKey: "n.key_file"}
	notPEM := Pair{CertFile: good.CertFile, KeyFile: good.CertFile, CertKey: "p.cert_file", KeyKey: "p.key_file"}
	cases := []struct {
		name      string
		spec      Spec
		key, file string
		msg       string
	}{
		{"mismatched key", Spec{Pairs: []Pair{mismatch}}, "m.key_file", other.KeyFile, "does not match"},
		{"missing file", Spec{Pairs: []Pair{missing}}, "n.cert_file", missing.CertFile, "cannot read"},
		{"expired", Spec{Pairs: []Pair{expired}}, "expired.cert_file", expired.CertFile, "expired"},
		{"not yet valid", Spec{Pairs: []Pair{future}}, "future.cert_file", future.CertFile, "not valid before"},
		{"certificate as key", Spec{Pairs: []Pair{notPEM}}, "p.key_file", good.CertFile, "key"},
		{"client CA not PEM", Spec{Pairs: []Pair{good}, ClientCAFile: good.KeyFile, ClientCAKey: "ca"}, "ca", good.KeyFile, "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.spec, now)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want *Error", err)
			}
			if e.Key != tc.key || e.File != tc.file || !strings.Contains(e.Error(), tc.msg) || !strings.Contains(e.Error(), tc.file) {
				t.Errorf("got key %s file %s: %v; want key %s file %s, %q", e.Key, e.File, e, tc.key, tc.file, tc.msg)
			}
		})
	}
}

// Several pairs are chosen by SNI; a client CA requires client certificates.
func TestSNIAndClientCA(t *testing.T) {
	ca, err := devcert.NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Now()
	a := pair(t, ca, dir, "a", []string{"a.test", "127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour))
	b := pair(t, ca, dir, "b", []string{"b.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Spec{Pairs: []Pair{a, b}, MinVersion: "1.3", ClientCAFile: caFile}, now)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("min version %x, client auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.test", "b.test"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{ServerName: name, RootCAs: roots, Certificates: []tls.Certificate{client}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != name {
			t.Errorf("SNI %s got the certificate for %s", name, got)
		}
		c.Close()
	}
	// Without a client certificate the handshake fails.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
		&tls.Config{ServerName: "a.test", RootCAs: roots})
	if err == nil {
		// TLS 1.3: the server's refusal arrives with the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Error("a client without a certificate was served")
	}
	ln.Close()
	<-done
}
