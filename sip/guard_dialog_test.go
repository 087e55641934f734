package sip

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// TestLiveCallIDIsNoRateLimitPassForStrangers: a request that copies a live
// outbound call's Call-ID, and even its tags, counts against its source's rate
// limit unless it comes from the dialog's peer with the dialog's tags
// (issue 18 item 4: the Call-ID alone used to exempt anyone).
func TestLiveCallIDIsNoRateLimitPassForStrangers(t *testing.T) {
	caller := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{Requests: 2, Window: 10 * time.Second, Block: time.Minute}}}, rejectAll(486))
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.addr("udp"))}
	done := make(chan error, 1)
	go func() {
		_, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:bob@" + callee.local().String(), FromUser: "alice", LocalRTP: testRTP})
		done <- err
	}()
	callee.answer(func(string) {})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The stranger replays the callee's own in-dialog OPTIONS, Call-ID and tags included.
	stranger := newUDPPeerFrom(t, "127.0.0.2", caller.addr("udp"))
	for i := range 4 {
		want, wait := 200, 2*time.Second
		if i >= 2 {
			want, wait = -1, 300*time.Millisecond
		}
		req := bytes.Replace(callee.inDialog("OPTIONS", "Content-Length: 0\r\n\r\n"), []byte(callee.local().String()), []byte(stranger.local().String()), 1)
		if code := stranger.ask(req, wait); code != want {
			t.Fatalf("stranger's OPTIONS %d with the live Call-ID: %d, want %d (rate limit 2)", i, code, want)
		}
	}
	// The callee itself, with the right tags, is still exempt.
	for i := range 4 {
		if code := callee.ask(callee.inDialog("OPTIONS", "Content-Length: 0\r\n\r\n"), 2*time.Second); code != 200 {
			t.Fatalf("callee's in-dialog OPTIONS %d: %d, want 200", i, code)
		}
	}
	// From the callee's address but with another From tag it is not the dialog's.
	callID := testkit.SIPHeader(string(callee.invite), "Call-ID")
	ourTag := tagParam(testkit.SIPHeader(string(callee.invite), "From"))
	loopback := netip.MustParseAddr("127.0.0.1")
	for _, k := range []requestKey{
		{method: "INFO", callID: callID, fromTag: "other", toTag: ourTag, src: loopback},
		{method: "INFO", callID: callID, fromTag: "callee", toTag: "", src: loopback},
		{method: "INFO", callID: callID, fromTag: "callee", toTag: "wrong", src: loopback},
		{method: "INVITE", callID: callID, src: loopback},
	} {
		if !caller.guard.counted(k) {
			t.Errorf("%+v is exempt from the rate limit", k)
		}
	}
}

// TestInboundCallIDIsNoRateLimitPassForStrangers: the same for an inbound
// call: its caller's in-dialog requests (and CANCEL) are exempt, a copy of
// its Call-ID from elsewhere or without its tags is not.
func TestInboundCallIDIsNoRateLimitPassForStrangers(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 1)
	srv := startTestServer(t, Config{}, holdCalls(release, started))
	defer close(release)
	caller := newUDPPeer(t, srv.addr("udp"))
	caller.send(viaToPeer(inviteRequest("live-in", ""), caller.local()))
	var callID string
	select {
	case callID = <-started:
	case <-time.After(2 * time.Second):
		t.Fatal("the call never reached the handler")
	}
	srv.mu.Lock()
	var ourTag string
	for _, c := range srv.calls {
		ourTag, _ = c.dlg.InviteRequest.To().Params.Get("tag")
	}
	srv.mu.Unlock()
	loopback, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	for _, tc := range []struct {
		k    requestKey
		want bool
	}{
		{requestKey{method: "INFO", callID: callID, fromTag: "c1", toTag: ourTag, src: loopback}, false},
		{requestKey{method: "CANCEL", callID: callID, fromTag: "c1", src: loopback}, false},
		{requestKey{method: "INFO", callID: callID, fromTag: "c1", toTag: ourTag, src: other}, true},
		{requestKey{method: "OPTIONS", callID: callID, src: other}, true},
		{requestKey{method: "OPTIONS", callID: callID, src: loopback}, true},
		{requestKey{method: "CANCEL", callID: callID, fromTag: "x", src: loopback}, true},
	} {
		if got := srv.guard.counted(tc.k); got != tc.want {
			t.Errorf("counted(%+v) = %v, want %v", tc.k, got, tc.want)
		}
	}
}

