package codec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// fakeEngine installs a program named name first on PATH that writes its
// PID to the returned file and then sleeps, standing in for a TTS engine
// or lame that hangs.
func fakeEngine(t *testing.T, name string) (pidFile string) {
	t.Helper()
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "pid")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nexec sleep 60\n", pidFile, pidFile, pidFile)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return pidFile
}

func TestSpeechCacheKillsTheEngineWhenNoCallerWaits(t *testing.T) {
	pidFile := fakeEngine(t, "flite")
	c := NewSpeechCacheWithEngines("flite", 1<<20, map[string]TTS{"flite": Flite{}})
	first, cancelFirst := context.WithCancel(context.Background())
	second, cancelSecond := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for _, ctx := range []context.Context{first, second} {
		go func() {
			_, err := c.Prompt(ctx, SpeechRequest{Text: "hold the line"})
			errs <- err
		}()
	}
	pid := testkit.WaitPIDFile(t, pidFile, "the engine")

	cancelFirst()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	if !testkit.ProcessExists(pid) {
		t.Fatal("the engine was killed while another caller still waited for it")
	}
	cancelSecond()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("second caller: %v", err)
	}
	testkit.WaitGone(t, pid, "the last caller gave up")
}

func TestSpeechCacheStaysWithinItsBytes(t *testing.T) {
	fake := &fakeTTS{} // 100 ms: 800 samples, about 3.4 kB with both laws' frames
	const budget = 8000
	c := NewSpeechCacheWithEngines("flite", budget, map[string]TTS{"flite": fake})
	for i := range 10 {
		if _, err := c.Prompt(context.Background(), SpeechRequest{Text: fmt.Sprint("prompt ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Fatalf("holds %d prompts of about 3.4 kB in %d bytes, want 2", c.Len(), budget)
	}
}

func TestPromptCacheKeepsWhatFitsAndPlaysWhatDoesNot(t *testing.T) {
	second := NewPrompt(make([]int16, SampleRate))
	c := NewPromptCache(3 * second.Bytes())
	builds := 0
	build := func(p *Prompt) func(context.Context) (*Prompt, error) {
		return func(context.Context) (*Prompt, error) { builds++; return p, nil }
	}
	for i := range 10 {
		if _, err := c.Get(context.Background(), fmt.Sprint(i), build(second)); err != nil {
			t.Fatal(err)
		}
		if c.Bytes() > c.MaxBytes() {
			t.Fatalf("after %d prompts the cache holds %d bytes, over its %d", i+1, c.Bytes(), c.MaxBytes())
		}
	}
	if c.Len() != 2 { // three seconds' worth minus the keys
		t.Fatalf("holds %d one-second prompts, want 2", c.Len())
	}
	huge := NewPrompt(make([]int16, 4*SampleRate))
	for range 2 {
		p, err := c.Get(context.Background(), "huge", build(huge))
		if err != nil || p != huge {
			t.Fatalf("a prompt bigger than the cache: %v, %v; want it played", p, err)
		}
	}
	if builds != 12 || c.Len() != 2 {
		t.Fatalf("%d builds and %d held; want the huge prompt built each time and not kept", builds, c.Len())
	}
}

func TestPromptCacheSurvivesAPanickingBuild(t *testing.T) {
	c := NewPromptCache(1 << 20)
	_, err := c.Get(context.Background(), "k", func(context.Context) (*Prompt, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want the panic as an error", err)
	}
}

func TestProcessLimitQueuesAndGivesUpWithTheContext(t *testing.T) {
	pidFile := fakeEngine(t, "flite")
	procs := NewProcessLimit(1)
	c := NewSpeechCache("flite", 1<<20, procs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = c.Prompt(ctx, SpeechRequest{Text: "first"}) }()
	pid := testkit.WaitPIDFile(t, pidFile, "the engine")
	if procs.Running() != 1 {
		t.Fatalf("%d running, want 1", procs.Running())
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := c.Prompt(short, SpeechRequest{Text: "second"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second render with the only slot taken: %v, want it to wait and give up", err)
	}
	if procs.Running() != 1 {
		t.Fatalf("%d running, want 1", procs.Running())
	}
	cancel()
	testkit.WaitGone(t, pid, "the last caller gave up")
}

func TestPromptCacheDropsLeastRecentlyUsed(t *testing.T) {
	a, b, d := NewPrompt(make([]int16, 800)), NewPrompt(make([]int16, 800)), NewPrompt(make([]int16, 800))
	c := NewPromptCache(2*a.Bytes() + 10) // two prompts and their one-byte keys
	get := func(key string, p *Prompt) *Prompt {
		got, err := c.Get(context.Background(), key, func(context.Context) (*Prompt, error) { return p, nil })
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	get("a", a)
	get("b", b)
	get("a", nil) // a is now the most recent; a nil build would fail were it called
	get("d", d)   // evicts b
	if c.Len() != 2 || get("a", nil) != a || get("d", nil) != d {
		t.Fatal("the cache did not keep the two most recently used prompts")
	}
}

// Callers that come and go while makes run, fail and are cancelled: every caller that waits to the
// end gets the prompt, and the cache ends holding it once.
func TestPromptCacheUnderChurn(t *testing.T) {
	c := NewPromptCache(1 << 20)
	want := NewPrompt(make([]int16, 800))
	var builds atomic.Int32
	build := func(ctx context.Context) (*Prompt, error) {
		if builds.Add(1)%3 != 0 {
			select { // most builds are slow enough to be abandoned
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return want, nil
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%4)*300*time.Microsecond)
			defer cancel()
			if i%4 == 3 {
				ctx = context.Background()
			}
			p, err := c.Get(ctx, fmt.Sprint("k", i%5), build)
			if i%4 == 3 && (err != nil || p != want) {
				t.Errorf("a patient caller got %v, %v", p, err)
			}
		})
	}
	wg.Wait()
	if c.Len() != 5 {
		t.Fatalf("holds %d prompts, want the 5 keys once each", c.Len())
	}
}
