package main

// End-to-end tests of hostile SIP input against the real binary: a raw UDP
// socket plays the caller (or the attacker), so the test controls every byte,
// tag and Call-ID it sends.

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// rawSIPPeer sends hand-written SIP over UDP from its own socket and reads what comes back.
type rawSIPPeer struct {
	conn *net.UDPConn
	to   *net.UDPAddr
}

// newRawSIPPeer binds a socket on ip (any 127.0.0.0/8 address works on Linux) for talking to p.
func newRawSIPPeer(t *testing.T, p *pivotuaInstance, ip string) *rawSIPPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawSIPPeer{conn: conn, to: &net.UDPAddr{IP: net.ParseIP(p.sipHost), Port: p.sipPort}}
}

func (r *rawSIPPeer) addr() string { return r.conn.LocalAddr().String() }

// send writes msg with its Content-Length filled in ("%LEN%") and LF line ends turned into CRLF.
func (r *rawSIPPeer) send(t *testing.T, msg string) {
	t.Helper()
	msg = strings.ReplaceAll(strings.TrimLeft(msg, "\n"), "\n", "\r\n")
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	msg = strings.Replace(head, "%LEN%", fmt.Sprint(len(body)), 1) + "\r\n\r\n" + body
	if _, err := r.conn.WriteToUDP([]byte(msg), r.to); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next message that is not a provisional response, or "" after within.
func (r *rawSIPPeer) recv(within time.Duration) string {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(within)
	for {
		_ = r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 1") {
			continue
		}
		return msg
	}
}

// rawInvite is an INVITE from r to 3004 with an SDP offer; uri replaces the Request-URI when not empty.
func rawInvite(r *rawSIPPeer, p *pivotuaInstance, callID, fromTag, uri string) string {
	if uri == "" {
		uri = "sip:3004@" + p.sipAddr()
	}
	return fmt.Sprintf(`
INVITE %s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-inv;rport
From: "Mallory" <sip:1000@%s>;tag=%s
To: <sip:3004@%s>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:1000@%s>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: %%LEN%%

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 9 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`, uri, r.addr(), callID, r.addr(), fromTag, p.sipAddr(), callID, r.addr())
}

// TestE2EHostileSIPOutOfRangePortGets400: a port beyond 65535 anywhere sipgo reads one (the
// Request-URI, Via sent-by, Contact, From, To) is a 400 naming the header, never an answer, and the
// process goes on serving.
func TestE2EHostileSIPOutOfRangePortGets400(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Hangup/></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	const huge = "999999999999"
	hostPort := func(host string) string { return "127.0.0.1:" + host }
	for _, tc := range []struct{ name, header, value string }{
		{"request-uri", "", "sip:3004@" + hostPort(huge)},
		{"request-uri-65536", "", "sip:3004@" + hostPort("65536")},
		{"via", "Via", "SIP/2.0/UDP " + hostPort(huge) + ";branch=z9hG4bK-via;rport"},
		{"contact", "Contact", "<sip:1000@" + hostPort(huge) + ">"},
		{"from", "From", "<sip:1000@" + hostPort(huge) + ">;tag=t1"},
		{"to", "To", "<sip:3004@" + hostPort(huge) + ">"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRawSIPPeer(t, p, "127.0.0.1")
			msg := rawInvite(r, p, "port-"+tc.name+"@e2e", "t1", "")
			if tc.header == "" {
				msg = rawInvite(r, p, "port-"+tc.name+"@e2e", "t1", tc.value)
			} else {
				msg = withHeader(msg, tc.header, tc.value)
			}
			r.send(t, msg)
			res := r.recv(3 * time.Second)
			if !strings.HasPrefix(res, "SIP/2.0 400 ") {
				t.Fatalf("INVITE with an out-of-range port in %s: got %q, want 400", tc.name, firstLineOf(res))
			}
			if w := testkit.SIPHeader(res, "Warning"); !strings.Contains(strings.ToLower(w), "port") {
				t.Errorf("Warning %q does not name the port", w)
			}
		})
	}
	res, err := http.Get(p.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// withHeader replaces the value of msg's header called name.
func withHeader(msg, name, value string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, name+":") {
			lines[i] = name + ": " + value
			break
		}
	}
	return strings.Join(lines, "\n")
}

func firstLineOf(msg string) string {
	l, _, _ := strings.Cut(msg, "\r\n")
	return l
}

