package main

// End-to-end tests of the SIP-layer follow-ups of issue 18 against the real binary: stray BYEs
// under the rate limit, an inbound caller's Contact or Record-Route naming a denied address, and a
// webhook's URI user that would add parameters or headers. Raw UDP sockets play caller, callee and
// the address that must hear nothing (helpers in hostile_sip_e2e_test.go).

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// listenSilent binds a UDP socket on ip and reports the first line of anything it receives.
func listenSilent(t *testing.T, ip string) (addr *net.UDPAddr, heard <-chan string) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1)
	go func() {
		buf := make([]byte, 65536)
		if n, _, err := conn.ReadFromUDP(buf); err == nil {
			ch <- firstLineOf(string(buf[:n]))
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr), ch
}

// answer200 is a 200 OK to the request msg, sent back by r.
func (r *rawSIPPeer) answer200(t *testing.T, msg string) {
	t.Helper()
	res := "SIP/2.0 200 OK\n"
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		res += h + ": " + testkit.SIPHeader(msg, h) + "\n"
	}
	r.send(t, res+"Content-Length: %LEN%\n\n")
}

// rawInDialog is a request of the caller r within the call callID that pivotua answered with to.
func rawInDialog(r *rawSIPPeer, p *pivotuaInstance, method, callID, fromTag, to string, cseq int) string {
	return fmt.Sprintf(`
%s sip:3004@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%s-%d;rport
From: "Mallory" <sip:1000@%s>;tag=%s
To: %s
Call-ID: %s
CSeq: %d %s
Max-Forwards: 70
Content-Length: %%LEN%%

`, method, p.sipAddr(), r.addr(), callID, method, cseq, r.addr(), fromTag, to, callID, cseq, method)
}

// TestE2EHostileSIP2StrangerBYEFloodIsBlocked: with sip.rate_limit.requests 5, BYEs with made-up
// Call-IDs count like any out-of-dialog request: at most 5 of 12 are answered and the source is
// blocked, while a caller blocked for its own flood still ends its live call with BYE.
func TestE2EHostileSIP2StrangerBYEFloodIsBlocked(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Pause length="1"/><Pause length="20"/></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.SIP.RateLimit = RateLimitConfig{Requests: 5, Window: "10s", Block: "1m"}
	})
	stranger := newRawSIPPeer(t, p, "127.0.0.2")
	answered := 0
	for i := range 12 {
		callID := fmt.Sprintf("stray-bye-%d@e2e", i)
		stranger.send(t, rawInDialog(stranger, p, "BYE", callID, "x", "<sip:3004@127.0.0.1>;tag=y", 2))
		if stranger.recv(500*time.Millisecond) != "" {
			answered++
		}
	}
	t.Logf("%d of 12 stray BYEs answered", answered)
	if answered > 5 {
		t.Errorf("%d of 12 BYEs with made-up Call-IDs were answered, want at most 5 (rate limit 5)", answered)
	}

	caller := newRawSIPPeer(t, p, "127.0.0.1")
	callID := "blocked-caller-bye@e2e"
	caller.send(t, rawInvite(caller, p, callID, "ft", ""))
	ok := caller.recv(8 * time.Second)
	if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
		t.Fatalf("INVITE: got %q, want 200", firstLineOf(ok))
	}
	to := testkit.SIPHeader(ok, "To")
	caller.send(t, rawInDialog(caller, p, "ACK", callID, "ft", to, 1))
	for i := range 8 {
		caller.send(t, rawInDialog(caller, p, "OPTIONS", fmt.Sprintf("caller-flood-%d@e2e", i), "ft", "<sip:3004@127.0.0.1>", 1))
		caller.recv(300 * time.Millisecond)
	}
	caller.send(t, rawInDialog(caller, p, "OPTIONS", "caller-blocked@e2e", "ft", "<sip:3004@127.0.0.1>", 1))
	if got := caller.recv(500 * time.Millisecond); got != "" {
		t.Fatalf("the flooding caller is not blocked: %q", firstLineOf(got))
	}
	caller.send(t, rawInDialog(caller, p, "BYE", callID, "ft", to, 2))
	if got := caller.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
		t.Fatalf("the blocked caller's BYE in its live call: %q, want 200", firstLineOf(got))
	}
}

