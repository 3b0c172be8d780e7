// Package tlsconf turns certificate and key files into a *tls.Config,
// checking each pair the way a reload checks a config: a file that cannot be
// read, a key that does not match its certificate or a certificate outside
// its validity period is an error that names the file and the config key.
//
// The package only reads files; serving the result, and swapping it on a
// reload, is the job of package server.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Pair is one certificate and its key, with the config keys that named them.
type Pair struct {
	CertFile, KeyFile string
	CertKey, KeyKey   string
}

// Spec is what a configuration says about TLS.
type Spec struct {
	// Pairs are the certificates; the first is the default when no SNI name
	// matches.
	Pairs []Pair
	// MinVersion is "1.2" (also the default when empty) or "1.3".
	MinVersion string
	// ClientCAFile, when set, requires client certificates it signed.
	ClientCAFile, ClientCAKey string
}

// Error is a problem with one file, placed at the config key that named it.
type Error struct {
	Key  string
	File string
	Err  error
}

func (e *Error) Error() string { return e.File + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// NextProtos are the protocols offered through ALPN: HTTP/2 first.
var NextProtos = []string{"h2", "http/1.1"}

// Load reads the files of s and returns the server's TLS configuration.
// now is the time certificates must be valid at. The error joins one *Error
// per bad file.
func Load(s Spec, now time.Time) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: NextProtos}
	switch s.MinVersion {
	case "", "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, &Error{Key: "server.tls.min_version", File: "", Err: fmt.Errorf("unknown TLS version %q", s.MinVersion)}
	}
	var errs []error
	for _, p := range s.Pairs {
		c, err := loadPair(p, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Certificates = append(cfg.Certificates, c)
	}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile)
		if err != nil {
			errs = append(errs, &Error{Key: s.ClientCAKey, File: s.ClientCAFile, Err: err})
		} else {
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// loadPair reads and checks one pair. tls.Config picks among several
// certificates by SNI from their Leaf, which LoadX509KeyPair fills in.
func loadPair(p Pair, now time.Time) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		return tls.Certificate{}, &Error{Key: p.CertKey, File: p.CertFile, Err: unwrapPath(err)}
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return tls.Certificate{}, &Error{Key: p.KeyKey, File: p.KeyFile, Err: unwrapPath(err)}
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Both files read: the message says which one is wrong
		// ("private key does not match public key", "failed to find any
		// PEM data in key input").
		key, file := p.CertKey, p.CertFile
		if isKeyProblem(err) {
			key, file = p.KeyKey, p.KeyFile
		}
		return tls.Certificate{}, &Error{Key: key, File: file, Err: err}
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return tls.Certificate{}, &Error{Key: p.CertKey, File: p.CertFile, Err: err}
		}
		c.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, &Error{Key: p.CertKey, File: p.CertFile,
			Err: fmt.Errorf("certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, &Error{Key: p.CertKey, File: p.CertFile,
			Err: fmt.Errorf("certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return c, nil
}

func isKeyProblem(err error) bool {
	msg := err.Error()
	for _, s := range []string{"key input", "private key", "does not match", "unknown key"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, unwrapPath(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// unwrapPath drops the file name an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read: %w", pe.Err)
	}
	return err
}
