package sip

import (
	"bytes"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

func byeOf(t *testing.T, callID, fromTag, toTag string) *sipgosip.Request {
	t.Helper()
	to := "To: <sip:3004@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return parseInvite(t, []byte("BYE sip:3004@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-bye-"+callID+"\r\n"+
		"From: <sip:caller@127.0.0.1>;tag="+fromTag+"\r\n"+to+"\r\n"+
		"Call-ID: "+callID+"\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"))
}

// TestEndedMemoryRemembersADialogForItsSpan: a dialog whose BYE was answered is recalled for at least
// the span (Timer J) and at most twice it; another dialog (another Call-ID or tag) is not, nor a
// request without a To tag, which is within no dialog.
func TestEndedMemoryRemembersADialogForItsSpan(t *testing.T) {
	const span = 32 * time.Second
	m := newEndedMemory(span)
	t0 := m.since
	key := func(req *sipgosip.Request) uint64 {
		k, ok := m.dialogKey(req)
		if !ok {
			t.Fatalf("no key for %s", req.StartLine())
		}
		return k
	}
	bye := byeOf(t, "mem-1", "c1", "p1")
	m.remember(key(bye), t0.Add(span-time.Second)) // late in the first generation
	for _, tc := range []struct {
		req  *sipgosip.Request
		at   time.Duration
		want bool
	}{
		{bye, span, true},
		{bye, 2*span - 2*time.Second, true}, // span-1 s after it was answered: still remembered
		{byeOf(t, "mem-2", "c1", "p1"), span, false},
		{byeOf(t, "mem-1", "c2", "p1"), span, false},
		{byeOf(t, "mem-1", "c1", "p2"), span, false},
		{bye, 3 * span, false}, // a generation later it is gone
	} {
		if got := m.recalls(key(tc.req), t0.Add(tc.at)); got != tc.want {
			t.Errorf("%s of %s at +%v: recalled %v, want %v", tc.req.CallID().Value(), tc.req.From().Value(), tc.at, got, tc.want)
		}
	}
	if _, ok := m.dialogKey(byeOf(t, "mem-1", "c1", "")); ok {
		t.Error("a BYE without a To tag has a key")
	}

	// After an idle of two spans nothing is recalled, however recent the last generation began.
	m = newEndedMemory(span)
	t0 = m.since
	m.remember(key(bye), t0.Add(span+time.Second)) // rotates: cur began at span+1 s
	if !m.recalls(key(bye), t0.Add(2*span)) {
		t.Error("forgotten within its span")
	}
	if m.recalls(key(bye), t0.Add(4*span)) {
		t.Error("recalled two spans after")
	}
}

func TestForgetAnswerKeepsTheStatusAndTo(t *testing.T) {
	req := parseInvite(t, inviteRequest("forget-answer", ""))
	res := sipgosip.NewSDPResponseFromRequest(req, []byte("v=0\r\n"))
	res.To().Params.Add("tag", "ours")
	res.AppendHeader(sipgosip.NewHeader("Allow", "INVITE, ACK, BYE"))
	to := res.To().Value()
	forgetAnswer(res)
	if hs := res.Headers(); len(hs) != 1 || hs[0].Name() != "To" {
		t.Errorf("headers left: %v", hs)
	}
	if res.Body() != nil || res.Via() != nil || res.Contact() != nil {
		t.Errorf("body %q, Via %v, Contact %v left", res.Body(), res.Via(), res.Contact())
	}
	if !res.IsSuccess() || res.To().Value() != to {
		t.Errorf("status %d, To %q; want 200 and %q", res.StatusCode, res.To().Value(), to)
	}
}

// TestEndedMemoryRemembersAnInviteTransaction: an INVITE is recalled by its retransmission (no To
// tag) though the dialog's copy it was remembered by carries our tag, and not by another INVITE of
// the same caller (a new branch and CSeq, as after a 401) or another call.
func TestEndedMemoryRemembersAnInviteTransaction(t *testing.T) {
	m := newEndedMemory(32 * time.Second)
	inv := parseInvite(t, inviteRequest("mem-inv", ""))
	ours := inv.Clone()
	ours.To().Params.Add("tag", "ours")
	m.inviteAccepted(ours)
	if !m.inviteEnded(parseInvite(t, inviteRequest("mem-inv", ""))) {
		t.Error("the INVITE's retransmission is not recalled")
	}
	raw := bytes.Replace(inviteRequest("mem-inv", ""), []byte("CSeq: 1 INVITE"), []byte("CSeq: 2 INVITE"), 1)
	if m.inviteEnded(parseInvite(t, bytes.Replace(raw, []byte("branch=z9hG4bKmem-inv"), []byte("branch=z9hG4bKafter-401"), 1))) {
		t.Error("a new INVITE of the same call (new branch and CSeq) is recalled")
	}
	if m.inviteEnded(parseInvite(t, inviteRequest("mem-inv-2", ""))) {
		t.Error("another call's INVITE is recalled")
	}
	if m.byeEnded(byeOf(t, "mem-inv", "c1", "ours")) {
		t.Error("an accepted INVITE is taken for an answered BYE")
	}
}
