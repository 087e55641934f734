package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// needPivotuaBinary skips tests that run the real binary (TestMain builds it
// unless -short); unlike needE2E they do not need SIPp.
func needPivotuaBinary(t *testing.T) {
	t.Helper()
	if testing.Short() || e2eBinary == "" {
		t.Skip("runs the pivotua binary: skipped with -short")
	}
}

// toneThenCollect plays the 1 kHz tone, collects 4 keys and asks the webhook
// again, which hangs up.
func toneThenCollect(w *webhook) any {
	if len(w.received()) > 1 {
		return map[string]any{"module": "hangup", "data": map[string]any{}}
	}
	return map[string]any{
		"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"},
		"children": map[string]any{"_": map[string]any{
			"module": "collect_dtmf", "data": map[string]any{"max_digits": 4, "timeout": 10000},
			"children": map[string]any{"_": map[string]any{
				"module": "pivot", "data": map[string]any{"voice_url": w.URL + "/voice?step=2"},
			}},
		}},
	}
}

func TestSoftphoneCallSendsDigitsRecordsAndEndsOnFarEndBye(t *testing.T) {
	needPivotuaBinary(t)
	hook := newWebhook(t, toneThenCollect)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	dir := t.TempDir()
	voice := filepath.Join(dir, "voice.wav")
	var buf bytes.Buffer
	if err := codec.EncodeWAV(&buf, testkit.Sine(600, 16000, testkit.Samples(time.Second, 16000), 0.4), 16000); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(voice, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "heard.wav")

	var stdout, stderr bytes.Buffer
	code := runCall([]string{fmt.Sprintf("sip:3004@127.0.0.1:%d", p.sipPort),
		"--dtmf", "1234", "--dtmf-delay", "2500ms", "--duration", "15s",
		"--play", voice, "--record", record, "--from", "1000"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	for _, want := range []string{"INVITE sip:3004@", "200 OK: answered after", "ACK sent", `sending DTMF "1234"`,
		"BYE received from the far end", "first packet latency", "playing " + voice, "recorded "} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}

	reqs := hook.received()
	if len(reqs) != 2 {
		t.Fatalf("webhook got %d requests, want 2 (timeline:\n%s)", len(reqs), out)
	}
	if got := reqs[1].Get("Digits[default]"); got != "1234" {
		t.Errorf("Digits[default] = %q, want 1234", got)
	}
	if got := reqs[0].Get("Caller-ID-Number"); got != "1000" {
		t.Errorf("Caller-ID-Number = %q, want the --from user 1000", got)
	}

	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := codec.DecodeWAV(data)
	if err != nil || rate != codec.SampleRate {
		t.Fatalf("recording: rate %d, %v", rate, err)
	}
	if tones := testkit.CountTone(pcm, 1000); tones < 70 || tones > 85 {
		t.Errorf("recording holds %d frames of the 1 kHz prompt, want about 80 (1.6 s)", tones)
	}
}

func TestSoftphoneCallToUnroutedNumberFailsWith404(t *testing.T) {
	needPivotuaBinary(t)
	hook := newWebhook(t, toneThenCollect)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	var stdout, stderr bytes.Buffer
	record := filepath.Join(t.TempDir(), "heard.wav")
	code := runCall([]string{fmt.Sprintf("5555@127.0.0.1:%d", p.sipPort), "--transport", "tcp", "--duration", "2s", "--record", record}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// The failure is said once, in the timeline; an unanswered call writes no recording.
	out := stdout.String() + stderr.String()
	if !strings.Contains(out, "404 ") || strings.Count(out, "FAILED") != 1 || !strings.Contains(out, "nothing recorded") {
		t.Errorf("want the 404, FAILED once and 'nothing recorded':\n%s", out)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("an unanswered call left %s (%v)", record, err)
	}
	if n := len(hook.received()); n != 0 {
		t.Errorf("an unrouted call reached the webhook %d times", n)
	}
}

func TestSoftphoneCallUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"no URI", nil},
		{"two URIs", []string{"sip:a@127.0.0.1", "sip:b@127.0.0.1"}},
		{"bad transport", []string{"sip:a@127.0.0.1", "--transport", "tls"}},
		{"bad local", []string{"sip:a@127.0.0.1", "--local", "nowhere"}},
		{"missing play file", []string{"sip:a@127.0.0.1", "--play", "/nonexistent.wav"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runCall(tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
		})
	}
}
