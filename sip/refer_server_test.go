package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// referCall answers an INVITE from a raw peer and returns the peer and our 200 OK; each REFER the
// handler is handed to make runs on the answered call and its result goes to results.
func referCall(t *testing.T, callID, target string, wait time.Duration) (*udpPeer, []byte, <-chan referOutcome) {
	t.Helper()
	results := make(chan referOutcome, 1)
	srv := startTestServer(t, Config{}, func(c *InboundCall) {
		if _, err := c.Answer(t.Context(), testRTP); err != nil {
			results <- referOutcome{err: err}
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		res, err := c.Refer(ctx, target)
		cancel()
		results <- referOutcome{res, err}
		_ = c.Hangup(context.Background())
	})
	p := callPeer(t, srv)
	p.invite(callID)
	ok := p.final(2 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q", firstLine(ok))
	}
	p.ack(ok, callID)
	return p, ok, results
}

type referOutcome struct {
	res ReferResult
	err error
}

// nextRequest waits for a request of method and returns it with where it came from.
func (p *udpPeer) nextRequest(method string, wait time.Duration) ([]byte, *net.UDPAddr) {
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65536)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil, nil
		}
		if strings.HasPrefix(string(buf[:n]), method+" ") {
			return append([]byte(nil), buf[:n]...), from
		}
	}
}

// answer sends a response to req.
func (p *udpPeer) answer(req []byte, to *net.UDPAddr, status string) {
	res := "SIP/2.0 " + status + "\r\n"
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		res += h + ": " + testkit.SIPHeader(string(req), h) + "\r\n"
	}
	_, _ = p.conn.WriteToUDP([]byte(res+"Content-Length: 0\r\n\r\n"), to)
}