// TestE2EHostileSIPCleanShutdownLogsNoNegativeUDPRef: after calls in (UDP and TCP) and out (a
// Dial leg made sipgo open a UDP socket of its own), SIGTERM stops pivotua without sipgo's
// "UDP ref went negative" warning, which came from that socket being closed twice.
func TestE2EHostileSIPCleanShutdownLogsNoNegativeUDPRef(t *testing.T) {
	needE2E(t)
	uas := startUAS(t, "uas_busy.xml", uasData{})
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="5"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/after": `<Response><Hangup/></Response>`,
	})
	// The second call (over TCP) dials again and finds no callee (SIPp's took one call); the caller
	// is hung up all the same.
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// A caller over TCP too: its connection is sipgo's to close at shutdown.
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.Port(), Codec: 0}, "-t", "t1"); err != nil {
		t.Fatal(err)
	}
	before := len(p.logs())
	p.stop(t)
	// Only what SIGTERM caused counts: a caller that closes its TCP connection the moment it
	// has answered our BYE makes sipgo hard-close it while the BYE's transaction still holds a
	// reference, and sipgo warns when that transaction lets go (its refcount, not a double close).
	if shutdown := p.logs()[before:]; strings.Contains(shutdown, "ref went negative") {
		t.Fatalf("shutdown logged a negative connection ref:\n%s", sipptest.LastLines(shutdown, 30))
	}
}

