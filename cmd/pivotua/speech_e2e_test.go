package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
	"github.com/pivotua/pivotua/speech"
)

// spokenPCM is text said by flite's awb voice, at 8 kHz as a caller's phone sends it.
func spokenPCM(t *testing.T, text string) []int16 {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "spoken.wav")
	if out, err := exec.Command("flite", "-voice", "awb", "-t", text, "-o", wav).CombinedOutput(); err != nil {
		t.Fatalf("flite: %v: %s", err, out)
	}
	data, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := codec.DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	return codec.Resample(pcm, rate)
}

// TestE2ESpeechGatherHearsAHintedPhrase: a SIPp caller says "technical support" to a
// <Gather input="speech" hints=...>; the offline engine hears it as the caller speaks, the action
// gets it as SpeechResult with a Confidence, and the partialResultCallback gets what was heard so
// far, signed, numbered from 1.
func TestE2ESpeechGatherHearsAHintedPhrase(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice": static(`<Response><Gather input="speech" hints="sales, billing, technical support" speechTimeout="auto" timeout="6" action="heard" partialResultCallback="partial"/><Say>We heard nothing.</Say></Response>`),
		"/ivr/heard":   static(`<Response><Hangup/></Response>`),
		"/ivr/partial": static(`<Response/>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	pcap := sipptest.PCMUFile(t, sipptest.Silence(time.Second), sipptest.Audio(spokenPCM(t, "technical support")), sipptest.Silence(5*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: pcap}); err != nil {
		t.Fatal(err)
	}
	var heard twimlRequest
	partials := 0
	for _, r := range app.received() {
		assertSigned(t, r)
		switch r.Path {
		case "/ivr/heard":
			heard = r
		case "/ivr/partial":
			partials++
			if r.Form.Get("SequenceNumber") != strings.TrimSpace(string(rune('0'+partials))) || r.Form.Get("StableSpeechResult") == "" {
				t.Errorf("partial %d: SequenceNumber %q StableSpeechResult %q", partials, r.Form.Get("SequenceNumber"), r.Form.Get("StableSpeechResult"))
			}
		}
	}
	if heard.Path == "" {
		t.Fatalf("the action was not requested: %q\n%s", app.trail(), p.log.String())
	}
	got := heard.Form.Get("SpeechResult")
	t.Logf("SpeechResult %q Confidence %q, %d partial results", got, heard.Form.Get("Confidence"), partials)
	if !strings.Contains(got, "technical support") {
		t.Errorf("SpeechResult %q, want it to contain %q", got, "technical support")
	}
	if c := heard.Form.Get("Confidence"); c == "" || c == "0.00000000" {
		t.Errorf("Confidence %q, want a positive number", c)
	}
	if partials == 0 {
		t.Error("no partial result was posted to partialResultCallback")
	}
	if slices.Contains(app.trail(), "POST /ivr/voice") && heard.Form.Has("Digits") && heard.Form.Get("Digits") != "" {
		t.Errorf("Digits %q sent with a speech result", heard.Form.Get("Digits"))
	}
	_ = speech.WordErrorRate
}
