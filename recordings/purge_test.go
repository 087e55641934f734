package recordings

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

// spoolStub is the upload spool, holding the files listed.
type spoolStub map[string]bool

func (s spoolStub) Holds(file string) bool { return s[file] }

func TestPurgeRecordingsKeepsSpooledAndLiveCallRecordings(t *testing.T) {
	dir := t.TempDir()
	acc := filepath.Join(dir, e2eAccount)
	old := time.Now().Add(-2 * time.Hour)
	write := func(path string, mtime time.Time) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("RIFF"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	gone := []string{
		write(filepath.Join(acc, "ended-call-1-1700000000000000000.wav"), old),
		write(filepath.Join(acc, "ended-call-1-1700000000000000001.mp3"), old),
		write(filepath.Join(acc, "ended-call-2-dial-1700000000000000000.wav"), old),
		write(filepath.Join(acc, "ended-call-1-1700000000000000000.transcription"), old),
	}
	kept := map[string]string{
		"recent":                      write(filepath.Join(acc, "recent-1-1700000000000000000.wav"), time.Now()),
		"waiting in the spool":        write(filepath.Join(acc, "spooled-1-1700000000000000000.wav"), old),
		"of a live call":              write(filepath.Join(acc, CallPart("live/call@example.com")+"-1700000000000000000.wav"), old),
		"a live call's Dial":          write(filepath.Join(acc, CallPart("live/call@example.com")+"-dial-1700000000000000000.wav"), old),
		"a Call-ID ending -dial":      write(filepath.Join(acc, "x-dial-1700000000000000000.wav"), old),
		"a live call's transcription": write(filepath.Join(acc, CallPart("live/call@example.com")+"-1700000000000000000.transcription"), old),
		"not a recording":             write(filepath.Join(acc, "notes.txt"), old),
		"the spool's own files":       write(filepath.Join(dir, ".spool", "a.job"), old),
		"not an account folder":       write(filepath.Join(dir, "archive", "a-1.wav"), old),
	}
	live := NewLiveCalls()
	defer live.Track("live/call@example.com")()
	defer live.Track("x-dial")()
	ended := live.Track("ended-call-1")
	ended()

	n, err := Purge(dir, time.Now().Add(-time.Hour), spoolStub{kept["waiting in the spool"]: true}, live)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(gone) {
		t.Errorf("removed %d files, want %d", n, len(gone))
	}
	for _, p := range gone {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: old recording not purged (%v)", filepath.Base(p), err)
		}
	}
	for why, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s (%s) was purged: %v", why, filepath.Base(p), err)
		}
	}
	if n, err := Purge(filepath.Join(dir, "none"), time.Now(), spoolStub{}, live); n != 0 || err != nil {
		t.Errorf("a recordings folder not made yet: %d, %v", n, err)
	}
}

// With the real upload spool: an old recording whose upload keeps failing is
// kept by every purge, and purged once it is delivered.
func TestPurgeKeepsARecordingUntilItsUploadIsDelivered(t *testing.T) {
	var accept atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !accept.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer target.Close()
	dir := t.TempDir()
	events := make(chan httpfetch.UploadEvent, 64)
	u, err := httpfetch.NewUploader(filepath.Join(dir, ".spool"),
		httpfetch.WithUploadBackoff(5*time.Millisecond, 20*time.Millisecond),
		httpfetch.WithUploadLogger(slog.New(slog.DiscardHandler)),
		httpfetch.WithUploadObserver(func(ev httpfetch.UploadEvent) { events <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close(context.Background())
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, e2eAccount, "call-1-1700000000000000000.wav")
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("RIFF"), 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	if err := u.Enqueue(httpfetch.Upload{ID: "call-1", File: file, URL: target.URL + "/r.wav", ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	wait := func(kind httpfetch.UploadEventKind) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event", kind)
			}
		}
	}
	live := NewLiveCalls()
	for range 3 {
		wait(httpfetch.UploadRetry)
		if n, err := Purge(dir, time.Now().Add(-time.Hour), u, live); n != 0 || err != nil {
			t.Fatalf("purged %d (%v) while the upload still holds the recording", n, err)
		}
	}
	accept.Store(true)
	wait(httpfetch.UploadUploaded)
	if n, err := Purge(dir, time.Now().Add(-time.Hour), u, live); n != 1 || err != nil {
		t.Fatalf("purged %d (%v) after the upload, want the recording", n, err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("recording still there after its upload and the purge: %v", err)
	}
}
