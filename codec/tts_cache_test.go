package codec

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTTS counts renders; each blocks until release is closed (if set) and
// fails while failing is true.
type fakeTTS struct {
	renders atomic.Int32
	release chan struct{}
	failing atomic.Bool
	last    atomic.Value // SpeechRequest
}

var _ TTS = (*fakeTTS)(nil)

func (f *fakeTTS) Synthesize(ctx context.Context, r SpeechRequest) ([]int16, error) {
	f.renders.Add(1)
	f.last.Store(r)
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.failing.Load() {
		return nil, errors.New("engine exploded")
	}
	return Tone(440, 100*time.Millisecond, 0.5), nil
}

func TestSpeechCacheRendersOnceForConcurrentCallers(t *testing.T) {
	fake := &fakeTTS{release: make(chan struct{})}
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": fake})
	req := SpeechRequest{Text: "hello", Voice: "female", Language: "en-US"}
	var wg sync.WaitGroup
	prompts := make([]*Prompt, 20)
	for i := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Prompt(context.Background(), req)
			if err != nil {
				t.Error(err)
			}
			prompts[i] = p
		}()
	}
	time.Sleep(50 * time.Millisecond) // let every caller find the render in flight
	close(fake.release)
	wg.Wait()
	if n := fake.renders.Load(); n != 1 {
		t.Fatalf("%d renders, want 1", n)
	}
	for _, p := range prompts {
		if p != prompts[0] {
			t.Fatal("callers got different prompts")
		}
	}
	// Later callers hit the cache; the key ignores case in voice and language.
	if p, _ := c.Prompt(context.Background(), SpeechRequest{Text: "hello", Voice: "FEMALE", Language: "en-us"}); p != prompts[0] || fake.renders.Load() != 1 {
		t.Fatal("cached prompt not reused")
	}
}

func TestSpeechCacheDoesNotCacheErrors(t *testing.T) {
	fake := &fakeTTS{}
	fake.failing.Store(true)
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": fake})
	req := SpeechRequest{Text: "hello"}
	if _, err := c.Prompt(context.Background(), req); err == nil {
		t.Fatal("want the engine's error")
	}
	fake.failing.Store(false)
	p, err := c.Prompt(context.Background(), req)
	if err != nil || p == nil {
		t.Fatalf("retry after failure: %v", err)
	}
	if n := fake.renders.Load(); n != 2 {
		t.Fatalf("%d renders, want 2", n)
	}
}

