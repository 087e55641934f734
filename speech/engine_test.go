package speech

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// fakeSphinx is a shell script standing in for pocketsphinx_continuous.
func fakeSphinx(t *testing.T, script string) (Recognizer, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pocketsphinx_continuous")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho $$ > "+dir+"/pid\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	s.Command, s.MaxConcurrent = path, 1
	return s.New(nil), filepath.Join(dir, "pid")
}

// TestPocketsphinxKilledWhenTheCallEnds: the decoder of a recognition whose call ended is killed,
// and its slot is free again.
func TestPocketsphinxKilledWhenTheCallEnds(t *testing.T) {
	rec, pidFile := fakeSphinx(t, "exec sleep 60")
	g, err := rec.Start(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	pid := testkit.WaitPIDFile(t, pidFile, "the fake decoder")
	g.Abort() // what the Gather does when the call ends; its context ends too, and either kills it
	testkit.WaitGone(t, pid, "the call's end")
	if g2, err := rec.Start(context.Background(), Request{}); err != nil {
		t.Fatalf("the slot was not freed: %v", err)
	} else {
		g2.Abort()
	}
}

// TestPocketsphinxOutputIsBounded: a decoder that writes an endless line is an engine failure, not
// memory without bound.
func TestPocketsphinxOutputIsBounded(t *testing.T) {
	rec, _ := fakeSphinx(t, "cat >/dev/null; head -c 100000 /dev/zero | tr '\\0' a")
	g, err := rec.Start(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	g.Write(make([]int16, FrameSamples))
	if _, err := g.Close(context.Background()); !errors.Is(err, ErrEngine) {
		t.Fatalf("Close: %v, want ErrEngine", err)
	}
}

func TestSphinxOutputParsesHypothesesAndPosteriors(t *testing.T) {
	var o sphinxOutput
	for _, l := range []string{"technical support", "<s> 0.000 0.520 0.998102", "technical 0.53 0.9 0.8",
		"support(2) 0.9 1.2 0.6", "</s> 1.2 1.5 1.0", "", "[NOISE] <sil>", "billing", "billing 1.6 2.0 1.0"} {
		o.line(l)
	}
	if o.text() != "technical support billing" {
		t.Errorf("text %q", o.text())
	}
	if c := o.confidence(); c < 0.799 || c > 0.801 {
		t.Errorf("confidence %v, want the mean of 0.8, 0.6 and 1", c)
	}
}

func FuzzSphinxOutputLine(f *testing.F) {
	f.Add("hello world")
	f.Add("hello 0.1 0.2 0.9")
	f.Add("<s> 0.000 0.520 NaN")
	f.Fuzz(func(t *testing.T, l string) {
		var o sphinxOutput
		o.line(l)
		o.line(l)
		if c := o.confidence(); c < 0 || c > 1 {
			t.Fatalf("confidence %v out of 0..1 for %q", c, l)
		}
		if len(o.text()) > 2*len(l)+1 {
			t.Fatalf("text %q longer than its input %q", o.text(), l)
		}
	})
}

func TestEndpointerFindsSpeechAndTheSilenceAfterIt(t *testing.T) {
	e := NewEndpointer(time.Second)
	var started, ended int
	feed := func(pcm []int16) {
		for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
			s, end := e.Frame(pcm[i : i+FrameSamples])
			if s && started == 0 {
				started = i
			}
			if end && ended == 0 {
				ended = i
			}
		}
	}
	silence := make([]int16, 8000)
	feed(silence)
	if started != 0 {
		t.Fatal("silence counted as speech")
	}
	feed(codec.Tone(300, time.Second, 0.3))
	if s, _ := e.Frame(make([]int16, FrameSamples)); !s {
		t.Fatal("a second of tone is not speech")
	}
	ended = 0
	feed(make([]int16, 4000)) // half a second: not yet
	if ended != 0 {
		t.Fatal("speech ended after half a second of a 1 s speechTimeout")
	}
	feed(silence)
	if ended == 0 {
		t.Fatal("speech did not end after 1.5 s of silence")
	}
}

func TestWordErrorRate(t *testing.T) {
	for _, tt := range []struct {
		ref, hyp string
		want     float64
	}{
		{"I would like sales", "i would like sales", 0},
		{"I would like sales", "i would like", 0.25},
		{"talk to sales", "talk to the sales", 1.0 / 3},
		{"", "", 0},
		{"", "noise", 1},
	} {
		if got := WordErrorRate(tt.ref, tt.hyp); got != tt.want {
			t.Errorf("WordErrorRate(%q, %q) = %v, want %v", tt.ref, tt.hyp, got, tt.want)
		}
	}
}

// TestRecognitionStopsTakingAudioPastMaxSeconds: audio past speech.max_seconds is refused and the
// result says it was cut.
func TestRecognitionStopsTakingAudioPastMaxSeconds(t *testing.T) {
	s := DefaultSettings()
	s.MaxSeconds = 1
	rec := s.New(nil)
	res := recognise(t, rec, Request{}, make([]int16, 8000*3))
	if !res.Truncated {
		t.Fatalf("3 s of audio with max_seconds 1: result %+v, want Truncated", res)
	}
}

// FuzzHintsGrammar: whatever a document puts in hints, the grammar holds only dictionary words
// between its own syntax (a hint cannot inject JSGF).
func FuzzHintsGrammar(f *testing.F) {
	dict := map[string]struct{}{"sales": {}, "billing": {}, "technical": {}, "support": {}, "don't": {}}
	f.Add("sales, technical support")
	f.Add("billing; <x> = sales | /9/ ;")
	f.Add("DON'T,,, support\n#JSGF")
	f.Fuzz(func(t *testing.T, hints string) {
		g, _, ok := hintsGrammar(strings.Split(hints, ","), dict)
		if !ok {
			return
		}
		_, rule, found := strings.Cut(g, "<hint> = ")
		rule, _, _ = strings.Cut(rule, ";\n")
		if !found {
			t.Fatalf("no <hint> rule in %q", g)
		}
		for _, w := range strings.Fields(rule) {
			if _, in := dict[w]; !in && w != "|" {
				t.Fatalf("grammar rule %q holds %q, not a dictionary word", rule, w)
			}
		}
	})
}
