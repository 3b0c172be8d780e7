// Package devcert makes certificates for local development with Go's own
// crypto, without the network: a local certificate authority and a
// certificate for localhost, 127.0.0.1 and ::1 that it signed. A client that
// trusts the authority's file (curl --cacert) reaches https://localhost.
//
// Tests use [NewAuthority] and [Authority.Issue] to make pairs of any
// validity.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Hosts are the names the development certificate is valid for.
var Hosts = []string{"localhost", "127.0.0.1", "::1"}

// Authority is a certificate authority that signs certificates.
type Authority struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert, PEM-encoded: the file a client trusts.
	PEM []byte
}

// NewAuthority makes a self-signed authority valid for ten years.
func NewAuthority(name string) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Switchyard development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}, nil
}

// Issue makes a server (and client) certificate for hosts (DNS names or IP
// addresses) valid from notBefore to notAfter, and returns it and its key
// in PEM.
func (a *Authority) Issue(hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"Switchyard development"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, &key.PublicKey, a.Key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", kb), nil
}

// Files are the development certificate's files.
type Files struct {
	// CA is the authority's certificate: the file clients trust.
	CA string
	// Cert and Key are the server's pair.
	Cert, Key string
}

// Dir returns the directory Ensure keeps its files in by default: the
// user's cache directory, under switchyard/devcert.
func Dir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "switchyard", "devcert"), nil
}

// Ensure returns the development certificate's files in dir, making them
// when they are missing, unreadable or expire within a week. The server's
// certificate lasts 90 days; the authority ten years. The key files are
// readable by the user alone.
func Ensure(dir string) (Files, error) {
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if valid(f, time.Now().Add(7*24*time.Hour)) {
		return f, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	ca, err := NewAuthority("Switchyard development CA")
	if err != nil {
		return f, err
	}
	now := time.Now()
	certPEM, keyPEM, err := ca.Issue(Hosts, now.Add(-time.Hour), now.AddDate(0, 0, 90))
	if err != nil {
		return f, err
	}
	for _, w := range []struct {
		name string
		data []byte
	}{{f.CA, ca.PEM}, {f.Key, keyPEM}, {f.Cert, certPEM}} {
		if err := writeFile(w.name, w.data); err != nil {
			return f, err
		}
	}
	return f, nil
}

// valid reports whether f holds a pair that the CA verifies for every host
// and that is still valid at until.
func valid(f Files, until time.Time) bool {
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return false
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	for _, h := range Hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: until}); err != nil {
			return false
		}
	}
	return true
}

// writeFile replaces name atomically, readable by the user alone.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".devcert-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("devcert: %w", err)
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("devcert: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return n
}
