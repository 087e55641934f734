package speech

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// phrases are what the tests and the benchmark say, with the hints an application would give.
var phrases = []struct {
	text  string
	hints []string
	want  string // a hinted phrase the result must contain
}{
	{"I would like to talk to sales please", []string{"sales", "billing", "technical support"}, "sales"},
	{"billing", []string{"sales", "billing", "technical support"}, "billing"},
	{"I need technical support", []string{"sales", "billing", "technical support"}, "technical support"},
	{"yes", []string{"yes", "no"}, "yes"},
	{"check my account balance", []string{"account balance", "make a payment", "speak to an agent"}, "account balance"},
	{"speak to an agent", []string{"account balance", "make a payment", "speak to an agent"}, "speak to an agent"},
}

func TestPocketsphinxHearsHintedPhrases(t *testing.T) {
	rec := offline(t, 2)
	var werHints, werPlain float64
	for _, p := range phrases {
		pcm := spoken(t, testVoice, p.text)
		hinted := recognise(t, rec, Request{Hints: p.hints}, pcm)
		plain := recognise(t, rec, Request{}, pcm)
		wh, wp := WordErrorRate(p.text, hinted.Text), WordErrorRate(p.text, plain.Text)
		werHints += wh
		werPlain += wp
		t.Logf("%q: hints %q (WER %.2f, confidence %.2f); no hints %q (WER %.2f, confidence %.2f)",
			p.text, hinted.Text, wh, hinted.Confidence, plain.Text, wp, plain.Confidence)
		if !strings.Contains(hinted.Text, p.want) {
			t.Errorf("%q with hints %q: heard %q, want it to contain %q", p.text, p.hints, hinted.Text, p.want)
		}
	}
	t.Logf("mean WER with hints %.2f, without %.2f", werHints/float64(len(phrases)), werPlain/float64(len(phrases)))
}

func TestPocketsphinxRefusesOtherLanguages(t *testing.T) {
	rec := offline(t, 1)
	if _, err := rec.Start(context.Background(), Request{Language: "fr-FR"}); !errors.Is(err, ErrLanguage) {
		t.Fatalf("fr-FR: %v, want ErrLanguage", err)
	}
}

func TestPocketsphinxOverTheCapIsBusy(t *testing.T) {
	rec := offline(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := rec.Start(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Start(ctx, Request{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second recognition over a cap of 1: %v, want ErrBusy", err)
	}
	first.Abort()
	second, err := rec.Start(ctx, Request{})
	if err != nil {
		t.Fatalf("after the first was aborted: %v", err)
	}
	second.Abort()
}

// TestPocketsphinxRecognisesCallsInParallel: two calls' hinted recognitions run at once (run with
// -race: they share the engine and its dictionary).
func TestPocketsphinxRecognisesCallsInParallel(t *testing.T) {
	rec := offline(t, 2)
	pcm := spoken(t, testVoice, "billing")
	texts := make([]string, 2)
	var wg sync.WaitGroup
	for i := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts[i] = recognise(t, rec, Request{Hints: []string{"sales", "billing"}}, pcm).Text
		}()
	}
	wg.Wait()
	for i, text := range texts {
		if text != "billing" {
			t.Errorf("call %d heard %q, want billing", i, text)
		}
	}
}
