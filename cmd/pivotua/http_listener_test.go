package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/recordings"
)

func TestHTTPLimitsAndRetentionConfig(t *testing.T) {
	s, errs := loadConfig(defaultConfigYAML, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := httpLimits{ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 32 << 10, MaxConnections: 1024}
	if s.HTTPLimits != want || s.Recording.Retention != 744*time.Hour {
		t.Errorf("defaults: %+v, retention %v", s.HTTPLimits, s.Recording.Retention)
	}
	base := "accounts: []\ncallflows: []\n"
	if s, errs := loadConfig([]byte(base+"recordings: {retention: \"0\"}\nhttp: {max_connections: 0}\n"), ""); len(errs) > 0 || s.Recording.Retention != 0 || s.HTTPLimits.MaxConnections != 0 {
		t.Errorf("retention 0 (forever) and max_connections 0 (no cap): %v", errs)
	}
	_, errs = loadConfig([]byte(base+`http: {read_timeout: 0s, write_timeout: soon, idle_timeout: -1s, max_header_bytes: 100, max_connections: -1}
recordings: {retention: 1 month}
`), "")
	got := map[string]bool{}
	for _, err := range errs {
		got[errPath(err)] = true
	}
	for _, path := range []string{"http.read_timeout", "http.write_timeout", "http.idle_timeout", "http.max_header_bytes",
		"http.max_connections", "recordings.retention"} {
		if !got[path] {
			t.Errorf("no error names %s; got %v", path, errs)
		}
	}
	if !strings.Contains(fmtErrs(errs), `"1 month" is not a positive duration`) {
		t.Errorf("retention error does not quote the value: %v", errs)
	}
}

func fmtErrs(errs []error) string {
	var b strings.Builder
	for _, err := range errs {
		b.WriteString(err.Error() + "\n")
	}
	return b.String()
}

func TestRecordingPurgeInterval(t *testing.T) {
	for _, tc := range []struct{ retention, want time.Duration }{
		{744 * time.Hour, time.Hour}, {5 * time.Hour, 30 * time.Minute}, {20 * time.Second, 2 * time.Second}, {time.Second, time.Second},
	} {
		if got := recordings.PurgeInterval(tc.retention); got != tc.want {
			t.Errorf("retention %v: every %v, want %v", tc.retention, got, tc.want)
		}
	}
}
