package main

// Registration over TLS, against Kamailio as the carrier (testdata/kamailio/registrar.cfg with
// WITH_TLS, Debian package kamailio-tls-modules): pivotua registers over TLS from its tls://
// listener's address, checking the registrar's certificate against the trunk's ca_file; the SIPp
// caller reaches Kamailio over UDP (SIPp has no TLS here) and Kamailio relays the call to pivotua,
// after its location lookup, over the TLS connection pivotua's REGISTER came on. Certificates come
// from a throwaway CA made by the test (testkit.CA).

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// pivotuaTLSIP is the address of pivotua's tls:// listener in these tests: not the loopback
// address the kernel would pick on its own, so that the registrar seeing it as the source proves
// the connection left from the listener's address.
const pivotuaTLSIP = "127.0.0.3"

// tlsCarrier is the test registrar listening on UDP (for SIPp) and on TLS (for pivotua).
type tlsCarrier struct {
	*carrier
	tlsAddr string
	tlsConf string // Kamailio's tls.cfg
	port    int    // tlsAddr's
}

// startTLSCarrier runs the registrar with a server certificate from ca for names.
func startTLSCarrier(t *testing.T, ca *testkit.CA, names ...string) *tlsCarrier {
	t.Helper()
	port := testkit.FreePorts(t, kamailioIP, 2)
	c := &tlsCarrier{carrier: newCarrier(t, port), tlsAddr: fmt.Sprintf("%s:%d", kamailioIP, port+1), port: port + 1}
	c.tlsConf = filepath.Join(c.dir, "tls.cfg")
	c.extra = []string{"-A", "WITH_TLS", "-A", "LISTEN_TLS=tls:" + c.tlsAddr, "-A", fmt.Sprintf("TLS_CFG=%q", c.tlsConf)}
	certFile, keyFile := ca.Issue(t, c.dir, "carrier", names...)
	// The server side asks for no client certificate: pivotua proves itself by digest.
	conf := fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`, certFile, keyFile)
	if err := os.WriteFile(c.tlsConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	return c
}

// tlsTrunkListeners listens on udp://127.0.0.1 and tls://pivotuaTLSIP, on port, with a
// certificate from ca.
func tlsTrunkListeners(t *testing.T, ca *testkit.CA) (adjust func(*Config), port int) {
	port = testkit.FreePortOn(t, pivotuaTLSIP)
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip", "localhost")
	return func(c *Config) {
		c.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", port), fmt.Sprintf("tls://%s:%d", pivotuaTLSIP, port)}
		c.SIP.TLS.CertFile, c.SIP.TLS.KeyFile = certFile, keyFile
	}, port
}

// carrierSources returns the distinct $si:$sp the registrar logged for lines containing what.
func carrierSources(c *carrier, what string, since time.Time) map[string]int {
	re := regexp.MustCompile(`from (\d+\.\d+\.\d+\.\d+:\d+)`)
	out := map[string]int{}
	for _, ln := range c.log.matching(what, since) {
		if m := re.FindStringSubmatch(ln.text); m != nil {
			out[m[1]]++
		}
	}
	return out
}

func TestE2ERegisterTLSWithKamailioAndTakeCallsThroughIt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 2}}
	})
	ca := testkit.NewCA(t, "carrier CA")
	c := startTLSCarrier(t, ca, kamailioIP)
	listeners, listenerPort := tlsTrunkListeners(t, ca)
	// The wire between Kamailio's TLS port and pivotua; and pivotua's own TLS listener, which
	// nobody should connect to: Kamailio reaches pivotua over pivotua's connection.
	carrierCapture := testkit.StartTshark(t, fmt.Sprintf("tcp port %d", c.port))
	listenerCapture := testkit.StartTshark(t, fmt.Sprintf("tcp port %d", listenerPort))
	started := time.Now()
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), listeners, func(cfg *Config) {
		// INVITEs only from the carrier: a call that reaches pivotua came through the location lookup.
		cfg.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
		cfg.SIP.RateLimit.ExemptCIDRs = []string{kamailioIP + "/32"}
		cfg.Log.Level = "info"
		cfg.Trunks = []TrunkConfig{{Name: "carrier", URI: "sip:" + c.tlsAddr + ";transport=tls", CAFile: ca.File,
			Username: carrierUser, Password: carrierPassword, Register: true, Expires: "10s", Keepalive: "2s"}}
	})
	registered := func() bool { return scrape(t, p, `pivotua_registration_state{trunk="carrier"}`) == 1 }
	testkit.WaitFor(t, 15*time.Second, "pivotua to register over TLS", func() bool {
		if strings.Contains(p.logs(), "registration: failed") {
			t.Fatalf("registration over TLS failed:\n%s", p.logs())
		}
		return registered()
	})
	t.Logf("registered over TLS %v after start", time.Since(started).Round(time.Millisecond))
	if n := len(c.log.matching("carrier: challenge REGISTER", started)); n == 0 {
		t.Errorf("the registrar never challenged pivotua:\n%s", sipptest.LastLines(c.logs(), 30))
	}
	if code, body := readyz(t, p); code != 200 || !strings.Contains(body, "registration carrier: registered") {
		t.Errorf("/readyz: %d %q; want 200 naming the registration registered", code, body)
	}

	data := sipptest.Data{Service: carrierUser, RTPPort: testkit.FreePort(t), Codec: 0}
	callThroughCarrier(t, c.carrier, data)

	// One connection for everything: the REGISTERs, the keep-alives and the call all used the
	// source the registration opened, from the tls:// listener's address.
	since := time.Now()
	testkit.WaitFor(t, 15*time.Second, "a refresh and keep-alives", func() bool {
		return len(c.log.matching("carrier: REGISTER of", since)) > 0 && len(c.log.matching("keep-alive OPTIONS", since)) >= 2
	})
	srcs := carrierSources(c.carrier, "carrier: REGISTER of", started)
	for s, n := range carrierSources(c.carrier, "keep-alive OPTIONS", started) {
		srcs[s] += n
	}
	if len(srcs) != 1 {
		t.Fatalf("REGISTERs and keep-alives came from %v; want one connection\n%s", srcs, sipptest.LastLines(c.logs(), 40))
	}
	var source string
	for s := range srcs {
		source = s
	}
	if !strings.HasPrefix(source, pivotuaTLSIP+":") {
		t.Errorf("the registration's connection came from %s, not the tls:// listener's address %s", source, pivotuaTLSIP)
	}
	invites := c.log.matching("carrier: INVITE for "+carrierUser, started)
	if len(invites) == 0 || !strings.Contains(invites[0].text, "via sip:"+source+";transport=tls") {
		t.Errorf("Kamailio did not send the call over the registration's connection (%s):\n%s", source, sipptest.LastLines(c.logs(), 40))
	}

	// The registrar goes down (the connection drops) and comes back: pivotua re-registers on a new
	// connection; then it unregisters on shutdown.
	registrarOutageAndShutdown(t, p, c.carrier, data, "error", "timeout")

	// Two calls, REGISTERs, keep-alives: all TLS records on the wire, none of it readable.
	testkit.AssertTLSOnly(t, carrierCapture.Stop(), "the carrier's TLS port", 20, "REGISTER sip:", "INVITE sip:", "BYE sip:", carrierPassword)
	if n := len(testkit.TsharkFields(t, listenerCapture.Stop(), "", "frame.number")); n != 0 {
		t.Errorf("%d packets reached pivotua's tls:// listener; Kamailio should reach pivotua only over pivotua's connection", n)
	}
}

// hostileTLSRegistrar accepts TLS with a certificate from ca for names and never gets to SIP:
// pivotua must refuse the handshake. It counts the connections it saw.
func hostileTLSRegistrar(t *testing.T, ca *testkit.CA, names ...string) (uri string, conns func() int) {
	t.Helper()
	certFile, keyFile := ca.Issue(t, t.TempDir(), "hostile", names...)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	count := make(chan int, 1)
	count <- 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			count <- (<-count) + 1
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "sip:" + ln.Addr().String() + ";transport=tls", func() int { n := <-count; count <- n; return n }
}

// TestE2ERegisterTLSWrongCertificateCostsOnlyItsRegistration: registrars whose certificate comes
// from another CA, or names another host, get no REGISTER: each registration fails naming why, in
// the log and on /readyz, and retries with backoff; beside them the Kamailio trunk registers over
// TLS and takes a call.
func TestE2ERegisterTLSWrongCertificateCostsOnlyItsRegistration(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"}}
	})
	ca := testkit.NewCA(t, "carrier CA")
	other := testkit.NewCA(t, "someone else's CA")
	c := startTLSCarrier(t, ca, kamailioIP)
	otherCA, otherConns := hostileTLSRegistrar(t, other, "127.0.0.1")
	wrongName, wrongConns := hostileTLSRegistrar(t, ca, "registrar.elsewhere.test")
	listeners, _ := tlsTrunkListeners(t, ca)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), listeners, func(cfg *Config) {
		cfg.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
		cfg.Log.Level = "info"
		cfg.Trunks = []TrunkConfig{
			{Name: "other-ca", URI: otherCA, CAFile: ca.File, Username: "victim", Password: "pw", Register: true, Expires: "60s"},
			{Name: "wrong-name", URI: wrongName, CAFile: ca.File, Username: "victim", Password: "pw", Register: true, Expires: "60s"},
			{Name: "carrier", URI: "sip:" + c.tlsAddr + ";transport=tls", CAFile: ca.File,
				Username: carrierUser, Password: carrierPassword, Register: true, Expires: "60s"},
		}
	})
	testkit.WaitFor(t, 15*time.Second, "the carrier trunk to register over TLS", func() bool {
		return scrape(t, p, `pivotua_registration_state{trunk="carrier"}`) == 1
	})
	// 1 s, 2 s (±20 %) between attempts: three attempts each within 10 s.
	testkit.WaitFor(t, 20*time.Second, "three failed attempts on each hostile trunk", func() bool {
		return scrape(t, p, `pivotua_registration_attempts_total{result="error",trunk="other-ca"}`) >= 3 &&
			scrape(t, p, `pivotua_registration_attempts_total{result="error",trunk="wrong-name"}`) >= 3
	})
	for _, trunk := range []string{"other-ca", "wrong-name"} {
		if v := scrape(t, p, fmt.Sprintf(`pivotua_registration_state{trunk=%q}`, trunk)); v != 0 {
			t.Errorf("trunk %s's state %v, want 0", trunk, v)
		}
	}
	if otherConns() < 3 || wrongConns() < 3 {
		t.Errorf("the hostile registrars saw %d and %d connections; want one per attempt", otherConns(), wrongConns())
	}
	code, body := readyz(t, p)
	if code != 200 || !strings.Contains(body, "registration carrier: registered") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	for trunk, why := range map[string]string{
		"other-ca":   "certificate signed by unknown authority",
		"wrong-name": "its certificate names registrar.elsewhere.test, not 127.0.0.1",
	} {
		line := ""
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "registration "+trunk+":") {
				line = l
			}
		}
		if !strings.Contains(line, "retrying") || !strings.Contains(line, why) || !strings.Contains(line, "TLS peer refused") {
			t.Errorf("/readyz line for %s: %q; want it retrying, naming %q", trunk, line, why)
		}
		if !strings.Contains(p.logs(), why) {
			t.Errorf("the log never says why %s failed (%q):\n%s", trunk, why, p.logs())
		}
	}
	callThroughCarrier(t, c.carrier, sipptest.Data{Service: carrierUser, RTPPort: testkit.FreePort(t), Codec: 0})
}
