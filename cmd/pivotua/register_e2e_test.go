package main

// Registration as a client, against Kamailio as the carrier (testdata/kamailio/registrar.cfg): a
// registrar that challenges with digest and keeps bindings in memory, and a proxy that sends calls
// for a registered user to the Contact it registered. Over UDP: pivotua's TLS listener is another
// branch's; the registration's transport follows the trunk URI, so the same trunk with
// ;transport=tls registers over TLS once there is a TLS listener.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

const (
	carrierUser     = "3004" // the address of record pivotua registers, and the number SIPp calls
	carrierPassword = "s3cret-for-the-test"
	carrierMinExp   = 12 // the registrar's Min-Expires; pivotua asks 10 s and gets 423 first
)

// carrier is one run of the test registrar; restart starts it again on the same address, with no
// bindings (usrloc keeps them in memory only).
type carrier struct {
	addr, dir string
	extra     []string // more of Kamailio's -A defines (the TLS listener)
	cmd       *exec.Cmd
	log       *stampedLog
}

func (c *carrier) sipAddr() string { return c.addr }
func (c *carrier) logs() string    { return c.log.String() }

func startCarrier(t *testing.T) *carrier {
	t.Helper()
	c := newCarrier(t, testkit.FreePortOn(t, kamailioIP))
	c.start(t)
	return c
}

// newCarrier readies a registrar on kamailioIP:port without starting it.
func newCarrier(t *testing.T, port int) *carrier {
	t.Helper()
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatal("kamailio is not installed: run `make deps` (Debian packages kamailio, kamailio-tls-modules)")
	}
	// Not t.TempDir: Kamailio's runtime paths must stay short.
	dir, err := os.MkdirTemp("", "kamreg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &carrier{addr: fmt.Sprintf("%s:%d", kamailioIP, port), dir: dir, log: &stampedLog{}}
}

// start starts the registrar (again, with no bindings) on the same addresses.
func (c *carrier) start(t *testing.T) {
	t.Helper()
	cfg, err := filepath.Abs(filepath.Join("..", "..", "testdata", "kamailio", "registrar.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", cfg, "-DD", "-E", "-n", "2", "-Y", c.dir, "-P", filepath.Join(c.dir, "kamailio.pid"),
		"-A", "LISTEN=udp:" + c.addr,
		"-A", fmt.Sprintf("AUTH_USER=%q", carrierUser),
		"-A", fmt.Sprintf("AUTH_PASSWORD=%q", carrierPassword),
		"-A", fmt.Sprintf("MIN_EXPIRES=%d", carrierMinExp)}
	c.cmd = exec.Command("kamailio", append(args, c.extra...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers go with it
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := c.cmd
	t.Cleanup(func() { stopKamailioProcess(cmd) })
	var probeErr error
	for range 20 {
		if probeErr = runSIPp(t, c, "options.xml", sipptest.Data{Service: "probe"}, "-t", "u1"); probeErr == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the test registrar did not come up: %v\n%s", probeErr, sipptest.LastLines(c.logs(), 30))
}

// stopKamailioProcess ends one Kamailio run and its workers (idempotent).
func stopKamailioProcess(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	pgid := -cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-done
	}
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, p *pivotuaInstance) (int, string) {
	t.Helper()
	res, err := http.Get(p.httpURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// callThroughCarrier places one call to carrierUser through the carrier that pivotua hangs up
// (uac_call.xml), and checks that pivotua's BYE reached the caller through the carrier (the
// Record-Route), then one the caller hangs up (uac_caller_bye.xml), whose BYE takes the same way.
func callThroughCarrier(t *testing.T, c *carrier, data sipptest.Data) {
	t.Helper()
	trace, err := runSIPpIn(t, t.TempDir(), c, "uac_call.xml", data, "-t", "u1", "-trace_msg")
	if err != nil {
		t.Fatal(err)
	}
	byes := receivedBYEVias(trace)
	if len(byes) != 1 {
		t.Fatalf("the caller received %d BYEs, want pivotua's one", len(byes))
	}
	if vias := byes[0]; len(vias) != 2 || vias[0] != c.addr {
		t.Errorf("pivotua's BYE reached the caller with Vias %v; want the carrier's (%s) on top of pivotua's", vias, c.addr)
	}
	if err := runSIPp(t, c, "uac_caller_bye.xml", data, "-t", "u1"); err != nil {
		t.Fatalf("a call the caller hangs up, through the carrier: %v", err)
	}
}

func TestE2ERegisterWithKamailioAndTakeCallsThroughIt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 2}}
	})
	c := startCarrier(t)
	started := time.Now()
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(cfg *Config) {
		// INVITEs only from the carrier: a call that reaches pivotua came through the location lookup.
		cfg.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
		cfg.SIP.RateLimit.ExemptCIDRs = []string{kamailioIP + "/32"}
		cfg.Log.Level = "info"
		cfg.Trunks = []TrunkConfig{{Name: "carrier", URI: "sip:" + c.addr, Username: carrierUser, Password: carrierPassword,
			Register: true, Expires: "10s", Keepalive: "2s"}}
	})
	registered := func() bool { return scrape(t, p, `pivotua_registration_state{trunk="carrier"}`) == 1 }
	testkit.WaitFor(t, 10*time.Second, "pivotua to register", registered)
	t.Logf("registered %v after start", time.Since(started).Round(time.Millisecond))

	// Digest: challenged first, then accepted; 423 raised the 10 s asked for to Min-Expires.
	if n := len(c.log.matching("carrier: challenge REGISTER", started)); n == 0 {
		t.Errorf("the registrar never challenged pivotua:\n%s", sipptest.LastLines(c.logs(), 30))
	}
	if len(c.log.matching("carrier: 423 for expires 10", started)) == 0 || len(c.log.matching(fmt.Sprintf("expires %d", carrierMinExp), started)) == 0 {
		t.Errorf("pivotua did not register for the registrar's Min-Expires (%d s) after 423:\n%s", carrierMinExp, sipptest.LastLines(c.logs(), 30))
	}
	if code, body := readyz(t, p); code != 200 || !strings.Contains(body, "registration carrier: registered") {
		t.Errorf("/readyz: %d %q; want 200 naming the registration registered", code, body)
	}

	data := sipptest.Data{Service: carrierUser, RTPPort: testkit.FreePort(t), Codec: 0}
	callThroughCarrier(t, c, data)

	// Keep-alives and refreshes: a 12 s binding is refreshed every 6 s; OPTIONS every 2 s.
	since := time.Now()
	pivotuaSource := "from " + p.sipAddr()
	testkit.WaitFor(t, 15*time.Second, "a refresh and keep-alives", func() bool {
		return len(c.log.matching("carrier: REGISTER of", since)) > 0 && len(c.log.matching("keep-alive OPTIONS "+pivotuaSource, since)) >= 2
	})

	registrarOutageAndShutdown(t, p, c, data, "timeout")
	if strings.Count(p.logs(), "registration: registered") > 3 {
		// One line per change of state: registered, failed, registered (refreshes log nothing).
		t.Errorf("state changes logged more than once each:\n%s", p.logs())
	}
}

