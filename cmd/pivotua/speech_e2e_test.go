package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
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

// TestE2ESpeechGatherHearsAHintedPhrase: a SIPp caller says "technical support" over a
// <Gather input="speech" hints=...>'s long prompt; the offline engine hears it as the caller
// speaks, the caller's voice stops the prompt (bargeIn), the action gets it as SpeechResult with a
// Confidence, and the partialResultCallback gets what was heard so far, signed, numbered from 1.
func TestE2ESpeechGatherHearsAHintedPhrase(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice":   static(`<Response><Gather input="speech" hints="sales, billing, technical support" speechTimeout="auto" timeout="6" action="heard" partialResultCallback="partial"><Say loop="5">Please say the department you want, for example sales, billing or technical support.</Say></Gather><Say>We heard nothing.</Say></Response>`),
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
	reqs := app.received()
	for _, r := range reqs {
		assertSigned(t, r)
		switch r.Path {
		case "/ivr/heard":
			heard = r
		case "/ivr/partial":
			partials++
			if r.Form.Get("SequenceNumber") != strconv.Itoa(partials) || r.Form.Get("StableSpeechResult") == "" {
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
	// The prompt lasts five times 5 s; the caller stops speaking 2.5 s in.
	if d := heard.At.Sub(reqs[0].At); d > 12*time.Second {
		t.Errorf("the action came %v after the call started: the caller's voice did not stop the prompt", d)
	}
	if heard.Form.Get("Digits") != "" {
		t.Errorf("Digits %q sent with a speech result", heard.Form.Get("Digits"))
	}
}

// TestE2ESpeechRecordTranscribePostsTheText: a caller says a sentence to <Record transcribe
// transcribeCallback>; once the call goes on, the callback gets Twilio's transcription parameters,
// signed, through the upload spool, and the text shares at least half its words with the sentence.
func TestE2ESpeechRecordTranscribePostsTheText(t *testing.T) {
	needE2E(t)
	const sentence = "I would like to talk to someone about my account"
	app := newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice":       static(`<Response><Record transcribe="true" transcribeCallback="transcribed" action="recorded" timeout="2" playBeep="false"/></Response>`),
		"/ivr/recorded":    static(`<Response><Hangup/></Response>`),
		"/ivr/transcribed": static(``),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	pcap := sipptest.PCMUFile(t, sipptest.Silence(time.Second), sipptest.Audio(spokenPCM(t, sentence)), sipptest.Silence(4*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: pcap}); err != nil {
		t.Fatal(err)
	}
	var cb twimlRequest
	for deadline := time.Now().Add(30 * time.Second); cb.Path == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, r := range app.received() {
			if r.Path == "/ivr/transcribed" {
				cb = r
			}
		}
	}
	if cb.Path == "" {
		t.Fatalf("no transcription callback: %q\n%s", app.trail(), p.log.String())
	}
	if !httpfetch.ValidateTwilioSignature("e2e-key", cb.URL, cb.Body, cb.Signature) {
		t.Errorf("transcription callback: X-Twilio-Signature %q does not validate", cb.Signature)
	}
	f := cb.Body
	text := f.Get("TranscriptionText")
	wer := speech.WordErrorRate(sentence, text)
	t.Logf("TranscriptionText %q: word error rate %.2f against %q", text, wer, sentence)
	if f.Get("TranscriptionStatus") != "completed" || !regexp.MustCompile(`^TR[0-9a-f]{32}$`).MatchString(f.Get("TranscriptionSid")) ||
		!regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(f.Get("RecordingSid")) || f.Get("RecordingUrl") == "" ||
		f.Get("CallSid") == "" || f.Get("AccountSid") == "" {
		t.Errorf("callback parameters %v", f)
	}
	if wer > 0.5 {
		t.Errorf("TranscriptionText %q shares less than half the words of %q (WER %.2f)", text, sentence, wer)
	}
}

// TestE2ESpeechKazooCollectsSpeechAndTranscribesARecording: a Kazoo document's collect_dtmf with
// "speech": true hears a hinted word (the next pivot request gets SpeechResult), then record_caller
// with transcribe_url records a sentence and posts its transcription, signed, to transcribe_url.
func TestE2ESpeechKazooCollectsSpeechAndTranscribesARecording(t *testing.T) {
	needE2E(t)
	const sentence = "I would like to talk to someone about my account"
	type callback struct {
		header http.Header
		form   url.Values
	}
	transcribed := make(chan callback, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		select {
		case transcribed <- callback{r.Header, r.PostForm}:
		default:
		}
	}))
	defer target.Close()
	hook := newWebhook(t, func(w *webhook) any {
		if len(w.received()) > 1 {
			return map[string]any{"module": "hangup", "data": map[string]any{}}
		}
		return map[string]any{
			"module": "collect_dtmf", "data": map[string]any{"speech": true, "hints": "sales,billing,technical support", "speech_timeout": 800, "timeout": 6000},
			"children": map[string]any{"_": map[string]any{
				"module": "record_caller", "data": map[string]any{"format": "wav", "time_limit": 5, "transcribe_url": target.URL + "/transcribed"},
				"children": map[string]any{"_": map[string]any{
					"module": "pivot", "data": map[string]any{"voice_url": w.URL + "/voice?step=done"},
				}},
			}},
		}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	pcap := sipptest.PCMUFile(t, sipptest.Silence(time.Second), sipptest.Audio(spokenPCM(t, "billing")), sipptest.Silence(2*time.Second),
		sipptest.Audio(spokenPCM(t, sentence)), sipptest.Silence(5*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: pcap}); err != nil {
		t.Fatal(err)
	}
	reqs := hook.received()
	if len(reqs) != 2 {
		t.Fatalf("webhook got %d requests, want 2:\n%s", len(reqs), p.log.String())
	}
	if got := reqs[1].Get("SpeechResult"); got != "billing" {
		t.Errorf("SpeechResult %q, want billing (request %v)", got, reqs[1])
	}
	var cb callback
	select {
	case cb = <-transcribed:
	case <-time.After(30 * time.Second):
		t.Fatalf("no transcription reached transcribe_url\n%s", p.log.String())
	}
	form := cb.form
	if !httpfetch.ValidateTwilioSignature("e2e-key", target.URL+"/transcribed", form, cb.header.Get("X-Twilio-Signature")) {
		t.Errorf("X-Twilio-Signature %q does not validate", cb.header.Get("X-Twilio-Signature"))
	}
	text := form.Get("TranscriptionText")
	wer := speech.WordErrorRate(sentence, text)
	t.Logf("SpeechResult %q; TranscriptionText %q: word error rate %.2f", reqs[1].Get("SpeechResult"), text, wer)
	if form.Get("TranscriptionStatus") != "completed" || form.Get("RecordingUrl") == "" || wer > 0.5 {
		t.Errorf("transcription %v (WER %.2f)", form, wer)
	}
}

// TestE2ESpeechHTTPEngine: with speech.engine http, a <Gather input="speech"> streams the caller's
// audio to the operator's speech service, signed, with the document's language and hints, and the
// service's answer is the action's SpeechResult and Confidence.
func TestE2ESpeechHTTPEngine(t *testing.T) {
	needE2E(t)
	type seen struct {
		header http.Header
		url    string
		bytes  int
	}
	got := make(chan seen, 1)
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got <- seen{r.Header, "http://" + r.Host + r.URL.RequestURI(), int(n)}
		io.WriteString(w, `{"text":"je voudrais le service commercial","confidence":0.91}`)
	}))
	defer service.Close()
	app := newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice": static(`<Response><Gather input="speech" language="fr-FR" hints="commercial, facturation" speechTimeout="auto" timeout="6" action="heard"/><Say>Rien.</Say></Response>`),
		"/ivr/heard": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"), func(c *Config) {
		c.Speech.Engine, c.Speech.HTTPURL, c.Speech.HTTPSigningKey = "http", service.URL+"/recognize", "speech-secret"
	})
	pcap := sipptest.PCMUFile(t, sipptest.Silence(time.Second), sipptest.Audio(spokenPCM(t, "I would like sales")), sipptest.Silence(4*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: pcap}); err != nil {
		t.Fatal(err)
	}
	var s seen
	select {
	case s = <-got:
	default:
		t.Fatalf("the speech service was not called\n%s", p.log.String())
	}
	if s.header.Get("Content-Type") != "audio/L16;rate=8000" || s.header.Get("X-Speech-Language") != "fr-FR" || s.header.Get("X-Speech-Hints") != "commercial,facturation" {
		t.Errorf("service request headers %v", s.header)
	}
	if s.bytes < 16000 { // at least the second of speech, 16-bit at 8 kHz
		t.Errorf("the service got %d bytes of audio", s.bytes)
	}
	if !httpfetch.ValidatePivotSignature("speech-secret", s.url, nil, s.header.Get("X-Pivot-Signature"), time.Now(), time.Minute) {
		t.Errorf("X-Pivot-Signature %q does not validate for %s", s.header.Get("X-Pivot-Signature"), s.url)
	}
	var heard twimlRequest
	for _, r := range app.received() {
		if r.Path == "/ivr/heard" {
			heard = r
		}
	}
	if heard.Form.Get("SpeechResult") != "je voudrais le service commercial" || heard.Form.Get("Confidence") != "0.91000000" {
		t.Errorf("action SpeechResult %q Confidence %q", heard.Form.Get("SpeechResult"), heard.Form.Get("Confidence"))
	}
}