// TestE2EHostileSIP2InboundDeniedContactGetsBYEAtSource: with sip.egress.deny_cidrs 127.0.0.2/32, a
// caller whose Contact (or Record-Route) names a socket on 127.0.0.2 gets pivotua's BYE at the
// address its INVITE came from; the socket on 127.0.0.2 hears nothing, and the log names sip.egress.
func TestE2EHostileSIP2InboundDeniedContactGetsBYEAtSource(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Pause length="1"/><Pause length="1"/><Hangup/></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.SIP.Egress.DenyCIDRs = []string{"127.0.0.2/32"}
	})
	for _, header := range []string{"Contact", "Record-Route"} {
		t.Run(header, func(t *testing.T) {
			internal, heard := listenSilent(t, "127.0.0.2")
			caller := newRawSIPPeer(t, p, "127.0.0.1")
			callID := "denied-" + strings.ToLower(header) + "@e2e"
			invite := rawInvite(caller, p, callID, "ft", "")
			if header == "Contact" {
				invite = withHeader(invite, "Contact", "<sip:1000@"+internal.String()+">")
			} else {
				invite = strings.Replace(invite, "Max-Forwards: 70\n", "Max-Forwards: 70\nRecord-Route: <sip:"+internal.String()+";lr>\n", 1)
			}
			caller.send(t, invite)
			ok := caller.recv(8 * time.Second)
			if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
				t.Fatalf("INVITE: got %q, want 200", firstLineOf(ok))
			}
			caller.send(t, rawInDialog(caller, p, "ACK", callID, "ft", testkit.SIPHeader(ok, "To"), 1))
			bye := caller.recv(8 * time.Second)
			if !strings.HasPrefix(bye, "BYE ") {
				select {
				case msg := <-heard:
					t.Fatalf("the caller got %q, want pivotua's BYE; the denied %s %s got %q", firstLineOf(bye), header, internal, msg)
				default:
					t.Fatalf("the caller got %q, want pivotua's BYE", firstLineOf(bye))
				}
			}
			caller.answer200(t, bye)
			select {
			case msg := <-heard:
				t.Fatalf("the denied %s %s got %q", header, internal, msg)
			case <-time.After(300 * time.Millisecond):
			}
			if logs := p.logs(); !strings.Contains(logs, "sip.egress") || !strings.Contains(logs, callID) {
				t.Errorf("no log line names sip.egress and the call:\n%s", strings.Join(loudLines(logs), "\n"))
			}
		})
	}
}

// TestE2EHostileSIP2DialURIUserStaysAUser: a <Sip> URI whose user holds ';' and '?'
// ("bob;transport=tcp?X-Evil=1") reaches the callee with them escaped, so no reader takes them for
// URI parameters or headers; the callee's 486 reaches the action URL as busy.
func TestE2EHostileSIP2DialURIUserStaysAUser(t *testing.T) {
	needE2E(t)
	callee, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="5"><Sip>sip:bob;transport=tcp?X-Evil=1@%s</Sip></Dial></Response>`, callee.LocalAddr()),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newRawSIPPeer(t, p, "127.0.0.1")
	caller.send(t, rawInvite(caller, p, "uri-user@e2e", "ft", ""))
	// <Dial> answers the caller first and bridges once the callee answers.
	ok := caller.recv(8 * time.Second)
	if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
		t.Fatalf("INVITE: got %q, want 200", firstLineOf(ok))
	}
	caller.send(t, rawInDialog(caller, p, "ACK", "uri-user@e2e", "ft", testkit.SIPHeader(ok, "To"), 1))
	buf := make([]byte, 65536)
	_ = callee.SetReadDeadline(time.Now().Add(8 * time.Second))
	n, from, err := callee.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no INVITE at the callee: %v\n%s", err, strings.Join(loudLines(p.logs()), "\n"))
	}
	invite := string(buf[:n])
	wantUser := "sip:bob%3Btransport=tcp%3FX-Evil=1@"
	if line := firstLineOf(invite); !strings.HasPrefix(line, "INVITE "+wantUser) {
		t.Errorf("Request-URI: %q, want it to start %q", line, "INVITE "+wantUser)
	}
	if to := testkit.SIPHeader(invite, "To"); !strings.HasPrefix(to, "<"+wantUser) {
		t.Errorf("To: %q, want it to start %q", to, "<"+wantUser)
	}
	busy := "SIP/2.0 486 Busy Here\r\n"
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		v := testkit.SIPHeader(invite, h)
		if h == "To" {
			v += ";tag=callee"
		}
		busy += h + ": " + v + "\r\n"
	}
	if _, err := callee.WriteToUDP([]byte(busy+"Content-Length: 0\r\n\r\n"), from); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(8 * time.Second); len(hook.Forms("/after")) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the action URL was never requested")
		}
	}
	if got := hook.Forms("/after")[0].Get("DialCallStatus"); got != "busy" {
		t.Errorf("DialCallStatus %q, want busy", got)
	}
}