// TestE2EHostileSIPEgressDeniedDialSendsNothing: with sip.egress.deny_cidrs covering 127.0.0.0/8,
// a webhook's Dial to a sip: URI there sends no INVITE (the socket listening there hears nothing),
// the action URL gets DialCallStatus=failed and the log names the destination and the rule.
func TestE2EHostileSIPEgressDeniedDialSendsNothing(t *testing.T) {
	needE2E(t)
	target, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	heard := make(chan string, 1)
	go func() {
		buf := make([]byte, 65536)
		if n, _, err := target.ReadFromUDP(buf); err == nil {
			heard <- firstLineOf(string(buf[:n]))
		}
	}()
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="5"><Sip>sip:bob@%s</Sip></Dial></Response>`, target.LocalAddr()),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.SIP.Egress.DenyCIDRs = []string{"127.0.0.0/8"}
	})
	caller := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	after := hook.Forms("/after")
	if len(after) != 1 || after[0].Get("DialCallStatus") != "failed" {
		t.Fatalf("action requests %v, want DialCallStatus=failed", after)
	}
	select {
	case msg := <-heard:
		t.Fatalf("the denied destination received %q", msg)
	default:
	}
	logs := p.logs()
	if !strings.Contains(logs, "127.0.0.1 is in deny_cidrs 127.0.0.0/8") {
		t.Errorf("the log does not name the destination and the rule:\n%s", sipptest.LastLines(logs, 30))
	}
}

// TestE2EHostileSIPINFOFloodIsSummarizedInTheLog: a caller in a live call sends 300 in-dialog
// requests it can repeat at will (INFOs with keys or bodies that are no DTMF, unknown types, wrong
// tags, UPDATE, and re-INVITEs whose ACK carries a garbage answer); the log above debug grows by a
// bounded number of lines, and the call and the process go on.
func TestE2EHostileSIPINFOFloodIsSummarizedInTheLog(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Pause length="1"/><Pause length="20"/></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	r := newRawSIPPeer(t, p, "127.0.0.1")
	callID := "info-flood@e2e"
	r.send(t, rawInvite(r, p, callID, "ft", ""))
	ok := r.recv(8 * time.Second)
	if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
		t.Fatalf("INVITE: got %q, want 200", firstLineOf(ok))
	}
	to := testkit.SIPHeader(ok, "To")
	inDialog := func(method string, cseq int, toValue, extra, body string) string {
		return fmt.Sprintf(`
%s sip:3004@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport
From: "Mallory" <sip:1000@%s>;tag=ft
To: %s
Call-ID: %s
CSeq: %d %s
Max-Forwards: 70
%sContent-Length: %%LEN%%

%s`, method, p.sipAddr(), r.addr(), method, cseq, r.addr(), toValue, callID, cseq, method, extra, body)
	}
	r.send(t, inDialog("ACK", 1, to, "", ""))
	before := loudLines(p.logs())
	const n = 300
	for i := range n {
		cseq := 2 + i
		if i%10 == 9 {
			// A re-INVITE without SDP gets our offer in the 200; the ACK's answer is garbage.
			r.send(t, inDialog("INVITE", cseq, to, "", ""))
			if got := r.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
				t.Fatalf("re-INVITE %d: %q", i, firstLineOf(got))
			}
			ack := strings.Replace(inDialog("ACK", cseq, to, "Content-Type: application/sdp\n", "v=0\nnot sdp\n"), "-ACK-", "-ACK2-", 1)
			r.send(t, ack)
			continue
		}
		var msg string
		switch i % 7 {
		case 5:
			msg = inDialog("INFO", cseq, to, "Content-Type: application/dtmf-relay\n", "Signal=5\nDuration=160\n")
		case 6:
			msg = inDialog("INFO", cseq, to, "Content-Type: application/dtmf\n", "#")
		case 0:
			msg = inDialog("INFO", cseq, to, "Content-Type: application/dtmf-relay\n", "Signal=Z\nDuration=160\n")
		case 1:
			msg = inDialog("INFO", cseq, to, "Content-Type: application/x-nonsense\n", "garbage")
		case 2:
			msg = inDialog("INFO", cseq, to, "Content-Type: application/dtmf\n", "")
		case 3:
			msg = inDialog("INFO", cseq, "<sip:3004@127.0.0.1>;tag=not-ours", "", "")
		case 4:
			msg = inDialog("UPDATE", cseq, to, "", "")
		}
		r.send(t, msg)
		if got := r.recv(2 * time.Second); got == "" {
			t.Fatalf("request %d went unanswered", i)
		}
	}
	after := loudLines(p.logs())
	added := after[len(before):]
	t.Logf("%d hostile in-dialog requests added %d log lines above debug", n, len(added))
	if len(added) > 10 {
		t.Errorf("%d hostile in-dialog requests added %d log lines above debug, want at most 10:\n%s",
			n, len(added), strings.Join(added[:min(len(added), 20)], "\n"))
	}
	r.send(t, inDialog("BYE", 10000, to, "", ""))
	if got := r.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
		t.Fatalf("BYE after the flood: %q", firstLineOf(got))
	}
}

// loudLines are the log lines above debug.
func loudLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if l != "" && !strings.Contains(l, "level=DEBUG") {
			out = append(out, l)
		}
	}
	return out
}

// TestE2EHostileSIPLiveCallIDIsNoRateLimitPass: with sip.rate_limit.requests 5, a source that
// copies a live call's Call-ID (and its tags) into its requests is limited like any other, while
// the caller's own in-dialog requests go on being answered.
func TestE2EHostileSIPLiveCallIDIsNoRateLimitPass(t *testing.T) {
	needE2E(t)
	hook := newTwiMLHook(t, map[string]string{"/voice": `<Response><Pause length="1"/><Pause length="20"/></Response>`})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) {
		c.SIP.RateLimit = RateLimitConfig{Requests: 5, Window: "10s", Block: "1m"}
	})
	caller := newRawSIPPeer(t, p, "127.0.0.1")
	callID := "live-callid@e2e"
	caller.send(t, rawInvite(caller, p, callID, "ft", ""))
	ok := caller.recv(8 * time.Second)
	if !strings.HasPrefix(ok, "SIP/2.0 200 ") {
		t.Fatalf("INVITE: got %q, want 200", firstLineOf(ok))
	}
	to := testkit.SIPHeader(ok, "To")
	request := func(r *rawSIPPeer, method string, cseq int) string {
		return fmt.Sprintf(`
%s sip:3004@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-live-%s-%d;rport
From: "Mallory" <sip:1000@127.0.0.1>;tag=ft
To: %s
Call-ID: %s
CSeq: %d %s
Max-Forwards: 70
Content-Length: %%LEN%%

`, method, p.sipAddr(), r.addr(), r.addr(), cseq, to, callID, cseq, method)
	}
	caller.send(t, request(caller, "ACK", 1))
	attacker := newRawSIPPeer(t, p, "127.0.0.2")
	answered := 0
	for i := range 12 {
		attacker.send(t, request(attacker, "OPTIONS", 100+i))
		if attacker.recv(500*time.Millisecond) != "" {
			answered++
		}
	}
	if answered > 5 {
		t.Errorf("%d of 12 OPTIONS from another source with the live Call-ID were answered, want at most 5", answered)
	}
	for i := range 10 {
		caller.send(t, request(caller, "OPTIONS", 200+i))
		if got := caller.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
			t.Fatalf("the caller's in-dialog OPTIONS %d: %q", i, firstLineOf(got))
		}
	}
	caller.send(t, request(caller, "BYE", 300))
	if got := caller.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
		t.Fatalf("BYE: %q", firstLineOf(got))
	}
}