// notify is the caller's in-dialog NOTIFY with body as its sipfrag.
func notify(p *udpPeer, ok []byte, callID string, cseq int, event, state, body string) []byte {
	return []byte("NOTIFY sip:pivotua@" + p.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.local().String() + ";rport;branch=z9hG4bKnotify" + fmt.Sprint(cseq) + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + testkit.SIPHeader(string(ok), "To") + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: " + fmt.Sprint(cseq) + " NOTIFY\r\nContact: <sip:caller@" + p.local().String() + ">\r\n" +
		"Event: " + event + "\r\nSubscription-State: " + state + "\r\nContent-Type: message/sipfrag;version=2.0\r\n" +
		"Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body)
}

// TestReferToTheCallerFollowsItsNotify: our REFER carries the target in Refer-To; its outcome is the
// REFER's final response and the first final sipfrag; a garbage sipfrag gets 400, a NOTIFY of another
// event 481, and a caller that never reports costs the call only the wait it was given.
func TestReferToTheCallerFollowsItsNotify(t *testing.T) {
	type notifyStep struct {
		event, state, body string
		want               int
	}
	for _, tc := range []struct {
		name    string
		answer  string
		notifys []notifyStep
		want    ReferResult
	}{
		{"accepted and connected", "202 Accepted", []notifyStep{
			{"refer", "active;expires=60", "SIP/2.0 100 Trying\r\n", 200},
			{"refer;id=2", "terminated;reason=noresource", "SIP/2.0 200 OK\r\n", 200},
		}, ReferResult{ReferStatus: 202, NotifyStatus: 200}},
		{"declined", "603 Decline", nil, ReferResult{ReferStatus: 603}},
		{"accepted, target busy", "202 Accepted", []notifyStep{
			{"refer", "terminated", "SIP/2.0 486 Busy Here", 200},
		}, ReferResult{ReferStatus: 202, NotifyStatus: 486}},
		{"garbage sipfrag, then none", "202 Accepted", []notifyStep{
			{"refer", "active", "HELLO\x00\x01", 400},
			{"refer", "active", strings.Repeat("SIP/2.0 200 OK", 100), 400},
		}, ReferResult{ReferStatus: 202}},
		{"another event package", "202 Accepted", []notifyStep{
			{"presence", "active", "SIP/2.0 200 OK", 481},
		}, ReferResult{ReferStatus: 202}},
		{"never notified", "202 Accepted", nil, ReferResult{ReferStatus: 202}},
		{"subscription ended on a 1xx", "202 Accepted", []notifyStep{
			{"refer", "terminated;reason=timeout", "SIP/2.0 180 Ringing", 200},
		}, ReferResult{ReferStatus: 202, NotifyStatus: 180}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			callID := "refer-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			p, ok, results := referCall(t, callID, "sip:alice@example.com?X-Ticket=42", time.Second)
			refer, from := p.nextRequest("REFER", 2*time.Second)
			if refer == nil {
				t.Fatal("no REFER")
			}
			if got := testkit.SIPHeader(string(refer), "Refer-To"); got != "<sip:alice@example.com?X-Ticket=42>" {
				t.Errorf("Refer-To %q", got)
			}
			p.answer(refer, from, tc.answer)
			for i, n := range tc.notifys {
				if code := p.ask(notify(p, ok, callID, 2+i, n.event, n.state, n.body), 2*time.Second); code != n.want {
					t.Errorf("NOTIFY %d answered %d, want %d", i, code, n.want)
				}
			}
			select {
			case got := <-results:
				if got.err != nil || got.res != tc.want {
					t.Errorf("Refer: %+v, %v; want %+v", got.res, got.err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Refer did not return")
			}
		})
	}
}

// TestReferRefusesAHostileTargetBeforeSending: a target that would break the Refer-To line is refused
// and nothing reaches the caller.
func TestReferRefusesAHostileTargetBeforeSending(t *testing.T) {
	p, _, results := referCall(t, "refer-hostile", "sip:a@b\r\nRoute: <sip:evil>", time.Second)
	if got := <-results; !errors.Is(got.err, ErrControlCharacter) {
		t.Fatalf("Refer: %v, want ErrControlCharacter", got.err)
	}
	if msg, _ := p.nextRequest("REFER", 300*time.Millisecond); msg != nil {
		t.Fatalf("the caller got %q", firstLine(msg))
	}
}

// TestREFERFromPeers: a REFER outside any dialog gets 481 and counts against its source's rate limit;
// the caller's own REFERs in its call get 403 (transfers are not taken from peers), however many, and
// its BYE still ends the call.
func TestREFERFromPeers(t *testing.T) {
	srv := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{Requests: 3, Window: 10 * time.Second, Block: time.Minute}}},
		func(c *InboundCall) {
			if _, err := c.Answer(t.Context(), testRTP); err == nil {
				<-c.Done()
			}
		})
	refer := func(callID string) []byte {
		return []byte(strings.ReplaceAll(string(optionsRequest(callID, "Refer-To: <sip:evil@example.com>\r\n")), "OPTIONS", "REFER"))
	}
	stranger := newUDPPeer(t, srv.addr("udp"))
	for i := range 5 {
		want, wait := 481, 2*time.Second
		if i >= 3 {
			want, wait = -1, 200*time.Millisecond
		}
		if code := stranger.ask(refer(fmt.Sprintf("refer-flood-%d", i)), wait); code != want {
			t.Fatalf("stranger's REFER %d: %d, want %d (rate limit 3)", i, code, want)
		}
	}

	caller := newUDPPeerFrom(t, "127.0.0.2", srv.addr("udp"))
	caller.invite("refer-in-call")
	ok := caller.final(2 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q", firstLine(ok))
	}
	caller.ack(ok, "refer-in-call")
	to := testkit.SIPHeader(string(ok), "To")
	inDialog := func(method string, cseq int, extra string) []byte {
		return []byte(method + " sip:pivotua@" + caller.to.String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + caller.local().String() + ";rport;branch=z9hG4bK" + method + fmt.Sprint(cseq) + "\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + to + "\r\n" +
			"Call-ID: refer-in-call\r\nCSeq: " + fmt.Sprint(cseq) + " " + method + "\r\nContact: <sip:caller@" + caller.local().String() + ">\r\n" +
			extra + "Content-Length: 0\r\n\r\n")
	}
	for i := range 10 {
		if code := caller.ask(inDialog("REFER", 2+i, "Refer-To: <sip:carol@example.com>\r\n"), 2*time.Second); code != 403 {
			t.Fatalf("the caller's REFER %d in its call: %d, want 403", i, code)
		}
	}
	if code := caller.ask(inDialog("BYE", 20, ""), 2*time.Second); code != 200 {
		t.Fatalf("BYE after the REFERs: %d, want 200", code)
	}
}
