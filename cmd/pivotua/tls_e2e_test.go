package main

// End-to-end tests of SIP over TLS and of where outbound legs leave from
// (issue 21, items 1 and 8). This machine's SIPp has no TLS, so the SIPp
// parties speak TCP to a relay in the test that carries their bytes over TLS:
// the TLS on the wire is pivotua's on one side and Go's crypto/tls on the
// other, and the SIP is SIPp's. Certificates come from a throwaway CA made
// by the test (testkit.NewCA).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// tapConn keeps every byte that crosses it, both ways: what was on the wire.
type tapConn struct {
	net.Conn
	wire *testkit.SyncBuffer
}

func (c tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	_, _ = c.wire.Write(b[:n])
	return n, err
}

func (c tapConn) Write(b []byte) (int, error) {
	_, _ = c.wire.Write(b)
	return c.Conn.Write(b)
}

// tlsRelay accepts connections on ln and joins each to a connection of its
// own: one side is plain TCP (SIPp), the other TLS, tapped.
type tlsRelay struct {
	ln    net.Listener
	wire  testkit.SyncBuffer // the TLS side's bytes, as they crossed the socket
	plain testkit.SyncBuffer // the same traffic in clear (SIPp's side)
	mu    sync.Mutex
	errs  []string
}

func (r *tlsRelay) addr() string { return r.ln.Addr().String() }

func (r *tlsRelay) failures() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// start serves r.ln: for each connection, pair(c) returns the two
// connections to join (the accepted one possibly wrapped in TLS).
func (r *tlsRelay) start(t *testing.T, pair func(net.Conn) (a, b net.Conn, err error)) *tlsRelay {
	t.Helper()
	ln := r.ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				a, b, err := pair(c)
				if err != nil {
					r.mu.Lock()
					r.errs = append(r.errs, err.Error())
					r.mu.Unlock()
					c.Close()
					return
				}
				go func() { _, _ = io.Copy(a, b); a.Close() }()
				_, _ = io.Copy(b, a)
				b.Close()
			}()
		}
	}()
	return r
}

// relayToTLS listens on plain TCP and carries each connection to dst over
// TLS, checking dst's certificate against conf (what a TLS caller does).
func relayToTLS(t *testing.T, dst string, conf *tls.Config) *tlsRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tlsRelay{ln: ln}
	return r.start(t, func(c net.Conn) (net.Conn, net.Conn, error) {
		raw, err := net.Dial("tcp", dst)
		if err != nil {
			return nil, nil, err
		}
		tc := tls.Client(tapConn{raw, &r.wire}, conf)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("handshake with pivotua: %w", err)
		}
		return tapConn{c, &r.plain}, tc, nil
	})
}

// relayFromTLS listens on TLS with certificate cert and carries each
// connection to dst (SIPp over TCP): a TLS callee.
func relayFromTLS(t *testing.T, cert tls.Certificate, dst func() string) *tlsRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r := &tlsRelay{ln: ln}
	return r.start(t, func(c net.Conn) (net.Conn, net.Conn, error) {
		tc := tls.Server(tapConn{c, &r.wire}, conf)
		if err := tc.Handshake(); err != nil {
			return nil, nil, fmt.Errorf("handshake with pivotua: %w", err)
		}
		plain, err := net.Dial("tcp", dst())
		if err != nil {
			return nil, nil, err
		}
		return tc, tapConn{plain, &r.plain}, nil
	})
}

// relayPeer is a sipPeer that SIPp reaches through a relay.
type relayPeer struct {
	addr string
	p    *pivotuaInstance
}

func (r relayPeer) sipAddr() string { return r.addr }
func (r relayPeer) logs() string    { return r.p.logs() }

