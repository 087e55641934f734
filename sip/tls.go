package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// TLSConfig is the certificate a tls:// listener presents (sip.tls in the config).
type TLSConfig struct {
	CertFile, KeyFile string
}

// TLSHandshakeTimeout bounds one TLS handshake, ours or a peer's: a peer that
// never finishes it holds one socket that long, and nothing else.
const TLSHandshakeTimeout = 10 * time.Second

// certStore holds the listener's certificate; ReloadTLS swaps it, and each new
// handshake reads the current one (connections already up keep theirs).
type certStore struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// load reads the pair from disk and, only if it is usable, makes it current.
func (c *certStore) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("%w: cert_file %s, key_file %s: %v", ErrTLSCertificate, c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// serverConfig is every tls:// listener's configuration. RFC 8996 deprecates
// TLS 1.0 and 1.1: a peer offering nothing newer fails the handshake.
func (c *certStore) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}

// ReloadTLS reads sip.tls.cert_file and key_file again (SIGHUP) for the
// handshakes to come. On error the certificate in use stays, and the error
// says which files and why.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.load()
}

// LoadRootCAs reads a PEM file of CA certificates (trunks[].ca_file): the
// roots a trunk's TLS certificate must chain to instead of the system's.
func LoadRootCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in " + file)
	}
	return pool, nil
}
