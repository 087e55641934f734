package main

import (
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// whisperScreen is a call-screening document for the callee: a spoken prompt in a one-key Gather; no
// key hangs the callee up.
const whisperScreen = `<Response><Gather numDigits="1" action="/accept" timeout="3"><Say>Call for you. Press one to take it.</Say></Gather><Hangup/></Response>`

// TestE2EDialWhisperScreensTheCallee: <Sip url> runs a screening document on the callee once it
// answers. The callee hears the prompt and presses 1; only then are the parties bridged. Until then
// the caller hears ringback and nothing of the callee or the prompt. The document's requests carry
// the callee leg's own parameters.
func TestE2EDialWhisperScreensTheCallee(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, HangupAfterMs: 7000})
	hook := newTwiMLHook(t, map[string]string{
		"/voice":  fmt.Sprintf(`<Response><Dial action="/after" timeout="10"><Sip url="/screen" method="GET">sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/screen": whisperScreen,
		"/accept": `<Response/>`,
		"/after":  `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	go func() { // the callee listens to part of the prompt, then presses 1
		for deadline := time.Now().Add(15 * time.Second); len(hook.Forms("/screen")) == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		callee.digit <- '1'
	}()
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	voice, screen, accept, after := one(t, hook, "/voice"), one(t, hook, "/screen"), one(t, hook, "/accept"), one(t, hook, "/after")
	if screen == nil || accept == nil || after == nil || voice == nil {
		t.Fatalf("requests: voice %v, screen %v, accept %v, after %v\n%s", voice, screen, accept, after, p.log.String())
	}
	leg := screen.Get("CallSid")
	for k, want := range map[string]string{
		"Direction": "outbound-dial", "ParentCallSid": voice.Get("CallSid"), "CallStatus": "in-progress",
		"To": "bob", "From": "1000", "AccountSid": voice.Get("AccountSid"),
	} {
		if got := screen.Get(k); got != want {
			t.Errorf("the screen request's %s = %q, want %q", k, got, want)
		}
	}
	if leg == "" || leg == voice.Get("CallSid") {
		t.Errorf("the screen request's CallSid = %q: want the callee leg's own (the caller's is %q)", leg, voice.Get("CallSid"))
	}
	if accept.Get("Digits") != "1" || accept.Get("CallSid") != leg {
		t.Errorf("the Gather action got Digits=%q CallSid=%q, want 1 and %q", accept.Get("Digits"), accept.Get("CallSid"), leg)
	}
	if after.Get("DialCallStatus") != "completed" || after.Get("DialCallSid") != leg {
		t.Errorf("the Dial action got DialCallStatus=%q DialCallSid=%q, want completed and %q", after.Get("DialCallStatus"), after.Get("DialCallSid"), leg)
	}

	// The callee: the spoken prompt first, then the caller's 1 kHz once bridged.
	kinds := testkit.Classify(callee.heard(0), 1000)
	bridged := testkit.FirstKind(kinds, testkit.ToneFrame)
	if bridged < 0 || testkit.CountKind(kinds[bridged:], testkit.ToneFrame) < 100 {
		t.Fatalf("the callee heard %d frames of the caller's tone, want most of the bridge (over 2 s)", testkit.CountKind(kinds, testkit.ToneFrame))
	}
	if speech := testkit.CountKind(kinds[:bridged], testkit.OtherSound); speech < 40 {
		t.Errorf("the callee heard %d frames of speech before the bridge, want the screening prompt (over 0.8 s)", speech)
	}
	// The caller: ringback (or silence) until the callee's 600 Hz; never the prompt meant for the callee.
	pcm := caller.heard(0)
	first, rings, leaked := callerFramesBefore(pcm, 600)
	if first < 0 || testkit.CountTone(pcm, 600) < 100 {
		t.Fatalf("the caller heard %d frames of the callee's tone, want most of the bridge", testkit.CountTone(pcm, 600))
	}
	if rings < 50 {
		t.Errorf("the caller heard %d frames of ringback before the bridge, want the whole screening (over 1 s)", rings)
	}
	if leaked > 2 {
		t.Errorf("the caller heard %d frames that were neither ringback nor silence before the bridge: the callee's document leaked", leaked)
	}
}

// TestE2EDialWhisperDeclinedLeavesTheCallerUnbridged: the callee presses nothing; the screen hangs it
// up, the caller never hears it, and the Dial action gets no-answer with the callee leg's sid.
func TestE2EDialWhisperDeclinedLeavesTheCallerUnbridged(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	hook := newTwiMLHook(t, map[string]string{
		"/voice":  fmt.Sprintf(`<Response><Dial action="/after" timeout="10"><Sip url="/screen">sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/screen": whisperScreen,
		"/after":  `<Response><Say>Nobody took the call.</Say><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the declined callee did not get our BYE: %v", err)
	}
	screen, after := one(t, hook, "/screen"), one(t, hook, "/after")
	if screen == nil || after == nil {
		t.Fatalf("requests: screen %v, after %v\n%s", screen, after, p.log.String())
	}
	if screen.Get("Direction") != "outbound-dial" {
		t.Errorf("the screen request (POST, the default method) has Direction %q", screen.Get("Direction"))
	}
	if after.Get("DialCallStatus") != "no-answer" || after.Get("DialCallSid") != screen.Get("CallSid") {
		t.Errorf("the Dial action got DialCallStatus=%q DialCallSid=%q, want no-answer and %q", after.Get("DialCallStatus"), after.Get("DialCallSid"), screen.Get("CallSid"))
	}
	if n := testkit.CountTone(caller.heard(0), 600); n > 0 {
		t.Errorf("the caller heard %d frames of the declined callee", n)
	}
	if kinds := testkit.Classify(callee.heard(0), 1000); testkit.CountKind(kinds, testkit.ToneFrame) > 0 || testkit.CountKind(kinds, testkit.OtherSound) < 40 {
		t.Errorf("the callee heard %d frames of the caller and %d of the prompt; want none and the prompt", testkit.CountKind(kinds, testkit.ToneFrame), testkit.CountKind(kinds, testkit.OtherSound))
	}
}

// one is the only request the hook got on path, or nil (an error says how many came).
func one(t *testing.T, h *testkit.Webhook, path string) url.Values {
	t.Helper()
	reqs := h.Forms(path)
	if len(reqs) != 1 {
		t.Errorf("%s got %d requests, want 1", path, len(reqs))
		return nil
	}
	return reqs[0]
}

// callerFramesBefore looks at what the caller heard before the first frame of freq (the callee):
// frames of 440+480 Hz ringback, and frames that were neither ringback nor silence.
func callerFramesBefore(pcm []int16, freq float64) (first, rings, other int) {
	first = -1
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		f := pcm[i : i+codec.FrameSamples]
		if testkit.ToneShare(f, freq) > 0.8 {
			return i / codec.FrameSamples, rings, other
		}
		var sum float64
		for _, v := range f {
			sum += float64(v) * float64(v)
		}
		switch {
		case math.Sqrt(sum/float64(len(f))) < 100:
		case testkit.ToneShare(f, 440)+testkit.ToneShare(f, 480) > 0.8:
			rings++
		default:
			other++
		}
	}
	return first, rings, other
}

// TestE2EDialWhisperCallerHangupEndsTheCallee: the caller hangs up while the callee's screen runs; the
// callee gets BYE at once and the action URL hears that nobody was connected.
func TestE2EDialWhisperCallerHangupEndsTheCallee(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	hook := newTwiMLHook(t, map[string]string{
		"/voice":  fmt.Sprintf(`<Response><Dial action="/after"><Sip url="/screen">sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, uas.port),
		"/screen": whisperScreen,
		"/after":  `<Response><Say>nobody hears this</Say></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	after := callerHangsUpMidDial(t, p, caller, uas, hook)
	if screen := one(t, hook, "/screen"); screen != nil {
		if after.Get("DialCallStatus") != "no-answer" || after.Get("CallStatus") != "completed" || after.Get("DialCallSid") != screen.Get("CallSid") {
			t.Errorf("action params: DialCallStatus=%q CallStatus=%q DialCallSid=%q", after.Get("DialCallStatus"), after.Get("CallStatus"), after.Get("DialCallSid"))
		}
	}
	if n := testkit.CountTone(caller.heard(0), 600); n > 0 {
		t.Errorf("the caller heard %d frames of the callee during its screen", n)
	}
}
