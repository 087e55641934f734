package httpfetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// received is one request as a recording target saw it.
type received struct {
	method        string
	path          string // escaped, as sent
	contentType   string
	contentLength int64
	chunked       bool
	userAgent     string
	body          []byte
}

// recordingTarget is an upload destination whose answers a test scripts.
type recordingTarget struct {
	mu       sync.Mutex
	got      []received
	answer   func(n int, r *http.Request, w http.ResponseWriter) // n: 1-based request number; nil answers 201
	inFlight atomic.Int32
	peak     atomic.Int32
}

func (rt *recordingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := rt.inFlight.Add(1)
	defer rt.inFlight.Add(-1)
	for {
		peak := rt.peak.Load()
		if now <= peak || rt.peak.CompareAndSwap(peak, now) {
			break
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rt.mu.Lock()
	rt.got = append(rt.got, received{
		method: r.Method, path: r.URL.EscapedPath(), contentType: r.Header.Get("Content-Type"),
		contentLength: r.ContentLength, chunked: len(r.TransferEncoding) > 0,
		userAgent: r.UserAgent(), body: body,
	})
	n := len(rt.got)
	answer := rt.answer
	rt.mu.Unlock()
	if answer == nil {
		w.WriteHeader(http.StatusCreated)
		return
	}
	answer(n, r, w)
}

func (rt *recordingTarget) requests() []received {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]received(nil), rt.got...)
}

// uploaderHarness is an Uploader with tiny backoffs, its log and its events.
type uploaderHarness struct {
	*Uploader
	spool  string
	log    *testkit.SyncBuffer
	events chan UploadEvent
	missed []UploadEvent // skipped by waitFor, looked at by the next one
}

func newHarness(t *testing.T, spool string, opts ...UploaderOption) *uploaderHarness {
	t.Helper()
	h := &uploaderHarness{spool: spool, log: &testkit.SyncBuffer{}, events: make(chan UploadEvent, 256)}
	opts = append([]UploaderOption{
		WithUploadBackoff(5*time.Millisecond, 40*time.Millisecond),
		WithUploadTimeout(5 * time.Second),
		WithUploadLogger(slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithUploadObserver(func(ev UploadEvent) { h.events <- ev }),
	}, opts...)
	u, err := NewUploader(spool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.Uploader = u
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u.Close(ctx)
	})
	return h
}

