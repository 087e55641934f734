package sip

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// TestReferInIsTakenOnlyByABridgedLeg: with sip.accept_refer on, a caller's REFER gets 403 until the
// call's owner takes transfers (a leg bridged by a Dial); then a hostile Refer-To gets its own answer
// (400, 501 for Replaces), a good one 202 and a NOTIFY "100 Trying", a second while it runs 491; the
// outcome goes in a terminated NOTIFY, after a 2xx our BYE follows, and a leg gets at most three.
func TestReferInIsTakenOnlyByABridgedLeg(t *testing.T) {
	enable, registered := make(chan struct{}), make(chan struct{})
	transfers := make(chan *Transfer, 4)
	srv := startTestServer(t, Config{AcceptRefer: true}, func(c *InboundCall) {
		if _, err := c.Answer(t.Context(), testRTP); err != nil {
			return
		}
		<-enable
		c.OnTransfer(func(tr *Transfer) bool { transfers <- tr; return true })
		close(registered)
		<-c.Done()
	})
	const callID = "refer-in-bridged"
	p := callPeer(t, srv)
	p.invite(callID)
	ok := p.final(2 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q", firstLine(ok))
	}
	p.ack(ok, callID)
	to := testkit.SIPHeader(string(ok), "To")
	cseq := 1
	refer := func(headers string) []byte {
		cseq++
		return []byte("REFER sip:pivotua@" + p.to.String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + p.local().String() + ";rport;branch=z9hG4bKrefer" + fmt.Sprint(cseq) + "\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + to + "\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: " + fmt.Sprint(cseq) + " REFER\r\nContact: <sip:caller@" + p.local().String() + ">\r\n" +
			headers + "Content-Length: 0\r\n\r\n")
	}
	askWarn := func(msg []byte, want int, warning string) {
		t.Helper()
		p.send(viaToPeer(msg, p.local()))
		res := p.final(2 * time.Second)
		if got, wantCSeq := testkit.SIPHeader(string(res), "CSeq"), testkit.SIPHeader(string(msg), "CSeq"); got != wantCSeq {
			t.Fatalf("answer to CSeq %q is for %q", wantCSeq, got)
		}
		if code := statusOf(res); code != want {
			t.Fatalf("REFER %q: answered %q (Warning %q), want %d", firstLine(msg), firstLine(res), testkit.SIPHeader(string(res), "Warning"), want)
		}
		if w := testkit.SIPHeader(string(res), "Warning"); !strings.Contains(w, warning) {
			t.Errorf("answer %d: Warning %q, want it to say %q", want, w, warning)
		}
	}
	// followNotify reads our next NOTIFY, answers it 200 and checks its sipfrag and subscription state.
	followNotify := func(sipfrag, state string) {
		t.Helper()
		msg, from := p.nextRequest("NOTIFY", 3*time.Second)
		if msg == nil {
			t.Fatalf("no NOTIFY %q", sipfrag)
		}
		p.answer(msg, from, "200 OK")
		_, body, _ := strings.Cut(string(msg), "\r\n\r\n")
		if body != sipfrag+"\r\n" {
			t.Errorf("NOTIFY body %q, want %q", body, sipfrag)
		}
		if got := testkit.SIPHeader(string(msg), "Subscription-State"); !strings.HasPrefix(got, state) {
			t.Errorf("Subscription-State %q, want %s", got, state)
		}
		if got := testkit.SIPHeader(string(msg), "Event"); !strings.HasPrefix(got, "refer;id=") {
			t.Errorf("Event %q, want refer;id=", got)
		}
		if got := testkit.SIPHeader(string(msg), "Content-Type"); !strings.HasPrefix(got, "message/sipfrag") {
			t.Errorf("Content-Type %q", got)
		}
	}

	good := "Refer-To: <sip:carol@example.com:5070?X-Case=7>\r\nReferred-By: \"Bob\" <sip:bob@127.0.0.1:5099;transport=udp>;cid=x\r\n"
	askWarn(refer(good), 403, "bridged")
	close(enable)
	<-registered
	for _, tc := range []struct {
		name, headers string
		want          int
		warning       string
	}{
		{"no Refer-To", "", 400, "0 Refer-To"},
		{"two Refer-To", "Refer-To: <sip:a@b>\r\nRefer-To: <sip:c@d>\r\n", 400, "2 Refer-To"},
		{"not sip", "Refer-To: <http://evil.example/x>\r\n", 400, "not a sip"},
		{"tel", "Refer-To: <tel:+14155550100>\r\n", 400, "not a sip"},
		{"control character", "Refer-To: <sip:a\x01b@example.com>\r\n", 400, "control character"},
		{"huge", "Refer-To: <sip:" + strings.Repeat("a", 2000) + "@example.com>\r\n", 400, "over 1024"},
		{"Replaces", "Refer-To: <sip:carol@example.com?Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n", 501, "Replaces"},
		{"Route header", "Refer-To: <sip:carol@example.com?Route=%3Csip:evil%3E>\r\n", 400, "only X- headers"},
		{"no host", "Refer-To: <sip:>\r\n", 400, ""},
	} {
		askWarn(refer(tc.headers), tc.want, tc.warning)
	}

	finishWith := func(code int, reason, sipfrag string) {
		t.Helper()
		askWarn(refer(good), 202, "")
		var tr *Transfer
		select {
		case tr = <-transfers:
		case <-time.After(2 * time.Second):
			t.Fatal("the owner got no Transfer")
		}
		if tr.Target != "sip:carol@example.com:5070" || tr.ReferredBy != "<sip:bob@127.0.0.1:5099>" {
			t.Errorf("Transfer target %q, referred by %q", tr.Target, tr.ReferredBy)
		}
		followNotify("SIP/2.0 100 Trying", "active")
		askWarn(refer(good), 491, "in progress")
		tr.timeout = 300 * time.Millisecond
		go tr.Finish(code, reason)
		followNotify(sipfrag, "terminated")
	}
	finishWith(486, "Busy Here", "SIP/2.0 486 Busy Here")
	finishWith(503, "Service\r\nUnavailable", "SIP/2.0 503 Unknown") // a reason with CR LF is not written
	finishWith(200, "OK", "SIP/2.0 200 OK")
	askWarn(refer(good), 403, "at most 3")
	if bye := p.request("BYE", 3*time.Second); bye == nil {
		t.Fatal("no BYE after the successful transfer's grace")
	}
}

