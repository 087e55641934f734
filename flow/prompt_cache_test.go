package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
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
	c := &Call{deps: Deps{Media: httpfetch.NewClient(), Prompts: NewPromptCache(0, nil)}}

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
	c := &Call{deps: Deps{Media: httpfetch.NewClient(), Prompts: NewPromptCache(0, nil)}}
	ctx, hangUp := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := c.loadMedia(ctx, srv.URL+"/hold.mp3")
		errs <- err
	}()
	pid := waitForPID(t, pidFile)
	hangUp()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call that hung up got %v", err)
	}
	for range 1000 { // up to 10 s, not a timing assertion
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("lame (pid %d) still runs 10 s after the only call waiting for it hung up", pid)
}

func waitForPID(t *testing.T, pidFile string) int {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("lame never started")
	return 0
}