// registrarOutageAndShutdown stops the registrar under a registered p: the registration fails (the
// gauge drops, an attempt is counted under one of failures, /readyz says so and stays 200); it comes
// back with no bindings: p re-registers within its backoff and a call through it works again; then a
// clean shutdown of p removes the binding (Expires: 0), and the registrar refuses calls for it.
func registrarOutageAndShutdown(t *testing.T, p *pivotuaInstance, c *carrier, data sipptest.Data, failures ...string) {
	t.Helper()
	registered := func() bool { return scrape(t, p, `pivotua_registration_state{trunk="carrier"}`) == 1 }
	stopKamailioProcess(c.cmd)
	down := time.Now()
	testkit.WaitFor(t, 40*time.Second, "pivotua to notice the registrar is down", func() bool { return !registered() })
	t.Logf("registration reported down %v after the registrar stopped", time.Since(down).Round(time.Millisecond))
	testkit.WaitFor(t, 30*time.Second, "a failed attempt counted", func() bool {
		n := 0.0
		for _, f := range failures {
			n += scrape(t, p, fmt.Sprintf(`pivotua_registration_attempts_total{result=%q,trunk="carrier"}`, f))
		}
		return n >= 1
	})
	if code, body := readyz(t, p); code != 200 || !strings.Contains(body, "registration carrier: retrying") {
		t.Errorf("/readyz with the registrar down: %d %q; want 200 naming the registration retrying", code, body)
	}

	c.start(t)
	back := time.Now()
	testkit.WaitFor(t, 30*time.Second, "pivotua to register again", registered)
	t.Logf("registered again %v after the registrar came back", time.Since(back).Round(time.Millisecond))
	callThroughCarrier(t, c, data)

	stopped := time.Now()
	p.stop(t)
	if len(c.log.matching("expires 0", stopped)) == 0 {
		t.Errorf("pivotua did not unregister on shutdown:\n%s", sipptest.LastLines(c.logs(), 20))
	}
	if err := runSIPp(t, c, "uac_refused.xml", sipptest.Data{Service: carrierUser, RTPPort: 9, Expect: 404}, "-t", "u1"); err != nil {
		t.Errorf("a call after pivotua unregistered: %v", err)
	}
}