func TestTagParam(t *testing.T) {
	for v, want := range map[string]string{
		`"A;tag=x" <sip:a@b;tag=uri>;tag=123`: "123",
		`<sip:a@b>`:                           "",
		`sip:a@b;tag=9`:                       "9",
		`<sip:a@b>; TAG = 7 ;x=y`:             "7",
		`"unterminated <sip:a@b`:              "",
	} {
		if got := tagParam(v); got != want {
			t.Errorf("tagParam(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestRefusedINVITEFloodIsSummarized: INVITEs from outside allow_cidrs, which
// anyone can send at will, are logged one by one only at debug; above it, a
// flood is one summary line.
func TestRefusedINVITEFloodIsSummarized(t *testing.T) {
	lines := &logLines{}
	srv := startTestServer(t, Config{Logger: slog.New(lines), AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	for i := range 50 {
		if code := p.ask(inviteRequest(fmt.Sprintf("acl-flood-%d", i), ""), 2*time.Second); code != 403 {
			t.Fatalf("INVITE %d from outside allow_cidrs: %d, want 403", i, code)
		}
	}
	if loud := lines.atOrAbove(slog.LevelInfo); len(loud) > 2 {
		t.Errorf("50 refused INVITEs gave %d log lines above debug, want at most 2; first: %s", len(loud), loud[0].Message)
	}
}

// TestStrangerBYEAndACKFloodsAreRateLimited: BYE and ACK are exempt from the
// rate limit only within a live dialog, like any in-dialog request (issue 18
// follow-up): a stranger flooding BYEs or ACKs with made-up Call-IDs is
// counted and blocked, while a caller blocked for its own flood can still
// end its live call with BYE.
func TestStrangerBYEAndACKFloodsAreRateLimited(t *testing.T) {
	srv := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{Requests: 3, Window: 10 * time.Second, Block: time.Minute}}},
		func(c *InboundCall) {
			if _, err := c.Answer(t.Context(), testRTP); err == nil {
				<-c.Done()
			}
		})
	bye := func(callID string) []byte {
		return bytes.ReplaceAll(optionsRequest(callID, ""), []byte("OPTIONS"), []byte("BYE"))
	}
	flood := newUDPPeer(t, srv.addr("udp"))
	for i := range 6 {
		want, wait := 481, 2*time.Second
		if i >= 3 {
			want, wait = -1, 200*time.Millisecond
		}
		if code := flood.ask(bye(fmt.Sprintf("bye-flood-%d", i)), wait); code != want {
			t.Fatalf("stranger's BYE %d with a made-up Call-ID: %d, want %d (rate limit 3)", i, code, want)
		}
	}
	acks := newUDPPeerFrom(t, "127.0.0.2", srv.addr("udp"))
	for i := range 3 {
		acks.send(viaToPeer(bytes.ReplaceAll(optionsRequest(fmt.Sprintf("ack-flood-%d", i), ""), []byte("OPTIONS"), []byte("ACK")), acks.local()))
	}
	if code := acks.ask(optionsRequest("after-acks", ""), 300*time.Millisecond); code != -1 {
		t.Fatalf("OPTIONS after 3 stray ACKs over a limit of 3: %d, want none (the ACKs count)", code)
	}

	// A caller in a live call floods OPTIONS and is blocked; its BYE still ends the call.
	caller := newUDPPeerFrom(t, "127.0.0.3", srv.addr("udp"))
	caller.invite("live-bye")
	ok := caller.final(2 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q", firstLine(ok))
	}
	caller.ack(ok, "live-bye")
	for i := range 4 {
		caller.ask(optionsRequest(fmt.Sprintf("caller-flood-%d", i), ""), 200*time.Millisecond)
	}
	if code := caller.ask(optionsRequest("caller-blocked", ""), 200*time.Millisecond); code != -1 {
		t.Fatalf("the flooding caller is not blocked: OPTIONS answered %d", code)
	}
	to := testkit.SIPHeader(string(ok), "To")
	inDialogBye := "BYE sip:pivotua@" + caller.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + caller.local().String() + ";rport;branch=z9hG4bKbye-live\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: " + to + "\r\n" +
		"Call-ID: live-bye\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	if code := caller.ask([]byte(inDialogBye), 2*time.Second); code != 200 {
		t.Fatalf("the blocked caller's BYE in its live call: %d, want 200", code)
	}
}

// TestACKOfARejectedCallIsExempt: the ACK of our non-2xx final response
// (RFC 3261 §17.2.1) matches the call's dialog, which sipgo keeps until that
// ACK arrives, so it is not counted; the same ACK from elsewhere or with
// another tag is.
func TestACKOfARejectedCallIsExempt(t *testing.T) {
	srv := startTestServer(t, Config{}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	p.send(viaToPeer(inviteRequest("rejected-ack", ""), p.local()))
	res := p.final(2 * time.Second)
	if statusOf(res) != 486 {
		t.Fatalf("INVITE: %q, want 486", firstLine(res))
	}
	ourTag := tagParam(testkit.SIPHeader(string(res), "To"))
	loopback, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	if srv.guard.counted(requestKey{method: "ACK", callID: "rejected-ack", fromTag: "c1", toTag: ourTag, src: loopback}) {
		t.Errorf("the ACK of our 486 would be counted")
	}
	for _, k := range []requestKey{
		{method: "ACK", callID: "rejected-ack", fromTag: "c1", toTag: ourTag, src: other},
		{method: "ACK", callID: "rejected-ack", fromTag: "c1", toTag: "wrong", src: loopback},
		{method: "BYE", callID: "other-call", fromTag: "c1", toTag: ourTag, src: loopback},
	} {
		if !srv.guard.counted(k) {
			t.Errorf("%+v is exempt", k)
		}
	}
}