// assertCiphered fails unless the relay saw SIP in clear on SIPp's side and
// none of it on the wire.
func assertCiphered(t *testing.T, r *tlsRelay, clear ...string) {
	t.Helper()
	wire, plain := r.wire.Bytes(), r.plain.Bytes()
	if len(wire) == 0 {
		t.Fatal("nothing crossed the TLS side")
	}
	for _, s := range append(clear, "SIP/2.0") {
		if !bytes.Contains(plain, []byte(s)) {
			t.Errorf("SIPp's side never carried %q: the test did not see the traffic it judges", s)
		}
		if bytes.Contains(wire, []byte(s)) {
			t.Errorf("%q is readable on the TLS wire", s)
		}
	}
}

// tlsListenerConfig listens on tls:// (and udp://) port with a certificate for localhost from ca.
func tlsListenerConfig(t *testing.T, ca *testkit.CA, port int) func(*Config) {
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip", "localhost")
	return func(c *Config) {
		c.SIP.Listen = []string{fmt.Sprintf("tls://127.0.0.1:%d", port), fmt.Sprintf("udp://127.0.0.1:%d", port)}
		c.SIP.TLS.CertFile, c.SIP.TLS.KeyFile = certFile, keyFile
	}
}

// TestE2ETLSCallerGetsTheFlowAnswered: a SIPp caller reaches pivotua's
// tls:// listener (through the relay, which checks pivotua's certificate for
// localhost against the test CA), hears the flow, and gets pivotua's BYE back
// over the same TLS connection; neither the relay's tap nor tshark's capture
// of pivotua's port finds SIP in clear.
func TestE2ETLSCallerGetsTheFlowAnswered(t *testing.T) {
	needE2E(t)
	ca := testkit.NewCA(t, "e2e CA")
	hook := newWebhook(t, speechThenTone)
	port := testkit.FreePort(t)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), tlsListenerConfig(t, ca, port))
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	relay := relayToTLS(t, fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	capture := testkit.StartTshark(t, fmt.Sprintf("tcp port %d", port))
	rtp := sipptest.NewCapture(t)
	if err := runSIPp(t, relayPeer{relay.addr(), p}, "uac_call.xml", sipptest.Data{RTPPort: rtp.Port(), Codec: 0}, "-t", "t1"); err != nil {
		t.Fatalf("%v\nrelay: %s", err, relay.failures())
	}
	pcap := capture.Stop()
	assertSpeechThenTone(t, rtp.Audio(t, 0))
	assertCiphered(t, relay, "INVITE sip:3004@", "BYE sip:1000@")
	// tshark's view of the wire: TLS records, and no SIP it can read.
	testkit.AssertTLSOnly(t, pcap, "pivotua's TLS port", 4, "INVITE sip:")
}

