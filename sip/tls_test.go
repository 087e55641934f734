package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// tlsCallee is a pivotua server with a tls:// listener presenting a
// certificate from ca for names, answering every call and hanging up soon after.
func tlsCallee(t *testing.T, ca *testkit.CA, names ...string) (*Server, chan CallInfo) {
	t.Helper()
	dir := t.TempDir()
	cert, key := ca.Issue(t, dir, "callee", names...)
	seen := make(chan CallInfo, 1)
	s := startTestServer(t, Config{Listen: []string{"tls://127.0.0.1:0"}, TLS: TLSConfig{CertFile: cert, KeyFile: key}},
		func(c *InboundCall) {
			seen <- c.Info()
			if _, err := c.Answer(context.Background(), netip.MustParseAddrPort("127.0.0.1:41000")); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
			_ = c.Hangup(context.Background())
		})
	return s, seen
}

func TestDialOverTLSChecksTheCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "trunk CA")
	roots, err := LoadRootCAs(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	callee, seen := tlsCallee(t, ca, "127.0.0.1")
	caller := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tls://127.0.0.1:0"},
		TLS: func() TLSConfig { c, k := ca.Issue(t, t.TempDir(), "caller", "127.0.0.1"); return TLSConfig{c, k} }()}, func(*InboundCall) {})
	target := fmt.Sprintf("sip:bob@%s;transport=tls", callee.addr("tls"))

	oc, err := caller.Dial(t.Context(), OutboundRequest{Target: target, FromUser: "alice", LocalRTP: testRTP, RootCAs: roots})
	if err != nil {
		t.Fatalf("dial over TLS with the trunk's CA: %v", err)
	}
	if info := <-seen; info.Transport != "tls" {
		t.Errorf("callee saw the INVITE over %q", info.Transport)
	}
	// The callee's BYE comes back over TLS and ends the leg.
	select {
	case <-oc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the callee's BYE did not end the TLS leg")
	}

	// The system roots do not know the test CA: the same call fails, saying why.
	_, err = caller.Dial(t.Context(), OutboundRequest{Target: target, FromUser: "alice", LocalRTP: testRTP})
	if !errors.Is(err, ErrTLSPeer) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("dial with the wrong roots: %v, want %v naming the unknown authority", err, ErrTLSPeer)
	}

	// A certificate from the right CA for another name is refused too.
	other, _ := tlsCallee(t, ca, "other.example")
	_, err = caller.Dial(t.Context(), OutboundRequest{Target: fmt.Sprintf("sip:bob@%s;transport=tls", other.addr("tls")),
		FromUser: "alice", LocalRTP: testRTP, RootCAs: roots})
	if !errors.Is(err, ErrTLSPeer) || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("dial to a host the certificate does not name: %v", err)
	}
}

func TestTLSListenerRefusesOldTLSAndReloadsItsCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "listener CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, "sip", "first.example")
	s := startTestServer(t, Config{Listen: []string{"tls://127.0.0.1:0"}, TLS: TLSConfig{certFile, keyFile}}, func(*InboundCall) {})
	addr := s.addr("tls").String()
	roots := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.File)
	roots.AppendCertsFromPEM(pem)
	served := func(max uint16) (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "x", InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: max})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	if _, err := served(tls.VersionTLS11); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake: %v, want a protocol version alert", err)
	}
	if name, err := served(tls.VersionTLS12); err != nil || name != "first.example" {
		t.Fatalf("TLS 1.2 handshake: %q %v", name, err)
	}

	// A broken file on SIGHUP: the error names it, the old certificate stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); !errors.Is(err, ErrTLSCertificate) || !strings.Contains(err.Error(), certFile) {
		t.Errorf("reload of a broken file: %v", err)
	}
	if name, err := served(0); err != nil || name != "first.example" {
		t.Errorf("after a failed reload: %q %v", name, err)
	}
	ca.Issue(t, dir, "sip", "second.example")
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if name, err := served(0); err != nil || name != "second.example" {
		t.Errorf("after the reload: %q %v", name, err)
	}
}

// Peers that connect and never finish the handshake hold their own sockets
// only: over the per-source bound they are cut at once, and another source's
// handshake goes through meanwhile.
func TestTLSListenerStalledPeersCostOnlyThemselves(t *testing.T) {
	ca := testkit.NewCA(t, "listener CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip", "127.0.0.1")
	s := startTestServer(t, Config{Listen: []string{"tls://0.0.0.0:0"}, TLS: TLSConfig{certFile, keyFile}}, func(*InboundCall) {})
	port := s.addr("tls").Port()
	stall := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	for i := range maxTLSConnsPerSource {
		c, err := stall.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("stalled connection %d: %v", i, err)
		}
		defer c.Close()
	}
	// One more from the same source is closed without a handshake.
	extra, err := stall.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection over the per-source bound: read %v, want it closed", err)
	}
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("another source's handshake while %d stall: %v", maxTLSConnsPerSource, err)
	}
	c.Close()
}

// A TCP leg leaves from its listener's address, not the one the kernel picks
// for the destination (127.0.0.1 on loopback): carriers admit by source.
func TestDialOverTCPLeavesFromItsListener(t *testing.T) {
	seen := make(chan CallInfo, 1)
	callee := startTestServer(t, Config{Listen: []string{"tcp://127.0.0.1:0"}}, func(c *InboundCall) {
		seen <- c.Info()
		_ = c.Reject(486, "Busy Here")
	})
	caller := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.2:0"}}, func(*InboundCall) {})
	_, err := caller.Dial(t.Context(), OutboundRequest{Target: fmt.Sprintf("sip:bob@%s;transport=tcp", callee.addr("tcp")),
		FromUser: "alice", LocalRTP: testRTP})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("dial: %v, want busy", err)
	}
	info := <-seen
	if host, _, _ := net.SplitHostPort(info.Source); host != "127.0.0.2" || info.FromHost != "127.0.0.2" {
		t.Errorf("the INVITE came from %s, From host %s; want the TCP listener's 127.0.0.2", info.Source, info.FromHost)
	}
}
