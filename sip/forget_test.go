package sip

import (
	"bytes"
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestForgetEmptiesARequestButItsStartLine(t *testing.T) {
	req := parseInvite(t, inviteRequest("forget-1", "User-Agent: SIPp\r\nSubject: Performance Test\r\n"))
	line := req.StartLine()
	forget(req)
	if hs := req.Headers(); len(hs) != 0 {
		t.Errorf("%d headers left, the first %q", len(hs), hs[0].Name())
	}
	if req.Body() != nil || req.Via() != nil || req.CSeq() != nil || req.CallID() != nil {
		t.Errorf("body or a header still readable: body %q via %v cseq %v call-id %v", req.Body(), req.Via(), req.CSeq(), req.CallID())
	}
	if got := req.StartLine(); got != line || !req.IsInvite() {
		t.Errorf("start line %q, want %q", got, line)
	}
}

// TestRetransmissionsAreAnsweredAfterTheirRequestsAreForgotten: once an INVITE is answered and
// acknowledged, and once a BYE is answered, pivotua empties the requests sipgo's transactions keep for
// 32 s (forget), and once the call is over it ends both transactions (endedMemory). A retransmitted
// INVITE is still absorbed (no second call, no answer), before and after the call ended, and a
// retransmitted BYE still gets the same 200 (RFC 3261 §17.2.2).
func TestRetransmissionsAreAnsweredAfterTheirRequestsAreForgotten(t *testing.T) {
	var calls atomic.Int32
	var first atomic.Pointer[InboundCall]
	local := netip.MustParseAddrPort("127.0.0.1:40004")
	srv := startTestServer(t, Config{}, func(c *InboundCall) {
		calls.Add(1)
		first.CompareAndSwap(nil, c)
		if _, err := c.Answer(context.Background(), local); err != nil {
			return
		}
		<-c.Done()
	})
	caller := callPeer(t, srv)
	caller.invite("forgotten")
	ok := caller.final(3 * time.Second)
	if statusOf(ok) != 200 {
		t.Fatalf("INVITE: %q, want 200", firstLine(ok))
	}
	caller.ack(ok, "forgotten")
	waitActive(t, srv, 1)

	caller.invite("forgotten") // the same branch: a retransmission
	if res := caller.final(500 * time.Millisecond); res != nil {
		t.Fatalf("a retransmitted INVITE after the ACK was answered: %q", firstLine(res))
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls reached the handler, want 1", n)
	}

	bye := caller.bye(ok, "forgotten")
	caller.send(bye)
	byeOK := caller.final(3 * time.Second)
	if statusOf(byeOK) != 200 {
		t.Fatalf("BYE: %q, want 200", firstLine(byeOK))
	}
	waitActive(t, srv, 0)
	caller.send(bye)
	again := caller.final(3 * time.Second)
	if statusOf(again) != 200 {
		t.Fatalf("retransmitted BYE: %q, want 200", firstLine(again))
	}
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if a, b := testkit.SIPHeader(string(byeOK), h), testkit.SIPHeader(string(again), h); a != b || a == "" {
			t.Errorf("%s of the 200 to the retransmitted BYE: %q, the first 200's %q", h, b, a)
		}
	}

	// The INVITE's transaction ended with the call, and its Timer L, which would hold it 32 s after
	// our 200, is stopped.
	tx := first.Load().tx
	select {
	case <-tx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the INVITE's transaction outlived its call by 2 s")
	}
	if l := timerL(tx); l == nil {
		t.Error("no Timer L found in the answered INVITE's transaction: has sipgo moved it?")
	} else if l.Stop() {
		t.Error("the INVITE's Timer L is still armed after the call")
	}
	caller.invite("forgotten")
	if res := caller.final(500 * time.Millisecond); res != nil {
		t.Fatalf("a retransmitted INVITE after the call was answered: %q", firstLine(res))
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls reached the handler, want 1", n)
	}
}

// TestCalleesRetransmittedByeIsAnswered: the BYE of a Dial's callee ends its transaction once
// answered too; resent after the leg is gone (our 200 was lost), it gets 200 again, while a BYE
// naming a dialog that never was gets 481.
func TestCalleesRetransmittedByeIsAnswered(t *testing.T) {
	caller := startTestServer(t, Config{}, rejectAll(486))
	callee := &calleePeer{udpPeer: newUDPPeer(t, caller.addr("udp"))}
	done := dialAsync(t, caller, OutboundRequest{Target: "sip:bob@" + callee.local().String(), FromUser: "alice", LocalRTP: testRTP})
	callee.answer(func(string) {})
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	bye := callee.inDialog("BYE", "Content-Length: 0\r\n\r\n")
	if code := callee.ask(bye, 2*time.Second); code != 200 {
		t.Fatalf("the callee's BYE: %d", code)
	}
	<-d.oc.Done()
	known := func() bool {
		caller.mu.Lock()
		defer caller.mu.Unlock()
		return caller.outbound[d.oc.CallID()] != nil
	}
	for deadline := time.Now().Add(2 * time.Second); known(); {
		if time.Now().After(deadline) {
			t.Fatal("the ended leg is still known")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := callee.ask(bye, 2*time.Second); code != 200 {
		t.Errorf("the callee's BYE resent after the leg ended: %d, want 200", code)
	}
	stranger := bytes.Replace(bytes.Replace(bye, []byte("tag=callee"), []byte("tag=someone-else"), 1), []byte("branch=z9hG4bK"), []byte("branch=z9hG4bKother"), 1)
	if code := callee.ask(stranger, 2*time.Second); code != 481 {
		t.Errorf("a BYE of another dialog: %d, want 481", code)
	}
}
