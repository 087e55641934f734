package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

func TestHostileCacheConfigNamesBadBoundsByPath(t *testing.T) {
	_, errs := loadConfig([]byte(`
tts: {cache_bytes: 1000}
media: {prompt_cache_bytes: -1, max_processes: 5000}
`), "")
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"tts.cache_bytes: ", "media.prompt_cache_bytes: ", "media.max_processes: "} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	s, errs := loadConfig([]byte("media: {max_processes: 3}\n"), "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.Media.MaxProcesses != 3 || s.Media.PromptCacheBytes != 256<<20 || s.TTS.CacheBytes != 64<<20 {
		t.Fatalf("settings %d processes, %d prompt bytes, %d speech bytes; want 3 and the defaults", s.Media.MaxProcesses, s.Media.PromptCacheBytes, s.TTS.CacheBytes)
	}
}

// A webhook's hold music whose decoder hangs must not outlive the call: when the caller hangs up, the
// only call waiting for the decode is gone, and pivotua kills lame.
func TestE2EHostileCacheHangUpKillsTheDecoder(t *testing.T) {
	needE2E(t)
	// An MPEG-2.5 (8 kHz) MP3, which only lame decodes; made by the real lame before a fake one
	// that never finishes takes its place on PATH, for pivotua too.
	var wav bytes.Buffer
	if err := codec.EncodeWAV(&wav, testkit.Sine(1000, 8000, testkit.Samples(time.Second, 8000), 0.4), 8000); err != nil {
		t.Fatal(err)
	}
	encode := exec.Command("lame", "--silent", "-b", "16", "-", "-")
	encode.Stdin = &wav
	mp3, err := encode.Output()
	if err != nil {
		t.Fatalf("lame: %v", err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s\nexec sleep 60\n", pidFile)
	if err := os.WriteFile(filepath.Join(dir, "lame"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	music := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(mp3)
	}))
	defer music.Close()
	hook := newWebhook(t, func(*webhook) any {
		// The speech answers the call; the caller hangs up (after 1.5 s) while lame "decodes".
		return map[string]any{
			"module": "tts", "data": map[string]any{"text": "Hold."},
			"children": map[string]any{"_": map[string]any{"module": "play", "data": map[string]any{"id": music.URL + "/hold.mp3"}}},
		}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) { c.Media.MaxProcesses = 2 })
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_caller_bye.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("lame never started before the caller hung up: %v\n%s", err, p.logs())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 { // up to 10 s, a bound on the wait rather than a timing assertion
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("lame (pid %d) still runs 10 s after the only call waiting for it hung up", pid)
	}
	res, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	metrics, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(metrics), "\npivotua_media_processes 0\n") {
		t.Errorf("/metrics does not show 0 media processes:\n%s", metrics)
	}
}
