package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestMediaStoreSectionIsCheckedAndResolved: media_store: is debugapi's section, each mistake named by
// its path, and its dir is relative to the config file like recordings.dir.
func TestMediaStoreSectionIsCheckedAndResolved(t *testing.T) {
	s, errs := loadConfig(defaultConfigYAML, "/etc/pivotua")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.MediaStore.Dir != filepath.Join("/etc/pivotua", "data/media") || s.MediaStore.MaxFileBytes != 10<<20 ||
		s.MediaStore.MaxPerAccount != 1000 || strings.Join(s.MediaStore.Formats, ",") != "wav,mp3" {
		t.Errorf("defaults: %+v", s.MediaStore)
	}
	bad := append([]byte(nil), defaultConfigYAML...)
	bad = append(bad, "media_store: {max_file_bytes: 5, formats: [ogg], max_per_account: -1}\n"...)
	_, errs = loadConfig(bad, "")
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{"media_store.max_file_bytes: must be between 1024", `media_store.formats[0]: "ogg" is not one of wav, mp3`, "media_store.max_per_account: must be between 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