// TestReferInFromADialledCallee: a Dial leg's INVITE carries the Referred-By it was given (RFC 3892);
// the callee's REFER gets 403 until the leg's owner takes transfers, then 202 and a NOTIFY sent in
// the callee's dialog (our tag in From, its own in To); a REFER naming another To tag gets 481.
func TestReferInFromADialledCallee(t *testing.T) {
	caller := startTestServer(t, Config{AcceptRefer: true}, rejectAll(486))
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.addr("udp"))}
	done := make(chan *OutboundCall, 1)
	go func() {
		oc, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:carol@" + callee.local().String(), FromUser: "alice",
			LocalRTP: testRTP, ReferredBy: "<sip:bob@127.0.0.1:5099>"})
		if err != nil {
			t.Error(err)
		}
		done <- oc
	}()
	callee.answer(func(string) {})
	oc := <-done
	if oc == nil {
		t.FailNow()
	}
	if got := testkit.SIPHeader(string(callee.invite), "Referred-By"); got != "<sip:bob@127.0.0.1:5099>" {
		t.Errorf("INVITE Referred-By %q", got)
	}
	refer := func(extra string) []byte {
		return callee.inDialog("REFER", "Refer-To: <sip:dave@example.com>\r\n"+extra+"Content-Length: 0\r\n\r\n")
	}
	if code := callee.ask(refer(""), 2*time.Second); code != 403 {
		t.Fatalf("REFER before the owner takes transfers: %d, want 403", code)
	}
	transfers := make(chan *Transfer, 1)
	oc.OnTransfer(func(tr *Transfer) bool { transfers <- tr; return true })
	wrongTag := strings.Replace(string(refer("")), ";tag="+tagParam(testkit.SIPHeader(string(callee.invite), "From")), ";tag=someone-else", 1)
	if code := callee.ask([]byte(wrongTag), 2*time.Second); code != 481 {
		t.Errorf("REFER with another To tag: %d, want 481", code)
	}
	if code := callee.ask(refer(""), 2*time.Second); code != 202 {
		t.Fatalf("REFER once taken: %d, want 202", code)
	}
	tr := <-transfers
	if tr.Target != "sip:dave@example.com" || tr.ReferredBy != "" {
		t.Errorf("Transfer %q by %q", tr.Target, tr.ReferredBy)
	}
	msg, from := callee.nextRequest("NOTIFY", 3*time.Second)
	if msg == nil {
		t.Fatal("no NOTIFY in the callee's dialog")
	}
	callee.udpPeer.answer(msg, from, "200 OK")
	if got := tagParam(testkit.SIPHeader(string(msg), "To")); got != "callee" {
		t.Errorf("NOTIFY To tag %q, want the callee's", got)
	}
	if got, want := tagParam(testkit.SIPHeader(string(msg), "From")), tagParam(testkit.SIPHeader(string(callee.invite), "From")); got != want {
		t.Errorf("NOTIFY From tag %q, want ours %q", got, want)
	}
	tr.timeout = time.Hour // the callee hangs up itself below
	go tr.Finish(404, "Not Found")
	if msg, from = callee.nextRequest("NOTIFY", 3*time.Second); msg == nil || !strings.Contains(string(msg), "SIP/2.0 404 Not Found") {
		t.Fatalf("final NOTIFY %q", msg)
	}
	callee.udpPeer.answer(msg, from, "200 OK")
	if code := callee.ask(callee.inDialog("BYE", "Content-Length: 0\r\n\r\n"), 2*time.Second); code != 200 {
		t.Fatalf("the callee's BYE: %d", code)
	}
}

// TestAllowNamesREFEROnlyWhenTransfersAreTaken: a peer that reads Allow (here in our OPTIONS answer)
// tries REFER only when sip.accept_refer would take it.
func TestAllowNamesREFEROnlyWhenTransfersAreTaken(t *testing.T) {
	for _, accept := range []bool{false, true} {
		srv := startTestServer(t, Config{AcceptRefer: accept}, rejectAll(486))
		peer := newUDPPeer(t, srv.addr("udp"))
		peer.send(viaToPeer(optionsRequest(fmt.Sprintf("allow-%v", accept), ""), peer.local()))
		res := peer.final(2 * time.Second)
		allow := testkit.SIPHeader(string(res), "Allow")
		if !strings.Contains(allow, "NOTIFY") || strings.Contains(allow, "REFER") != accept {
			t.Errorf("accept_refer %v: Allow %q", accept, allow)
		}
	}
}
