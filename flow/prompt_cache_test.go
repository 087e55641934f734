package flow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

// toneMP3 is a second of 1 kHz at 8 kHz (MPEG-2.5, which only lame decodes).
func toneMP3(t *testing.T) []byte {
	t.Helper()
	var wav bytes.Buffer
	if err := codec.EncodeWAV(&wav, codec.Tone(1000, time.Second, 0.5), 8000); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("lame", "--silent", "-b", "16", "-", "-")
	cmd.Stdin = &wav
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lame: %v", err)
	}
	return out
}

// wrapLame puts a program named lame first on PATH that runs script
// (with $PIDFILE and $RUNS set to files in its folder) before anything else.
func wrapLame(t *testing.T, script string) (pidFile, runsFile string) {
	t.Helper()
	dir := t.TempDir()
	pidFile, runsFile = filepath.Join(dir, "pid"), filepath.Join(dir, "runs")
	body := fmt.Sprintf("#!/bin/sh\nPIDFILE=%s\nRUNS=%s\n%s\n", pidFile, runsFile, script)
	if err := os.WriteFile(filepath.Join(dir, "lame"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return pidFile, runsFile
}

// mediaServer serves body as audio/mpeg (cacheable for a minute) and counts requests.
func mediaServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestConcurrentPlaysOfOneURLDownloadAndDecodeOnce(t *testing.T) {
	lame, err := exec.LookPath("lame")
	if err != nil {
		t.Fatal("lame is not installed (scripts/install-deps.sh installs it)")
	}
	mp3 := toneMP3(t)
	// Slow enough that every play below is waiting before the first decode ends.
	_, runsFile := wrapLame(t, fmt.Sprintf("echo run >> \"$RUNS\"\nsleep 0.5\nexec %s \"$@\"", lame))
	srv, requests := mediaServer(t, mp3)
	c := &Call{deps: &Deps{Media: httpfetch.NewClient(), Prompts: NewPromptCache(0, nil)}}

	const plays = 8
	var wg sync.WaitGroup
	prompts := make([]*codec.Prompt, plays)
	for i := range plays {
		wg.Go(func() {
			p, err := c.loadMedia(context.Background(), srv.URL+"/hold.mp3")
			if err != nil {
				t.Error(err)
			}
			prompts[i] = p
		})
	}
	wg.Wait()
	runs, _ := os.ReadFile(runsFile)
	if n := strings.Count(string(runs), "run"); requests.Load() != 1 || n != 1 {
		t.Fatalf("%d plays made %d downloads and %d lame runs, want 1 of each", plays, requests.Load(), n)
	}
	for _, p := range prompts[1:] {
		if p != prompts[0] {
			t.Fatal("the plays got different prompts")
		}
	}
	if d := prompts[0].Duration(); d < 900*time.Millisecond {
		t.Fatalf("decoded %v, want about 1 s", d)
	}
}

func TestDecoderIsKilledWhenTheOnlyWaitingCallHangsUp(t *testing.T) {
	srv, _ := mediaServer(t, toneMP3(t))
	pidFile, _ := wrapLame(t, "echo $$ > \"$PIDFILE.tmp\" && mv \"$PIDFILE.tmp\" \"$PIDFILE\"\nexec sleep 60")
	c := &Call{deps: &Deps{Media: httpfetch.NewClient(), Prompts: NewPromptCache(0, nil)}}
	ctx, hangUp := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := c.loadMedia(ctx, srv.URL+"/hold.mp3")
		errs <- err
	}()
	pid := testkit.WaitPIDFile(t, pidFile, "lame")
	hangUp()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call that hung up got %v", err)
	}
	testkit.WaitGone(t, pid, "the only call waiting for lame hung up")
}

// BenchmarkFiveHundredHourLongPrompts plays 500 distinct one-hour 8 kHz WAVs (µ-law, 28.8 MB each,
// made on the fly by the test server) through the HTTP and prompt caches with their default budgets,
// checking after each that the prompt cache holds no more than its budget, and reports the memory
// left afterwards. Run it alone: go test -run XXX -bench FiveHundred -benchtime 1x ./flow
func BenchmarkFiveHundredHourLongPrompts(b *testing.B) {
	const (
		prompts = 500
		samples = codec.SampleRate * 3600
	)
	header := hourWAVHeader(samples)
	chunk := bytes.Repeat([]byte{0x7F, 0x80, 0x55, 0xD5}, 16<<10) // near-silence, 64 KiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", strconv.Itoa(len(header)+samples))
		_, _ = w.Write(header)
		for left := samples; left > 0; left -= len(chunk) {
			_, _ = w.Write(chunk[:min(left, len(chunk))])
		}
	}))
	defer srv.Close()
	cache := NewPromptCache(0, codec.NewProcessLimit(0))
	c := &Call{deps: &Deps{Media: httpfetch.NewClient(), Prompts: cache}}
	var most int64
	b.ResetTimer()
	for range b.N {
		for i := range prompts {
			p, err := c.loadMedia(context.Background(), fmt.Sprintf("%s/hold-%d.wav", srv.URL, i))
			if err != nil {
				b.Fatal(err)
			}
			if p.Duration() != time.Hour {
				b.Fatalf("prompt %d lasts %v", i, p.Duration())
			}
			_ = p.Frames(codec.PCMU) // what a call playing it makes
			if most = max(most, cache.Bytes()); most > DefaultPromptCacheBytes {
				b.Fatalf("after prompt %d the cache holds %d bytes, over its %d", i, most, DefaultPromptCacheBytes)
			}
		}
	}
	b.StopTimer()
	runtime.GC() // what is left: the prompt cache and httpfetch's cache of bodies (up to 256 MiB more)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(most)/(1<<20), "cache-max-MiB")
	b.ReportMetric(float64(cache.Len()), "prompts-held")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		if name == "VmHWM" || name == "VmRSS" {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
			b.ReportMetric(float64(kb)/1024, strings.ToLower(name)+"-MiB")
		}
	}
	runtime.KeepAlive(c) // its HTTP cache counts in the heap above
}

// hourWAVHeader is the 44-byte header of a mono 8 kHz µ-law WAV of samples samples.
func hourWAVHeader(samples int) []byte {
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	h = binary.LittleEndian.AppendUint16(h, 7) // WAVE_FORMAT_MULAW
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint32(h, codec.SampleRate)
	h = binary.LittleEndian.AppendUint32(h, codec.SampleRate)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint16(h, 8)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(samples))
	binary.LittleEndian.PutUint32(h[4:], uint32(len(h)-8+samples))
	return h
}