// TestE2ETLSListenerRefusesOldTLSAndReloadsOnSIGHUP: TLS 1.1 gets no
// handshake; SIGHUP with a broken certificate file keeps the old certificate
// and logs why; SIGHUP with a new one serves it to the next handshake.
func TestE2ETLSListenerRefusesOldTLSAndReloadsOnSIGHUP(t *testing.T) {
	needE2E(t)
	ca := testkit.NewCA(t, "e2e CA")
	port := testkit.FreePort(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, "sip", "first.example")
	p := startPivotua(t, map[string]any{"module": "hangup"}, func(c *Config) {
		c.SIP.Listen = []string{fmt.Sprintf("tls://127.0.0.1:%d", port)}
		c.SIP.TLS.CertFile, c.SIP.TLS.KeyFile = certFile, keyFile
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	served := func(maxVersion uint16) (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	if _, err := served(tls.VersionTLS11); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake: %v, want a protocol version alert", err)
	}
	if name, err := served(0); err != nil || name != "first.example" {
		t.Fatalf("handshake: %q %v", name, err)
	}
	if err := os.WriteFile(keyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitFor(t, 5*time.Second, "the failed reload logged", func() bool {
		return strings.Contains(p.logs(), "TLS certificate not reloaded") && strings.Contains(p.logs(), keyFile)
	})
	if name, err := served(0); err != nil || name != "first.example" {
		t.Errorf("after a broken reload: %q %v, want the old certificate", name, err)
	}
	ca.Issue(t, dir, "sip", "second.example")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitFor(t, 5*time.Second, "the reload logged", func() bool {
		return strings.Contains(p.logs(), "TLS certificate reloaded")
	})
	if name, err := served(0); err != nil || name != "second.example" {
		t.Errorf("after the reload: %q %v", name, err)
	}
}

// TestE2ETLSDialThroughATLSTrunk: a number dialled through a sips: trunk
// with its own ca_file reaches a SIPp callee behind a TLS relay; the callee
// names the relay (TLS) as Contact and Record-Route, so pivotua's ACK and
// BYE reach it only over TLS. With another CA, or a trunk host the
// certificate does not name, the Dial fails and the log says why.
func TestE2ETLSDialThroughATLSTrunk(t *testing.T) {
	needE2E(t)
	ca := testkit.NewCA(t, "trunk CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "trunk", "localhost")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var uasAddr sync.Mutex
	uasPort := 0
	relay := relayFromTLS(t, cert, func() string {
		uasAddr.Lock()
		defer uasAddr.Unlock()
		return fmt.Sprintf("127.0.0.1:%d", uasPort)
	})
	_, relayPort, _ := net.SplitHostPort(relay.addr())
	other := testkit.NewCA(t, "another CA")

	for _, tc := range []struct {
		name, uri, caFile, want string
	}{
		{"trusted", "sips:localhost:" + relayPort, ca.File, ""},
		{"another CA", "sips:localhost:" + relayPort, other.File, "certificate signed by unknown authority"},
		{"another host", "sip:127.0.0.1:" + relayPort + ";transport=tls", ca.File, "its certificate names localhost, not 127.0.0.1"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			callee := newDialPeer(t, codec.PCMU, 600)
			var uas *sippUAS
			if tc.want == "" {
				r := sipptest.Start(t, sipptest.Call{Scenario: "uas_tls_answer.xml", Args: []string{"-t", "t1"},
					Data: struct {
						RTPPort, Codec   int
						CodecName, Relay string
					}{callee.port(), 0, "PCMU", "localhost:" + relayPort}})
				uas = &sippUAS{Running: r, port: r.Port}
				uasAddr.Lock()
				uasPort = r.Port
				uasAddr.Unlock()
			}
			hook := newTwiMLHook(t, map[string]string{
				"/voice": `<Response><Dial timeLimit="2" action="/after"><Number>+15550001</Number></Dial></Response>`,
				"/after": `<Response><Hangup/></Response>`,
			})
			p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
				port := testkit.FreePort(t)
				tlsCert, tlsKey := ca.Issue(t, t.TempDir(), "sip", "127.0.0.1")
				c.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", port), fmt.Sprintf("tls://127.0.0.1:%d", port)}
				c.SIP.TLS.CertFile, c.SIP.TLS.KeyFile = tlsCert, tlsKey
				c.Trunks = []TrunkConfig{{Name: "tls-gw", URI: tc.uri, CAFile: tc.caFile}}
			})
			caller := newDialPeer(t, codec.PCMU, 1000)
			if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
				t.Fatal(err)
			}
			after := hook.Forms("/after")
			if len(after) != 1 {
				t.Fatalf("action URL got %d requests\n%s", len(after), p.logs())
			}
			status := after[0].Get("DialCallStatus")
			if tc.want != "" {
				if status != "failed" || !strings.Contains(p.logs(), tc.want) {
					t.Errorf("DialCallStatus %q; want failed and the log naming %q:\n%s", status, tc.want, p.logs())
				}
				return
			}
			if status != "completed" {
				t.Fatalf("DialCallStatus %q\n%s\nrelay: %s", status, p.logs(), relay.failures())
			}
			if err := uas.wait(t, 10*time.Second); err != nil {
				t.Fatalf("the callee behind TLS: %v", err)
			}
			if n := testkit.CountTone(callee.heard(0), 1000); n < 40 {
				t.Errorf("the callee heard %d frames of the caller's tone over the 2 s bridge", n)
			}
			assertCiphered(t, relay, "INVITE sips:+15550001@localhost", "ACK sip:bob@localhost", "BYE sip:bob@localhost")
		})
	}
}

