package main

// End-to-end tests of transfers a bridged party asks for by REFER (sip.accept_refer): a SIPp caller
// calls a TwiML app that Dials a SIPp callee, and one of them REFERs pivotua to a third SIPp callee.
// Each party's audio is a Go RTP peer with its own tone (dial_e2e_test.go's dialPeer), so who hears
// whom is judged on the audio.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// referInData fills testdata/sipp/uas_refer_transfer.xml and uac_refer_transfer.xml.
type referInData struct {
	Service       string
	RTPPort       int
	Codec         int
	CodecName     string
	BeforeReferMs int
	ReferTo       string // the Refer-To URI
	Sipfrag       string // a regular expression the final NOTIFY's sipfrag must match
	Transferred   bool   // uas: the transfer succeeds, wait for pivotua's BYE
	HangupAfterMs int    // uas: otherwise stay this long after the final NOTIFY, then hang up
	LeaveEarly    bool   // uas: hang up right after the NOTIFY "100 Trying"
}

// acceptRefer turns sip.accept_refer on.
func acceptRefer(c *Config) { c.SIP.AcceptRefer = true }

// dialTo is a TwiML app whose /voice Dials the SIPp callee on port and whose /after hangs up.
func dialTo(t *testing.T, port int) *testkit.Webhook {
	return newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/after" timeout="10"><Sip>sip:bob@127.0.0.1:%d</Sip></Dial><Say>not reached</Say></Response>`, port),
		"/after": `<Response><Hangup/></Response>`,
	})
}

// TestE2EReferInFromTheCalleeTransfersItsLeg: the dialled callee B REFERs pivotua to C; B gets 202,
// NOTIFY 100 Trying and NOTIFY 200 OK, then our BYE (it did not hang up itself); C is dialled and
// answers, and the caller and C hear each other until C hangs up. The action URL reports the Dial as a
// whole: completed, and its duration runs from B's answer to C's hangup.
func TestE2EReferInFromTheCalleeTransfersItsLeg(t *testing.T) {
	needE2E(t)
	bPeer, cPeer := newDialPeer(t, codec.PCMU, 600), newDialPeer(t, codec.PCMU, 1400)
	c := startUAS(t, "uas_answer.xml", uasData{RTPPort: cPeer.port(), Codec: 0, HangupAfterMs: 3000})
	bRun := sipptest.Start(t, sipptest.Call{Scenario: "uas_refer_transfer.xml", Data: referInData{
		RTPPort: bPeer.port(), Codec: 0, CodecName: "PCMU", BeforeReferMs: 2000,
		ReferTo: fmt.Sprintf("sip:carol@127.0.0.1:%d", c.port), Sipfrag: "SIP/2.0 200 OK", Transferred: true,
	}})
	hook := dialTo(t, bRun.Port)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), acceptRefer)
	caller := newDialPeer(t, codec.PCMU, 1000)
	start := time.Now()
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := bRun.Wait(10 * time.Second); err != nil {
		t.Fatalf("B (the referrer): %v\n%s", err, p.log.String())
	}
	if err := c.wait(t, 10*time.Second); err != nil {
		t.Fatalf("C (the target): %v", err)
	}
	t.Logf("call took %v", time.Since(start))
	if n := testkit.CountTone(caller.heard(0), 1400); n < 80 {
		t.Errorf("the caller heard %d frames of C's 1400 Hz tone, want most of C's 3 s (150)", n)
	}
	if n := testkit.CountTone(cPeer.heard(0), 1000); n < 80 {
		t.Errorf("C heard %d frames of the caller's 1 kHz tone, want most of its 3 s (150)", n)
	}
	if n := testkit.CountTone(caller.heard(0), 600); n < 50 {
		t.Errorf("the caller heard %d frames of B's 600 Hz tone before the transfer, want most of 2 s (100)", n)
	}
	after := hook.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("action URL got %d requests, want 1\n%s", len(after), p.log.String())
	}
	q := after[0]
	if d, _ := strconv.Atoi(q.Get("DialCallDuration")); q.Get("DialCallStatus") != "completed" || d < 4 || d > 9 {
		t.Errorf("action: DialCallStatus=%q DialCallDuration=%q, want completed and B's 2 s plus C's 3 s",
			q.Get("DialCallStatus"), q.Get("DialCallDuration"))
	}
	if !strings.Contains(p.log.String(), "dial: transferred") {
		t.Errorf("no transfer in the log:\n%s", p.log.String())
	}
}

// TestE2EReferInGoesOnWhenTheReferrerLeavesAtOnce: B hangs up right after the NOTIFY "100 Trying", as
// a blind transferor may (RFC 5589 §6); the transfer goes on, and the caller and C hear each other.
func TestE2EReferInGoesOnWhenTheReferrerLeavesAtOnce(t *testing.T) {
	needE2E(t)
	bPeer, cPeer := newDialPeer(t, codec.PCMU, 600), newDialPeer(t, codec.PCMU, 1400)
	c := startUAS(t, "uas_answer.xml", uasData{RTPPort: cPeer.port(), Codec: 0, RingMs: 1000, HangupAfterMs: 3000})
	bRun := sipptest.Start(t, sipptest.Call{Scenario: "uas_refer_transfer.xml", Data: referInData{
		RTPPort: bPeer.port(), Codec: 0, CodecName: "PCMU", BeforeReferMs: 1000,
		ReferTo: fmt.Sprintf("sip:carol@127.0.0.1:%d", c.port), Sipfrag: "SIP/2.0 200 OK", LeaveEarly: true,
	}})
	hook := dialTo(t, bRun.Port)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), acceptRefer)
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := bRun.Wait(10 * time.Second); err != nil {
		t.Fatalf("B (the referrer): %v", err)
	}
	if err := c.wait(t, 10*time.Second); err != nil {
		t.Fatalf("C (the target): %v\n%s", err, p.log.String())
	}
	if n := testkit.CountTone(caller.heard(0), 1400); n < 80 {
		t.Errorf("the caller heard %d frames of C's 1400 Hz tone, want most of C's 3 s (150)", n)
	}
	if n := testkit.CountTone(cPeer.heard(0), 1000); n < 80 {
		t.Errorf("C heard %d frames of the caller's 1 kHz tone, want most of its 3 s (150)", n)
	}
}

