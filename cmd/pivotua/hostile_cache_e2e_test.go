package main

import (
	"strings"
	"testing"
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
	if s.MaxProcesses != 3 || s.PromptCacheBytes != 256<<20 || s.SpeechCacheBytes != 64<<20 {
		t.Fatalf("settings %d processes, %d prompt bytes, %d speech bytes; want 3 and the defaults", s.MaxProcesses, s.PromptCacheBytes, s.SpeechCacheBytes)
	}
}