// udpCallee is a raw UDP socket as the callee: it answers every INVITE 486
// and keeps each with the address it came from.
type udpCallee struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []udpInvite
}

type udpInvite struct {
	from netip.AddrPort
	msg  string
}

func newUDPCallee(t *testing.T) *udpCallee {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &udpCallee{conn: conn}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			if !strings.HasPrefix(msg, "INVITE ") {
				continue // the ACK of our 486
			}
			c.mu.Lock()
			c.got = append(c.got, udpInvite{from, msg})
			c.mu.Unlock()
			res := "SIP/2.0 486 Busy Here\r\n"
			for _, h := range []string{"Via", "From", "Call-ID", "CSeq"} {
				res += h + ": " + testkit.SIPHeader(msg, h) + "\r\n"
			}
			res += "To: " + testkit.SIPHeader(msg, "To") + ";tag=busy\r\nContent-Length: 0\r\n\r\n"
			_, _ = conn.WriteToUDPAddrPort([]byte(res), from)
		}
	}()
	return c
}

func (c *udpCallee) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *udpCallee) invites() []udpInvite {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]udpInvite(nil), c.got...)
}

// TestE2ETLSOutboundLegsLeaveFromTheirListener (item 8): carriers admit by
// source address, so a Dial's INVITE must come from the listener of its
// transport, here on 127.0.0.2 while the first listener (TCP, where the
// caller comes in) is on 127.0.0.1, with Via and Contact naming it; and a
// trunk's legs come from its source, 127.0.0.3.
func TestE2ETLSOutboundLegsLeaveFromTheirListener(t *testing.T) {
	needE2E(t)
	callee := newUDPCallee(t)
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/trunk" timeout="5"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, callee.port()),
		"/trunk": `<Response><Dial action="/after" timeout="5"><Number>+15550002</Number></Dial></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	port := testkit.FreePort(t)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.SIP.Listen = []string{fmt.Sprintf("tcp://127.0.0.1:%d", port), fmt.Sprintf("udp://127.0.0.2:%d", port),
			fmt.Sprintf("udp://127.0.0.3:%d", port)}
		c.Trunks = []TrunkConfig{{Name: "gw", URI: fmt.Sprintf("sip:127.0.0.1:%d", callee.port()), Source: "127.0.0.3"}}
	})
	caller := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.Port(), Codec: 0}, "-t", "t1"); err != nil {
		t.Fatal(err)
	}
	got := callee.invites()
	if len(got) != 2 {
		t.Fatalf("the callee got %d INVITEs, want 2 (the <Sip> and the trunk's)\n%s", len(got), p.logs())
	}
	for i, want := range []string{"127.0.0.2", "127.0.0.3"} {
		inv := got[i]
		if inv.from != netip.MustParseAddrPort(fmt.Sprintf("%s:%d", want, port)) {
			t.Errorf("INVITE %d came from %s, want the listener %s:%d", i+1, inv.from, want, port)
		}
		if via := testkit.SIPHeader(inv.msg, "Via"); !strings.HasPrefix(via, fmt.Sprintf("SIP/2.0/UDP %s:%d", want, port)) {
			t.Errorf("INVITE %d Via: %s, want %s:%d", i+1, via, want, port)
		}
		if contact := testkit.SIPHeader(inv.msg, "Contact"); !strings.Contains(contact, fmt.Sprintf("@%s:%d", want, port)) {
			t.Errorf("INVITE %d Contact: %s, want %s:%d", i+1, contact, want, port)
		}
	}
}
