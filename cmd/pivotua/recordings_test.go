package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordingServerServesOnlySignedURLs(t *testing.T) {
	dir := t.TempDir()
	const other = "0123456789abcdef0123456789abcdef"
	if err := os.MkdirAll(filepath.Join(dir, e2eAccount, "sub.wav"), 0o750); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("RIFFdata"), 500)
	if err := os.WriteFile(filepath.Join(dir, e2eAccount, "call-1-42.wav"), body, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, e2eAccount, "call-1-43.mp3"), []byte("ID3"), 0o640); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	recs := newRecordingServer(dir, srv.URL+"/", map[string]string{e2eAccount: "key-1", other: "key-2"})
	recs.register(mux)

	good := recs.RecordingURL(e2eAccount, "call-1-42.wav")
	if !strings.HasPrefix(good, srv.URL+"/recordings/"+e2eAccount+"/") || !strings.HasSuffix(good, "/call-1-42.wav") {
		t.Fatalf("URL %s", good)
	}
	token := strings.Split(strings.TrimPrefix(good, srv.URL+"/recordings/"), "/")[1]
	if len(token) != 32 {
		t.Errorf("token %q is not 128 bits of hex", token)
	}

	get := func(method, url, rangeHeader string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, url, nil)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, b := get("GET", good, "")
	if res.StatusCode != 200 || !bytes.Equal(b, body) || res.Header.Get("Content-Type") != "audio/wav" {
		t.Errorf("GET: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(b))
	}
	res, b = get("GET", good, "bytes=100-199")
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, body[100:200]) || res.Header.Get("Content-Range") != "bytes 100-199/4000" {
		t.Errorf("Range: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Range"), len(b))
	}
	res, _ = get("HEAD", good, "")
	if res.StatusCode != 200 || res.ContentLength != int64(len(body)) {
		t.Errorf("HEAD: %d, length %d", res.StatusCode, res.ContentLength)
	}
	if res, _ := get("GET", recs.RecordingURL(e2eAccount, "call-1-43.mp3"), ""); res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/mpeg" {
		t.Errorf("mp3: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	for name, url := range map[string]string{
		"wrong token":           strings.Replace(good, token, strings.Repeat("0", 32), 1),
		"another account's key": recs.RecordingURL(other, "call-1-42.wav"),
		"unknown account":       srv.URL + "/recordings/ffffffffffffffffffffffffffffffff/" + token + "/call-1-42.wav",
		"unknown file":          recs.RecordingURL(e2eAccount, "call-2-1.wav"),
		"a folder":              recs.RecordingURL(e2eAccount, "sub.wav"),
		"traversal":             srv.URL + "/recordings/" + e2eAccount + "/" + token + "/..%2f..%2fetc%2fpasswd",
		"not audio":             recs.RecordingURL(e2eAccount, "call-1-42.txt"),
		"listing":               srv.URL + "/recordings/" + e2eAccount + "/",
		"root":                  srv.URL + "/recordings/",
	} {
		if res, b := get("GET", url, ""); res.StatusCode != http.StatusNotFound || bytes.Contains(b, []byte("call-1")) {
			t.Errorf("%s: %d %q", name, res.StatusCode, b)
		}
	}
}

func TestPublicHTTPBase(t *testing.T) {
	for _, tt := range []struct{ listen, external, want string }{
		{"127.0.0.1:8000", "", "http://127.0.0.1:8000"},
		{"0.0.0.0:8000", "", "http://127.0.0.1:8000"},
		{"0.0.0.0:8000", "203.0.113.5", "http://203.0.113.5:8000"},
		{"[::]:8000", "2001:db8::1", "http://[2001:db8::1]:8000"},
		{"[::1]:8000", "", "http://[::1]:8000"},
	} {
		if got := publicHTTPBase(tt.listen, tt.external); got != tt.want {
			t.Errorf("publicHTTPBase(%q, %q) = %q, want %q", tt.listen, tt.external, got, tt.want)
		}
	}
}

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
	}
	kept := map[string]string{
		"recent":                 write(filepath.Join(acc, "recent-1-1700000000000000000.wav"), time.Now()),
		"waiting in the spool":   write(filepath.Join(acc, "spooled-1-1700000000000000000.wav"), old),
		"of a live call":         write(filepath.Join(acc, "live_call_example.com-1700000000000000000.wav"), old),
		"a live call's Dial":     write(filepath.Join(acc, "live_call_example.com-dial-1700000000000000000.wav"), old),
		"a Call-ID ending -dial": write(filepath.Join(acc, "x-dial-1700000000000000000.wav"), old),
		"not a recording":        write(filepath.Join(acc, "notes.txt"), old),
		"the spool's own files":  write(filepath.Join(dir, ".spool", "a.job"), old),
		"not an account folder":  write(filepath.Join(dir, "archive", "a-1.wav"), old),
	}
	live := newLiveCalls()
	defer live.track("live/call@example.com")()
	defer live.track("x-dial")()
	ended := live.track("ended-call-1")
	ended()

	n, err := purgeRecordings(dir, time.Now().Add(-time.Hour), spoolStub{kept["waiting in the spool"]: true}, live)
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
	if n, err := purgeRecordings(filepath.Join(dir, "none"), time.Now(), spoolStub{}, live); n != 0 || err != nil {
		t.Errorf("a recordings folder not made yet: %d, %v", n, err)
	}
}