// TestE2EReferInToABusyTargetKeepsTheBridge: B REFERs pivotua to a busy C (486) and to an address
// sip.egress denies; B gets the failure in its final NOTIFY (486, 403) and the caller still hears B
// until B hangs up.
func TestE2EReferInToABusyTargetKeepsTheBridge(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		name, sipfrag string
		target        func(t *testing.T) string
	}{
		{"busy", "SIP/2.0 486 Busy Here", func(t *testing.T) string {
			return fmt.Sprintf("sip:carol@127.0.0.1:%d", startUAS(t, "uas_busy.xml", uasData{}).port)
		}},
		{"egress denied", "SIP/2.0 403 Forbidden", func(t *testing.T) string { return "sip:carol@127.0.0.9:5060" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bPeer := newDialPeer(t, codec.PCMU, 600)
			bRun := sipptest.Start(t, sipptest.Call{Scenario: "uas_refer_transfer.xml", Data: referInData{
				RTPPort: bPeer.port(), Codec: 0, CodecName: "PCMU", BeforeReferMs: 1000,
				ReferTo: tc.target(t), Sipfrag: tc.sipfrag, HangupAfterMs: 2500,
			}})
			hook := dialTo(t, bRun.Port)
			p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), acceptRefer,
				func(c *Config) { c.SIP.Egress.DenyCIDRs = []string{"127.0.0.9/32"} })
			caller := newDialPeer(t, codec.PCMU, 1000)
			if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
				t.Fatal(err)
			}
			if err := bRun.Wait(10 * time.Second); err != nil {
				t.Fatalf("B (the referrer): %v\n%s", err, p.log.String())
			}
			// B talks 1 s before its REFER and 2.5 s after the final NOTIFY: the bridge never broke.
			if n := testkit.CountTone(caller.heard(0), 600); n < 120 {
				t.Errorf("the caller heard %d frames of B's tone, want most of 3.5 s (175)", n)
			}
			if n := testkit.CountTone(bPeer.heard(0), 1000); n < 120 {
				t.Errorf("B heard %d frames of the caller's tone, want most of 3.5 s (175)", n)
			}
			after := hook.Forms("/after")
			if len(after) != 1 || after[0].Get("DialCallStatus") != "completed" {
				t.Errorf("action requests %v, want one with DialCallStatus=completed", after)
			}
		})
	}
}

// TestE2EReferInFromTheCallerTransfersItsSide: the caller, bridged to B, REFERs pivotua to C; it gets
// 202 and NOTIFYs 100 and 200, then hangs up; B and C hear each other until C hangs up, and B then gets
// pivotua's BYE.
func TestE2EReferInFromTheCallerTransfersItsSide(t *testing.T) {
	needE2E(t)
	bPeer, cPeer := newDialPeer(t, codec.PCMU, 600), newDialPeer(t, codec.PCMU, 1400)
	b := startUAS(t, "uas_answer.xml", uasData{RTPPort: bPeer.port(), Codec: 0})
	c := startUAS(t, "uas_answer.xml", uasData{RTPPort: cPeer.port(), Codec: 0, HangupAfterMs: 3000})
	hook := dialTo(t, b.port)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), acceptRefer)
	caller := newDialPeer(t, codec.PCMU, 1000)
	_, err := sipptest.Run(t, sipptest.Call{Scenario: "uac_refer_transfer.xml", Target: p.sipAddr(), PeerLogs: p.logs,
		Data: referInData{Service: "3004", RTPPort: caller.port(), Codec: 0, CodecName: "PCMU", BeforeReferMs: 2000,
			ReferTo: fmt.Sprintf("sip:carol@127.0.0.1:%d", c.port), Sipfrag: "SIP/2.0 200 OK"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.wait(t, 15*time.Second); err != nil {
		t.Fatalf("C (the target): %v\n%s", err, p.log.String())
	}
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatalf("B (the other party): %v\n%s", err, p.log.String())
	}
	if n := testkit.CountTone(bPeer.heard(0), 1400); n < 80 {
		t.Errorf("B heard %d frames of C's 1400 Hz tone, want most of C's 3 s (150)", n)
	}
	if n := testkit.CountTone(cPeer.heard(0), 600); n < 80 {
		t.Errorf("C heard %d frames of B's 600 Hz tone, want most of its 3 s (150)", n)
	}
	if n := testkit.CountTone(cPeer.heard(0), 1000); n > 5 {
		t.Errorf("C heard %d frames of the caller, who had left", n)
	}
}

// TestE2EReferInOutsideADialIsRefused: with sip.accept_refer on, a REFER in a call that no Dial
// bridges gets 403 (pivotua transfers only bridged legs), and the call goes on.
func TestE2EReferInOutsideADialIsRefused(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Play loop="0">/tone.wav</Play></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"), acceptRefer)
	if err := runSIPp(t, p, "uac_refer_in.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Expect: 403}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.log.String(), "only transfers a leg bridged by a Dial") {
		t.Errorf("the refusal's reason is not in the log:\n%s", p.log.String())
	}
}
