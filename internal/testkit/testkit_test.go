package testkit

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The tone judge must tell the tone asked for from silence and from another tone, or every test
// that judges audio with it passes on anything.
func TestClassifyTellsToneSilenceAndOtherSound(t *testing.T) {
	tone := Sine(1000, SampleRate, Samples(200*time.Millisecond, SampleRate), 0.4)
	other := Sine(440, SampleRate, Samples(200*time.Millisecond, SampleRate), 0.4)
	pcm := append(append(append([]int16{}, tone...), make([]int16, 10*FrameSamples)...), other...)
	kinds := Classify(pcm, 1000)
	if got := CountKind(kinds, ToneFrame); got != 10 {
		t.Errorf("%d tone frames, want 10", got)
	}
	if got := CountKind(kinds, SilentFrame); got != 10 {
		t.Errorf("%d silent frames, want 10", got)
	}
	if got, first := CountKind(kinds, OtherSound), FirstKind(kinds, OtherSound); got != 10 || first != 20 {
		t.Errorf("%d frames of other sound from frame %d, want 10 from 20", got, first)
	}
	if got := CountTone(pcm, 440); got != 10 {
		t.Errorf("CountTone at 440 Hz: %d, want 10", got)
	}
	if share := ToneShare(tone[:FrameSamples], 1000); share < 0.95 {
		t.Errorf("a pure tone's share is %.2f, want about 1", share)
	}
}

// A Webhook records a form POST and still hands its handler the whole body.
func TestWebhookRecordsAndPassesTheBodyOn(t *testing.T) {
	var handlerSaw string
	hook := NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		handlerSaw = string(b)
	})
	res, err := http.PostForm(hook.URL+"/voice?app=1", url.Values{"Digits": {"42"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	reqs := hook.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/voice" || r.Form.Get("app") != "1" || r.PostForm.Get("Digits") != "42" ||
		string(r.Body) != "Digits=42" || !strings.HasSuffix(r.URL, "/voice?app=1") {
		t.Errorf("recorded %+v", r)
	}
	if handlerSaw != "Digits=42" {
		t.Errorf("the handler read %q, want the whole body", handlerSaw)
	}
	if forms := hook.Forms("/voice"); len(forms) != 1 || forms[0].Get("Digits") != "42" {
		t.Errorf("Forms(/voice) = %v", forms)
	}
	hook.Reset()
	if n := len(hook.Requests()); n != 0 {
		t.Errorf("%d requests after Reset", n)
	}
}

func TestSIPHeaderFindsAnyCase(t *testing.T) {
	msg := "SIP/2.0 200 OK\r\nvia: SIP/2.0/UDP 127.0.0.1:5060\r\nCall-ID:  abc \r\n\r\n"
	if got := SIPHeader(msg, "Via"); got != "SIP/2.0/UDP 127.0.0.1:5060" {
		t.Errorf("Via = %q", got)
	}
	if got := SIPHeader(msg, "call-id"); got != "abc" {
		t.Errorf("Call-ID = %q", got)
	}
	if got := SIPHeader(msg, "To"); got != "" {
		t.Errorf("To = %q, want none", got)
	}
}