func TestSpeechCacheEvictsLeastRecentlyUsed(t *testing.T) {
	fake := &fakeTTS{}
	// Room for two of fake's prompts (about 3.4 kB each), not three.
	c := NewSpeechCacheWithEngines("flite", 7000, map[string]TTS{"flite": fake})
	get := func(text string) *Prompt {
		p, err := c.Prompt(context.Background(), SpeechRequest{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := get("a")
	get("b")
	get("a") // a is now the most recent
	get("c") // evicts b
	if c.Len() != 2 {
		t.Fatalf("holds %d prompts, want 2", c.Len())
	}
	before := fake.renders.Load()
	if get("a") != a || fake.renders.Load() != before {
		t.Fatal("a was evicted")
	}
	get("b")
	if fake.renders.Load() != before+1 {
		t.Fatal("b was not evicted")
	}
}

func TestSpeechCacheRoutesNonEnglishFliteToEspeakNG(t *testing.T) {
	flite, espeak := &fakeTTS{}, &fakeTTS{}
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": flite, "espeak-ng": espeak})
	tests := []struct {
		req  SpeechRequest
		want *fakeTTS
	}{
		{SpeechRequest{Text: "1", Language: "en-US"}, flite},
		{SpeechRequest{Text: "2", Language: ""}, flite},
		{SpeechRequest{Text: "3", Language: "en_GB"}, flite},
		{SpeechRequest{Text: "4", Language: "fr-FR"}, espeak},
		{SpeechRequest{Text: "5", Language: "de", Engine: "flite"}, espeak},
		{SpeechRequest{Text: "6", Language: "en-US", Engine: "espeak-ng"}, espeak},
		{SpeechRequest{Text: "7", Language: "es-ES", Engine: "Espeak-NG"}, espeak},
	}
	for _, tt := range tests {
		fb, eb := flite.renders.Load(), espeak.renders.Load()
		if _, err := c.Prompt(context.Background(), tt.req); err != nil {
			t.Fatal(err)
		}
		gotFlite := flite.renders.Load() > fb
		if gotFlite != (tt.want == flite) || (espeak.renders.Load() > eb) == gotFlite {
			t.Errorf("%+v went to the wrong engine (flite=%v)", tt.req, gotFlite)
		}
	}
	if r := espeak.last.Load().(SpeechRequest); r.Engine != "espeak-ng" {
		t.Errorf("engine told it is %q", r.Engine)
	}
}

func TestSpeechCacheRejectsUnknownEngineAndBadText(t *testing.T) {
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": &fakeTTS{}})
	tests := []struct {
		req  SpeechRequest
		want error
	}{
		{SpeechRequest{Engine: "polly", Text: "hi"}, ErrUnknownEngine},
		{SpeechRequest{Text: ""}, ErrEmptyText},
		{SpeechRequest{Text: string(make([]byte, MaxSpeechText+1))}, ErrTextTooLong},
	}
	for _, tt := range tests {
		if _, err := c.Prompt(context.Background(), tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.req.Engine, err, tt.want)
		}
	}
	if _, err := NewSpeechCache("nope", 1, nil).Prompt(context.Background(), SpeechRequest{Text: "hi"}); !errors.Is(err, ErrUnknownEngine) {
		t.Errorf("unknown default engine: got %v", err)
	}
}

func TestSpeechCacheRenderGoesOnWhileAnotherCallerWaits(t *testing.T) {
	fake := &fakeTTS{release: make(chan struct{})}
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": fake})
	req := SpeechRequest{Text: "hello"}
	patient := make(chan error, 1)
	go func() {
		_, err := c.Prompt(context.Background(), req)
		patient <- err
	}()
	for fake.renders.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Prompt(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: got %v", err)
	}
	close(fake.release)
	if err := <-patient; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if n := fake.renders.Load(); n != 1 {
		t.Fatalf("%d renders, want the first one to have carried on", n)
	}
}

func TestSpeechCacheStartsAfreshAfterEveryCallerGaveUp(t *testing.T) {
	fake := &fakeTTS{release: make(chan struct{})}
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": fake})
	req := SpeechRequest{Text: "hello"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Prompt(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: got %v", err)
	}
	close(fake.release)
	if _, err := c.Prompt(context.Background(), req); err != nil {
		t.Fatalf("the next caller got %v, want a fresh render", err)
	}
	if n := fake.renders.Load(); n != 2 {
		t.Fatalf("%d renders, want 2 (the abandoned one and a fresh one)", n)
	}
}

type panickyTTS struct{}

func (panickyTTS) Synthesize(context.Context, SpeechRequest) ([]int16, error) { panic("boom") }

func TestSpeechCacheSurvivesAPanickingEngine(t *testing.T) {
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": panickyTTS{}})
	if _, err := c.Prompt(context.Background(), SpeechRequest{Text: "hi"}); err == nil {
		t.Fatal("want an error")
	}
}

func TestSpeechCacheWithRealEngines(t *testing.T) {
	requireTool(t, "flite")
	requireTool(t, "espeak-ng")
	c := NewSpeechCache("", 0, nil)
	for _, req := range []SpeechRequest{
		{Text: "Thank you for calling.", Voice: "female", Language: "en-US"},
		{Text: "Merci de votre appel.", Voice: "male", Language: "fr-FR"},
	} {
		p, err := c.Prompt(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if p.Duration() < 500*time.Millisecond || len(p.Frames(PCMU)) == 0 {
			t.Fatalf("%q rendered %v", req.Text, p.Duration())
		}
	}
}
