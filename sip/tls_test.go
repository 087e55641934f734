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

// tlsPeer is a bare TLS SIP endpoint: it hands each message it reads to reply
// and writes back what reply returns (nothing when "").
func tlsPeer(t *testing.T, certFile, keyFile string, reply func(msg string, from net.Addr) string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 65536)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if out := reply(string(buf[:n]), c.RemoteAddr()); out != "" {
						_, _ = c.Write([]byte(out))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// sipReply answers req with code, copying the transaction's headers.
func sipReply(req, code, extra, body string) string {
	h := func(name string) string { return testkit.SIPHeader(req, name) }
	to := h("To")
	if !strings.Contains(to, "tag=") {
		to += ";tag=peer"
	}
	return fmt.Sprintf("SIP/2.0 %s\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n%sContent-Length: %d\r\n\r\n%s",
		code, h("Via"), h("From"), to, h("Call-ID"), h("CSeq"), extra, len(body), body)
}

// The callee's 2xx names another TLS address as Contact: the ACK goes there
// over TLS from the leg's listener, checked against the leg's roots, not the
// system's (which do not know the test CA, so sipgo's own connection failed).
func TestDialOverTLSNextHopKeepsTheLegsTrustAndSource(t *testing.T) {
	ca := testkit.NewCA(t, "trunk CA")
	roots, _ := LoadRootCAs(ca.File)
	certFile, keyFile := ca.Issue(t, t.TempDir(), "peer", "127.0.0.1")
	acked := make(chan string, 1)
	hopAddr := tlsPeer(t, certFile, keyFile, func(msg string, from net.Addr) string {
		switch {
		case strings.HasPrefix(msg, "ACK "):
			acked <- from.String()
		case strings.HasPrefix(msg, "BYE "):
			return sipReply(msg, "200 OK", "", "")
		}
		return ""
	})
	sdp := "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	target := tlsPeer(t, certFile, keyFile, func(msg string, _ net.Addr) string {
		if !strings.HasPrefix(msg, "INVITE ") {
			return ""
		}
		return sipReply(msg, "200 OK", fmt.Sprintf("Contact: <sip:bob@%s;transport=tls>\r\nContent-Type: application/sdp\r\n", hopAddr), sdp)
	})
	ownCert, ownKey := ca.Issue(t, t.TempDir(), "caller", "127.0.0.2")
	caller := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tls://127.0.0.2:0"}, TLS: TLSConfig{ownCert, ownKey}}, func(*InboundCall) {})
	oc, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@" + target + ";transport=tls", FromUser: "alice",
		LocalRTP: testRTP, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case from := <-acked:
		if host, _, _ := net.SplitHostPort(from); host != "127.0.0.2" {
			t.Errorf("the ACK came from %s, want the TLS listener's 127.0.0.2", from)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no ACK reached the 2xx's Contact over TLS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = oc.Hangup(ctx)
}

// A sips: domain without port or address is looked up as _sips._tcp SRV
// (RFC 3263 §4.2), and the certificate must name the domain dialled
// (RFC 5922 §4), not the SRV target.
func TestDialSIPSFollowsSIPSSRV(t *testing.T) {
	ca := testkit.NewCA(t, "trunk CA")
	roots, _ := LoadRootCAs(ca.File)
	callee, seen := tlsCallee(t, ca, "trunk.test")
	caller := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tls://127.0.0.1:0"},
		TLS: func() TLSConfig { c, k := ca.Issue(t, t.TempDir(), "caller", "127.0.0.1"); return TLSConfig{c, k} }()}, func(*InboundCall) {})
	caller.dns = fakeDNS{
		hosts: map[string][]netip.Addr{"gw1.trunk.test": {netip.MustParseAddr("127.0.0.1")}},
		srv:   map[string][]*net.SRV{"_sips._tcp.trunk.test": {{Target: "gw1.trunk.test.", Port: callee.addr("tls").Port()}}},
	}
	oc, err := caller.Dial(t.Context(), OutboundRequest{Target: "sips:bob@trunk.test", FromUser: "alice", LocalRTP: testRTP, RootCAs: roots})
	if err != nil {
		t.Fatalf("dial sips:bob@trunk.test: %v", err)
	}
	if info := <-seen; info.Transport != "tls" {
		t.Errorf("callee saw the INVITE over %q", info.Transport)
	}
	<-oc.Done()
}