func (h *uploaderHarness) start(t *testing.T) {
	t.Helper()
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor returns the next event of kind for id, failing the test after 5 s.
// Events of other IDs are kept for later calls; other kinds for id are
// dropped.
func (h *uploaderHarness) waitFor(t *testing.T, kind UploadEventKind, id string) UploadEvent {
	t.Helper()
	for i, ev := range h.missed {
		if ev.ID == id {
			h.missed = append(h.missed[:i:i], h.missed[i+1:]...)
			if ev.Kind == kind {
				return ev
			}
			return h.waitFor(t, kind, id)
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-h.events:
			switch {
			case ev.ID != id:
				h.missed = append(h.missed, ev)
			case ev.Kind == kind:
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event for %s within 5 s; log:\n%s", kind, id, h.log)
		}
	}
}

// writeRecording writes size random bytes to dir/name and returns its path
// and contents.
func writeRecording(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func mustUploadURL(t *testing.T, base, callID, ext string) string {
	t.Helper()
	u, err := RecordingUploadURL(base, callID, ext)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestUploadDeliversRawFileByteIdentical(t *testing.T) {
	for _, method := range []string{"put", "POST", ""} {
		t.Run("method "+method, func(t *testing.T) {
			target := &recordingTarget{}
			srv := httptest.NewServer(target)
			defer srv.Close()
			dir := t.TempDir()
			file, data := writeRecording(t, dir, "rec.wav", 300<<10)
			h := newHarness(t, filepath.Join(dir, "spool"), WithUploadUserAgent("1.2.3"))
			h.start(t)

			up := Upload{ID: "up-1", File: file, URL: mustUploadURL(t, srv.URL+"/rec/", "abc@10.0.0.1", "wav"),
				Method: method, ContentType: "audio/wav", CallID: "abc@10.0.0.1", AccountID: "acct"}
			if err := h.Enqueue(up); err != nil {
				t.Fatal(err)
			}
			ev := h.waitFor(t, UploadUploaded, "up-1")
			if ev.StatusCode != http.StatusCreated || ev.Attempt != 1 || ev.CallID != "abc@10.0.0.1" {
				t.Errorf("event %+v, want status 201 on attempt 1 for call abc@10.0.0.1", ev)
			}

			reqs := target.requests()
			if len(reqs) != 1 {
				t.Fatalf("target got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			wantMethod := strings.ToUpper(method)
			if wantMethod == "" {
				wantMethod = http.MethodPut
			}
			if r.method != wantMethod || r.path != "/rec/abc@10.0.0.1.wav" || r.contentType != "audio/wav" {
				t.Errorf("got %s %s (%s), want %s /rec/abc@10.0.0.1.wav (audio/wav)", r.method, r.path, r.contentType, wantMethod)
			}
			if r.contentLength != int64(len(data)) || r.chunked {
				t.Errorf("Content-Length %d (chunked %v), want %d and not chunked", r.contentLength, r.chunked, len(data))
			}
			if r.userAgent != "pivotua/1.2.3" {
				t.Errorf("User-Agent %q", r.userAgent)
			}
			if !bytes.Equal(r.body, data) {
				t.Fatalf("body differs from the recording (%d bytes, want %d)", len(r.body), len(data))
			}
			if fileExists(filepath.Join(h.spool, "up-1.job")) {
				t.Error("job file still in the spool after delivery")
			}
			if !fileExists(file) {
				t.Error("recording file removed; recordings.dir keeps local copies")
			}
			if got, want := h.Stats(), (UploadStats{Uploaded: 1, Attempts: 1}); got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
			if log := h.log.String(); !strings.Contains(log, "recording uploaded") || !strings.Contains(log, "upload_id=up-1") {
				t.Errorf("log lacks the delivery:\n%s", log)
			}
		})
	}
}

func TestUploadRetriesUntilTargetComesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused

	dir := t.TempDir()
	file, data := writeRecording(t, dir, "rec.mp3", 100<<10)
	h := newHarness(t, filepath.Join(dir, "spool"))
	h.start(t)
	if err := h.Enqueue(Upload{ID: "down", File: file, URL: "http://" + addr + "/r/c1.mp3", ContentType: "audio/mpeg", CallID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		ev := h.waitFor(t, UploadRetry, "down")
		if ev.Attempt != attempt || ev.StatusCode != 0 || !errors.Is(ev.Err, ErrConnect) || ev.NextRetry <= 0 {
			t.Fatalf("retry event %+v, want attempt %d failing with ErrConnect and a next retry", ev, attempt)
		}
	}

	target := &recordingTarget{}
	srv := httptest.NewUnstartedServer(target)
	var relisten error
	for range 50 { // the port was just ours; retry briefly if the kernel lags
		if srv.Listener, relisten = net.Listen("tcp", addr); relisten == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if relisten != nil {
		t.Skipf("cannot listen on %s again: %v", addr, relisten)
	}
	srv.Start()
	defer srv.Close()

	h.waitFor(t, UploadUploaded, "down")
	reqs := target.requests()
	if len(reqs) != 1 || !bytes.Equal(reqs[0].body, data) || reqs[0].contentType != "audio/mpeg" {
		t.Fatalf("target got %d requests; want one carrying the recording intact as audio/mpeg", len(reqs))
	}
	s := h.Stats()
	if s.Uploaded != 1 || s.Attempts < 4 || s.FailedAttempts != s.Attempts-1 || s.Pending != 0 {
		t.Errorf("stats %+v, want 1 uploaded after at least 3 failed attempts", s)
	}
	log := h.log.String()
	for _, want := range []string{"upload attempt failed", "upload_id=down", "call_id=c1", "attempt=3", "next_retry=", "level=WARN"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestUploadRetriesRefusals(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int // status per request; the last one repeats
		wantReqs int
	}{
		{"5xx then created", []int{500, 503, 201}, 3},
		{"redirect 302 is not followed as a GET", []int{302, 204}, 2},
		{"4xx then ok", []int{404, 200}, 2},
		{"accepted", []int{202}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &recordingTarget{}
			target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
				code := tt.answers[min(n, len(tt.answers))-1]
				if code == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(code)
				io.WriteString(w, "not today")
			}
			srv := httptest.NewServer(target)
			defer srv.Close()
			dir := t.TempDir()
			file, data := writeRecording(t, dir, "rec.wav", 20<<10)
			h := newHarness(t, filepath.Join(dir, "spool"))
			h.start(t)
			if err := h.Enqueue(Upload{ID: "r", File: file, URL: srv.URL + "/x/call.wav", Method: "PUT", ContentType: "audio/wav"}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.wantReqs-1; i++ {
				ev := h.waitFor(t, UploadRetry, "r")
				if ev.StatusCode != tt.answers[i] || !errors.Is(ev.Err, ErrStatus) {
					t.Errorf("retry %d: %+v, want status %d and ErrStatus", i+1, ev, tt.answers[i])
				}
			}
			ev := h.waitFor(t, UploadUploaded, "r")
			if ev.Attempt != tt.wantReqs {
				t.Errorf("delivered on attempt %d, want %d", ev.Attempt, tt.wantReqs)
			}
			reqs := target.requests()
			if len(reqs) != tt.wantReqs {
				t.Fatalf("target got %d requests, want %d", len(reqs), tt.wantReqs)
			}
			for i, r := range reqs {
				if r.method != http.MethodPut || r.path != "/x/call.wav" || !bytes.Equal(r.body, data) {
					t.Errorf("request %d: %s %s with %d bytes; want every attempt to PUT the whole file", i+1, r.method, r.path, len(r.body))
				}
			}
			want := UploadStats{Uploaded: 1, Attempts: uint64(tt.wantReqs), FailedAttempts: uint64(tt.wantReqs - 1)}
			if got := h.Stats(); got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
			if tt.wantReqs > 1 && !strings.Contains(h.log.String(), `response="not today"`) {
				t.Errorf("log lacks the refusal's body:\n%s", h.log)
			}
		})
	}
}

func TestUploadFollows307And308WithBody(t *testing.T) {
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		switch r.URL.Path {
		case "/old/c.wav":
			http.Redirect(w, r, "/moved/c.wav", http.StatusTemporaryRedirect)
		case "/moved/c.wav":
			http.Redirect(w, r, "/final/c.wav", http.StatusPermanentRedirect)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	file, data := writeRecording(t, dir, "c.wav", 50<<10)
	h := newHarness(t, filepath.Join(dir, "spool"))
	h.start(t)
	if err := h.Enqueue(Upload{ID: "redir", File: file, URL: srv.URL + "/old/c.wav", Method: "POST", ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	if ev := h.waitFor(t, UploadUploaded, "redir"); ev.StatusCode != http.StatusNoContent {
		t.Errorf("delivered with status %d, want 204", ev.StatusCode)
	}
	reqs := target.requests()
	if len(reqs) != 3 {
		t.Fatalf("target got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.method != http.MethodPost || !bytes.Equal(r.body, data) {
			t.Errorf("%s %s with %d bytes; want the body POSTed again on each redirect", r.method, r.path, len(r.body))
		}
	}
}

func TestUploadAttemptTimesOut(t *testing.T) {
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		if n == 1 {
			select { // hang until the uploader gives up
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	file, data := writeRecording(t, dir, "rec.wav", 10<<10)
	h := newHarness(t, filepath.Join(dir, "spool"), WithUploadTimeout(150*time.Millisecond))
	h.start(t)
	if err := h.Enqueue(Upload{ID: "slow", File: file, URL: srv.URL + "/c.wav", ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	ev := h.waitFor(t, UploadRetry, "slow")
	if !errors.Is(ev.Err, ErrTimeout) || ev.Elapsed < 150*time.Millisecond || ev.Elapsed > 2*time.Second {
		t.Errorf("first attempt: %+v, want ErrTimeout after about 150 ms", ev)
	}
	h.waitFor(t, UploadUploaded, "slow")
	if reqs := target.requests(); len(reqs) != 2 || !bytes.Equal(reqs[1].body, data) {
		t.Fatalf("target got %d requests; want the second to carry the recording", len(reqs))
	}
}

func TestUploadSurvivesRestart(t *testing.T) {
	var up atomic.Bool
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	file1, data1 := writeRecording(t, dir, "one.wav", 40<<10)
	file2, data2 := writeRecording(t, dir, "two.mp3", 30<<10)

	first := newHarness(t, spool)
	first.start(t)
	if err := first.Enqueue(Upload{ID: "one", File: file1, URL: srv.URL + "/one.wav", ContentType: "audio/wav", CallID: "one"}); err != nil {
		t.Fatal(err)
	}
	first.waitFor(t, UploadRetry, "one")
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// After Close a job is still saved, for the next start.
	if err := first.Enqueue(Upload{ID: ".two", File: file2, URL: srv.URL + "/two.mp3", Method: "post", ContentType: "audio/mpeg"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"one", ".two"} { // a leading dot is a valid ID
		if !fileExists(filepath.Join(spool, id+".job")) {
			t.Fatalf("job %s not in the spool after Close", id)
		}
	}
	sent := len(target.requests())
	time.Sleep(50 * time.Millisecond) // several backoffs: a closed uploader must not try again
	if got := len(target.requests()); got != sent {
		t.Fatalf("closed uploader made %d more requests", got-sent)
	}

	up.Store(true)
	second := newHarness(t, spool)
	if got := second.Stats().Pending; got != 0 {
		t.Fatalf("Pending %d before Start, want 0", got)
	}
	second.start(t)
	second.waitFor(t, UploadUploaded, "one")
	second.waitFor(t, UploadUploaded, ".two")
	bodies := map[string][]byte{}
	for _, r := range target.requests() {
		bodies[r.method+" "+r.path] = r.body
	}
	if !bytes.Equal(bodies["PUT /one.wav"], data1) || !bytes.Equal(bodies["POST /two.mp3"], data2) {
		t.Fatalf("after restart the target did not get both recordings intact; got %d requests", len(target.requests()))
	}
	if got, want := second.Stats(), (UploadStats{Uploaded: 2, Attempts: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	entries, _ := os.ReadDir(spool)
	if len(entries) != 0 {
		t.Errorf("spool not empty after delivery: %v", entries)
	}
}

func TestUploadMissingFileIsMovedAside(t *testing.T) {
	target := &recordingTarget{}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	file, _ := writeRecording(t, dir, "gone.wav", 1<<10)
	h := newHarness(t, filepath.Join(dir, "spool"))
	if err := h.Enqueue(Upload{ID: "gone", File: file, URL: srv.URL + "/gone.wav", ContentType: "audio/wav", CallID: "c-gone"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	// A job file that is not JSON is moved aside as well, not dropped.
	if err := os.WriteFile(filepath.Join(h.spool, "junk.job"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	if ev := h.waitFor(t, UploadFailed, "gone"); !errors.Is(ev.Err, os.ErrNotExist) {
		t.Errorf("failed event %+v, want os.ErrNotExist", ev)
	}
	for _, name := range []string{"gone.job.failed", "junk.job.failed"} {
		if !fileExists(filepath.Join(h.spool, name)) {
			t.Errorf("%s not in the spool", name)
		}
	}
	for _, name := range []string{"gone.job", "junk.job"} {
		if fileExists(filepath.Join(h.spool, name)) {
			t.Errorf("%s still pending", name)
		}
	}
	if got, want := h.Stats(), (UploadStats{Attempts: 1, FailedAttempts: 1, Failed: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	log := h.log.String()
	for _, want := range []string{"level=ERROR", "recording file missing", "call_id=c-gone", "unreadable upload job moved aside"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if len(target.requests()) != 0 {
		t.Error("a request was made for a missing file")
	}
}

func TestUploadSlowTargetDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusCreated)
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	defer close(release)
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "spool"), WithUploadWorkers(4))
	h.start(t)

	const n = 8
	want := map[string][]byte{}
	for i := range n {
		id := string(rune('a' + i))
		prefix := "/fast/"
		if i == 0 {
			prefix = "/slow/"
		}
		file, data := writeRecording(t, dir, id+".wav", 16<<10+i)
		want[prefix+id+".wav"] = data
		if err := h.Enqueue(Upload{ID: id, File: file, URL: srv.URL + prefix + id + ".wav", ContentType: "audio/wav"}); err != nil {
			t.Fatal(err)
		}
	}
	delivered := map[string]bool{}
	timeout := time.After(5 * time.Second)
	for len(delivered) < n-1 {
		select {
		case ev := <-h.events:
			if ev.Kind == UploadUploaded {
				delivered[ev.ID] = true
			}
		case <-timeout:
			t.Fatalf("only %d of %d fast uploads delivered while one target hung; log:\n%s", len(delivered), n-1, h.log)
		}
	}
	if delivered["a"] {
		t.Fatal("the hung upload was reported delivered")
	}
	if got := h.Stats().Pending; got != 1 {
		t.Errorf("Pending %d while the slow upload hangs, want 1", got)
	}
	release <- struct{}{}
	h.waitFor(t, UploadUploaded, "a")

	reqs := target.requests()
	if len(reqs) != n {
		t.Fatalf("target got %d requests, want %d (each job exactly once)", len(reqs), n)
	}
	for _, r := range reqs {
		if !bytes.Equal(r.body, want[r.path]) {
			t.Errorf("%s: body differs from its recording", r.path)
		}
		delete(want, r.path)
	}
	if len(want) != 0 {
		t.Errorf("never received: %v", want)
	}
	if peak := target.peak.Load(); peak > 4 {
		t.Errorf("%d uploads ran at once, want at most 4 workers", peak)
	}
}

func TestEnqueueRefusesBadUploads(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeRecording(t, dir, "r.wav", 10)
	good := Upload{ID: "ok", File: file, URL: "http://example.test/r.wav", Method: "PUT", ContentType: "audio/wav"}
	tests := []struct {
		name   string
		change func(*Upload)
		want   error
	}{
		{"empty ID", func(u *Upload) { u.ID = "" }, ErrBadUpload},
		{"ID with slash", func(u *Upload) { u.ID = "a/b" }, ErrBadUpload},
		{"ID with space", func(u *Upload) { u.ID = "a b" }, ErrBadUpload},
		{"long ID", func(u *Upload) { u.ID = strings.Repeat("x", 129) }, ErrBadUpload},
		{"relative file", func(u *Upload) { u.File = "r.wav" }, ErrBadUpload},
		{"missing file", func(u *Upload) { u.File = filepath.Join(dir, "none.wav") }, ErrBadUpload},
		{"directory", func(u *Upload) { u.File = dir }, ErrBadUpload},
		{"ftp URL", func(u *Upload) { u.URL = "ftp://example.test/r.wav" }, ErrBadURL},
		{"no host", func(u *Upload) { u.URL = "http:///r.wav" }, ErrBadURL},
		{"GET", func(u *Upload) { u.Method = "GET" }, ErrBadUpload},
		{"no content type", func(u *Upload) { u.ContentType = "" }, ErrBadUpload},
		{"header injection", func(u *Upload) { u.ContentType = "audio/wav\r\nX-Evil: 1" }, ErrBadUpload},
	}
	h := newHarness(t, filepath.Join(dir, "spool"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := good
			tt.change(&up)
			if err := h.Enqueue(up); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := h.Enqueue(good); err != nil {
		t.Fatal(err)
	}
	if err := h.Enqueue(good); !errors.Is(err, ErrUploadExists) {
		t.Errorf("second Enqueue of one ID: %v, want ErrUploadExists", err)
	}
	entries, _ := os.ReadDir(h.spool)
	if len(entries) != 1 || entries[0].Name() != "ok.job" {
		t.Errorf("spool holds %v, want only ok.job", entries)
	}
	if got := h.Stats().Pending; got != 1 {
		t.Errorf("Pending %d, want 1", got)
	}
}

func TestUploaderLifecycle(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.start(t)
	if err := h.Start(context.Background()); !errors.Is(err, ErrUploaderStarted) {
		t.Errorf("second Start: %v, want ErrUploaderStarted", err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := h.Start(context.Background()); !errors.Is(err, ErrUploaderClosed) {
		t.Errorf("Start after Close: %v, want ErrUploaderClosed", err)
	}
}

func TestUploaderCloseCancelsHungAttemptAtDeadline(t *testing.T) {
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		<-r.Context().Done()
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	file, _ := writeRecording(t, dir, "r.wav", 1<<10)
	h := newHarness(t, filepath.Join(dir, "spool"))
	h.start(t)
	if err := h.Enqueue(Upload{ID: "hung", File: file, URL: srv.URL + "/r.wav", ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	for target.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want context.DeadlineExceeded", err)
	}
	if !fileExists(filepath.Join(h.spool, "hung.job")) {
		t.Error("interrupted job not kept in the spool")
	}
}

func TestRecordingUploadURL(t *testing.T) {
	tests := []struct {
		base, callID, ext string
		want              string
		err               error
	}{
		{"http://h/rec", "abc@10.0.0.1", "wav", "http://h/rec/abc@10.0.0.1.wav", nil},
		{"https://h/rec/", "abc@10.0.0.1", "mp3", "https://h/rec/abc@10.0.0.1.mp3", nil},
		{"https://h/rec//", "c", "mp3", "https://h/rec/c.mp3", nil},
		{"http://h", "c", "wav", "http://h/c.wav", nil},
		{"http://h/", "c", "wav", "http://h/c.wav", nil},
		{"http://h/a%20b/", "c", "wav", "http://h/a%20b/c.wav", nil},
		{"http://h/up?token=x", "c", "wav", "http://h/up/c.wav?token=x", nil},
		{"http://user:pw@h/up#frag", "c", "wav", "http://user:pw@h/up/c.wav", nil},
		{"HTTP://h/r", "c", "wav", "http://h/r/c.wav", nil},
		{"http://h/r", "a/b?c#d e%", "wav", "http://h/r/a%2Fb%3Fc%23d%20e%25.wav", nil},
		{"http://h/r", "../x", "wav", "http://h/r/..%2Fx.wav", nil},
		{"ftp://h/r", "c", "wav", "", ErrBadURL},
		{"/relative", "c", "wav", "", ErrBadURL},
		{"http://h/r", "", "wav", "", ErrBadUpload},
		{"http://h/r", "c", "", "", ErrBadUpload},
		{"http://h/r", "c", "w/v", "", ErrBadUpload},
	}
	for _, tt := range tests {
		got, err := RecordingUploadURL(tt.base, tt.callID, tt.ext)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("RecordingUploadURL(%q, %q, %q) = %q, %v; want %q, %v", tt.base, tt.callID, tt.ext, got, err, tt.want, tt.err)
		}
	}
}

func TestUploadBackoffDoublesWithJitterUpToMax(t *testing.T) {
	u, err := NewUploader(t.TempDir(), WithUploadBackoff(time.Second, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {100, 10 * time.Second}}
	for _, tt := range tests {
		for range 20 {
			if got := u.backoff(tt.failures); got > tt.want || got < tt.want*8/10 {
				t.Fatalf("backoff(%d) = %v, want %v less up to 20%%", tt.failures, got, tt.want)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

// An account whose target hangs holds at most DefaultUploadAccountWorkers of the default workers:
// another account's recording goes out while every one of the first account's attempts still hangs.
func TestUploadHangingAccountDoesNotDelayOtherAccounts(t *testing.T) {
	release := make(chan struct{})
	hanging := &recordingTarget{}
	hanging.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(http.StatusCreated)
	}
	slow := httptest.NewServer(hanging)
	defer slow.Close()
	fast := httptest.NewServer(&recordingTarget{})
	defer fast.Close()
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()

	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "spool"), WithUploadTimeout(time.Minute))
	h.start(t)
	const stuck = 20 // more than DefaultUploadWorkers
	for i := range stuck {
		id := fmt.Sprintf("a%02d", i)
		file, _ := writeRecording(t, dir, id+".wav", 1024)
		if err := h.Enqueue(Upload{ID: id, File: file, URL: slow.URL + "/" + id + ".wav", ContentType: "audio/wav", AccountID: "account-a"}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until account A's target holds as many attempts as the old fixed pool had workers.
	for deadline := time.Now().Add(10 * time.Second); hanging.inFlight.Load() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("account A's target never held 4 attempts; log:\n%s", h.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	file, _ := writeRecording(t, dir, "b.wav", 1024)
	if err := h.Enqueue(Upload{ID: "b", File: file, URL: fast.URL + "/b.wav", ContentType: "audio/wav", AccountID: "account-b"}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
wait:
	for {
		select {
		case ev := <-h.events:
			if ev.ID == "b" && ev.Kind == UploadUploaded {
				break wait
			}
			if ev.AccountID == "account-a" && ev.Kind != UploadQueued {
				t.Fatalf("account A's upload %s ended (%s) before account B's was delivered: its target was to hang", ev.ID, ev.Kind)
			}
		case <-timeout:
			t.Fatalf("account B's upload waited behind account A's hanging target (%d of A's attempts in flight); log:\n%s",
				hanging.inFlight.Load(), h.log)
		}
	}
	// What the recordings purge asks: a file still to send is held, a delivered one is not.
	if !h.Holds(filepath.Join(dir, "a00.wav")) || h.Holds(file) {
		t.Errorf("Holds: pending a00.wav %v (want true), delivered b.wav %v (want false)", h.Holds(filepath.Join(dir, "a00.wav")), h.Holds(file))
	}
	if peak := hanging.peak.Load(); peak > DefaultUploadAccountWorkers {
		t.Errorf("account A held %d workers at once, want at most %d", peak, DefaultUploadAccountWorkers)
	}
	// A's other jobs are due and wait for a worker of their account: the dispatcher must sleep
	// until an attempt ends, not spin.
	h.mu.Lock()
	before := h.rounds
	h.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	spun := h.rounds - before
	h.mu.Unlock()
	if spun > 20 {
		t.Errorf("the dispatcher ran %d passes in 200 ms while every free job waited for a worker: it spins", spun)
	}

	releaseAll()
	delivered := 0
	for delivered < stuck {
		select {
		case ev := <-h.events:
			if ev.Kind == UploadUploaded && ev.AccountID == "account-a" {
				delivered++
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%d of account A's %d uploads delivered after its target recovered; log:\n%s", delivered, stuck, h.log)
		}
	}
}

// Holds answers for a file as long as any job still to send it is pending:
// queued before Start, loaded from the spool, waiting for a retry; not once
// the last of them is delivered or given up, and a refused duplicate does
// not count.
func TestUploadHoldsAFileUntilItsLastJobEnds(t *testing.T) {
	var accept sync.Map // path -> true: the target takes it
	target := &recordingTarget{}
	target.answer = func(n int, r *http.Request, w http.ResponseWriter) {
		if _, ok := accept.Load(r.URL.Path); ok {
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	srv := httptest.NewServer(target)
	defer srv.Close()
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	shared, _ := writeRecording(t, dir, "shared.wav", 1<<10)
	other, _ := writeRecording(t, dir, "other.wav", 1<<10)
	gone, _ := writeRecording(t, dir, "gone.wav", 1<<10)
	enqueue := func(h *uploaderHarness, id, file string) error {
		return h.Enqueue(Upload{ID: id, File: file, URL: srv.URL + "/" + id, ContentType: "audio/wav"})
	}
	check := func(h *uploaderHarness, when string, want map[string]bool) {
		t.Helper()
		for file, held := range want {
			if got := h.Holds(file); got != held {
				t.Errorf("%s: Holds(%s) = %v, want %v", when, filepath.Base(file), got, held)
			}
		}
	}

	h := newHarness(t, spool)
	check(h, "nothing queued", map[string]bool{shared: false, other: false})
	for _, j := range []struct{ id, file string }{{"s1", shared}, {"s2", shared}, {"o", other}, {"g", gone}} {
		if err := enqueue(h, j.id, j.file); err != nil {
			t.Fatal(err)
		}
	}
	if err := enqueue(h, "o", shared); !errors.Is(err, ErrUploadExists) {
		t.Fatalf("duplicate ID: %v, want ErrUploadExists", err)
	}
	check(h, "queued before Start", map[string]bool{shared: true, other: true, gone: true,
		filepath.Join(dir, ".", "x", "..", "shared.wav"): true})
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	h.waitFor(t, UploadFailed, "g")
	h.waitFor(t, UploadRetry, "s1")
	check(h, "retrying", map[string]bool{shared: true, other: true, gone: false})

	accept.Store("/s1", true)
	h.waitFor(t, UploadUploaded, "s1")
	check(h, "one of two jobs for a file delivered", map[string]bool{shared: true, other: true})
	accept.Store("/s2", true)
	h.waitFor(t, UploadUploaded, "s2")
	check(h, "both delivered", map[string]bool{shared: false, other: true})
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A restart: the job left in the spool holds its file once loaded.
	again := newHarness(t, spool)
	again.start(t)
	check(again, "loaded from the spool", map[string]bool{other: true, shared: false})
	accept.Store("/o", true)
	again.waitFor(t, UploadUploaded, "o")
	check(again, "all delivered", map[string]bool{other: false, shared: false})
}

// BenchmarkUploaderHolds is one Holds call with 10,000 uploads pending, as
// the retention purge makes for every file in the recordings folder.
func BenchmarkUploaderHolds(b *testing.B) {
	u, err := NewUploader(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	u.mu.Lock()
	for i := range 10000 {
		u.addJobLocked(&uploadJob{up: Upload{ID: fmt.Sprint(i), File: fmt.Sprintf("/rec/%d.wav", i)}})
	}
	u.mu.Unlock()
	for b.Loop() {
		if u.Holds("/rec/x.wav") {
			b.Fatal("held")
		}
	}
}