// TestE2ERegisterlessTrunkProvesItsCallsByDigest: a trunk outside sip.allow_cidrs whose INVITEs
// carry digest credentials (SIPp answering pivotua's 401 with -au/-ap): the right password gets the
// call answered, a wrong one 403, none at all 401.
func TestE2ERegisterlessTrunkProvesItsCallsByDigest(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(cfg *Config) {
		cfg.SIP.AllowCIDRs = []string{"192.0.2.0/24"} // an IP-authenticated trunk elsewhere; SIPp is not in it
		cfg.Trunks = []TrunkConfig{{Name: "carrier", URI: "sip:192.0.2.1", InboundUsername: "carrier-in", InboundPassword: "in-secret"}}
	})
	data := sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}
	if err := runSIPp(t, p, "uac_auth_call.xml", data, "-au", "carrier-in", "-ap", "in-secret"); err != nil {
		t.Errorf("a call answering the challenge with the trunk's credentials: %v", err)
	}
	if len(hook.received()) != 1 {
		t.Errorf("the webhook was asked %d times, want once for the authenticated call", len(hook.received()))
	}
	wrong := data
	wrong.Expect = 403
	if err := runSIPp(t, p, "uac_auth_call.xml", wrong, "-au", "carrier-in", "-ap", "guess"); err != nil {
		t.Errorf("a call with a wrong password: %v", err)
	}
	none := data
	none.Expect = 401
	if err := runSIPp(t, p, "uac_refused.xml", none); err != nil {
		t.Errorf("a call without credentials: %v", err)
	}
	if len(hook.received()) != 1 {
		t.Errorf("the webhook was asked %d times; refused calls must not reach it", len(hook.received()))
	}
}

// hostileRegistrar answers every REGISTER on a raw UDP socket with what no registrar should send:
// attempt by attempt in turn, a 401 whose nonce is 3000 bytes, endless 401s with one nonce, and a
// 423 demanding 2^63 s.
func hostileRegistrar(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for n := -1; ; {
			k, src, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:k]...))
			req, ok := msg.(*sipmsg.Request)
			if err != nil || !ok {
				continue
			}
			if req.GetHeader("Authorization") == nil {
				n++ // a new attempt
			}
			var res *sipmsg.Response
			switch n % 3 {
			case 0:
				res = sipmsg.NewResponseFromRequest(req, 401, "Unauthorized", nil)
				res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", `Digest realm="r", nonce="`+strings.Repeat("n", 3000)+`"`))
			case 1:
				res = sipmsg.NewResponseFromRequest(req, 401, "Unauthorized", nil)
				res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", `Digest realm="r", nonce="same", qop="auth"`))
			default:
				res = sipmsg.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
				res.AppendHeader(sipmsg.NewHeader("Min-Expires", "9223372036854775808"))
			}
			_, _ = conn.WriteTo([]byte(res.String()), src)
		}
	}()
	return "sip:" + conn.LocalAddr().String()
}

// TestE2ERegisterHostileRegistrarCostsOnlyItsRegistration: beside a trunk whose registrar misbehaves
// in every way, the Kamailio trunk registers and takes calls, and pivotua lives on.
func TestE2ERegisterHostileRegistrarCostsOnlyItsRegistration(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"}}
	})
	c := startCarrier(t)
	hostile := hostileRegistrar(t)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(cfg *Config) {
		cfg.SIP.AllowCIDRs = []string{kamailioIP + "/32"}
		cfg.Log.Level = "info"
		cfg.Trunks = []TrunkConfig{
			{Name: "hostile", URI: hostile, Username: "victim", Password: "pw", Register: true, Expires: "60s"},
			{Name: "carrier", URI: "sip:" + c.addr, Username: carrierUser, Password: carrierPassword, Register: true, Expires: "60s"},
		}
	})
	testkit.WaitFor(t, 10*time.Second, "the carrier trunk to register", func() bool {
		return scrape(t, p, `pivotua_registration_state{trunk="carrier"}`) == 1
	})
	// 1 s, 2 s, 4 s (±20 %) between attempts: three attempts see all three kinds of answer.
	testkit.WaitFor(t, 20*time.Second, "three failed attempts on the hostile trunk", func() bool {
		return scrape(t, p, `pivotua_registration_attempts_total{result="auth_failed",trunk="hostile"}`)+
			scrape(t, p, `pivotua_registration_attempts_total{result="rejected",trunk="hostile"}`) >= 3
	})
	if v := scrape(t, p, `pivotua_registration_state{trunk="hostile"}`); v != 0 {
		t.Errorf("hostile trunk's state %v, want 0", v)
	}
	for _, want := range []string{"over the 1024-byte cap", "refused our credentials", "Min-Expires"} {
		if !strings.Contains(p.logs(), want) {
			t.Errorf("no failure naming %q in the log:\n%s", want, p.logs())
		}
	}
	callThroughCarrier(t, c, sipptest.Data{Service: carrierUser, RTPPort: testkit.FreePort(t), Codec: 0})
	if code, body := readyz(t, p); code != 200 || !strings.Contains(body, "registration carrier: registered") || !strings.Contains(body, "registration hostile: retrying") {
		t.Errorf("/readyz: %d %q", code, body)
	}
}
