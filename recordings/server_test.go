package recordings

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

// e2eAccount is the account the tests' recordings belong to (cmd/pivotua's end-to-end account).
const e2eAccount = "4b31dd1d32ce6d249897c06332375d65"

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
	recs := NewServer(dir, srv.URL+"/", map[string]string{e2eAccount: "key-1", other: "key-2"})
	recs.Register(mux)

	good := recs.RecordingURL(e2eAccount, "call-1-42.wav")
	if !strings.HasPrefix(good, srv.URL+"/recordings/"+e2eAccount+"/") || !strings.HasSuffix(good, "/call-1-42.wav") {
		t.Fatalf("URL %s", good)
	}
	token := strings.Split(strings.TrimPrefix(good, srv.URL+"/recordings/"), "/")[1]
	if len(token) != 32 {
		t.Errorf("token %q is not 128 bits of hex", token)
	}

	res, b := testkit.Get(t, "GET", good, "")
	if res.StatusCode != 200 || !bytes.Equal(b, body) || res.Header.Get("Content-Type") != "audio/wav" {
		t.Errorf("GET: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(b))
	}
	res, b = testkit.Get(t, "GET", good, "bytes=100-199")
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, body[100:200]) || res.Header.Get("Content-Range") != "bytes 100-199/4000" {
		t.Errorf("Range: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Range"), len(b))
	}
	res, _ = testkit.Get(t, "HEAD", good, "")
	if res.StatusCode != 200 || res.ContentLength != int64(len(body)) {
		t.Errorf("HEAD: %d, length %d", res.StatusCode, res.ContentLength)
	}
	if res, _ := testkit.Get(t, "GET", recs.RecordingURL(e2eAccount, "call-1-43.mp3"), ""); res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/mpeg" {
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
		if res, b := testkit.Get(t, "GET", url, ""); res.StatusCode != http.StatusNotFound || bytes.Contains(b, []byte("call-1")) {
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
		if got := BaseURL(tt.listen, tt.external); got != tt.want {
			t.Errorf("BaseURL(%q, %q) = %q, want %q", tt.listen, tt.external, got, tt.want)
		}
	}
}

// Recordings of calls whose Call-ID is long (1,000 bytes), starts with a dot
// or holds bytes no file name may: named as flow names them, each is served
// at its link, kept while its call is live, and purged once it is old.
func TestRecordingsOfAnyCallIDAreServedAndPurged(t *testing.T) {
	dir := t.TempDir()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	recs := NewServer(dir, srv.URL, map[string]string{e2eAccount: "key-1"})
	recs.Register(mux)
	long := strings.Repeat("a1b2c3d4e5", 100) + "@example.com"
	spool, err := httpfetch.NewUploader(filepath.Join(dir, ".spool")) // not started: it only checks and keeps jobs
	if err != nil {
		t.Fatal(err)
	}
calls:
	for _, callID := range []string{long[:1000], long[:190], ".hidden", "..", "a/../../b\x00\xff@host", ""} {
		name := CallPart(callID) + "-1700000000000000000.wav"
		dial := CallPart(callID) + "-dial-1700000000000000001.wav"
		old := time.Now().Add(-2 * time.Hour)
		for _, n := range []string{name, dial} {
			p := filepath.Join(dir, e2eAccount, n)
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatalf("Call-ID %.20q: %v", callID, err)
			}
			if err := os.WriteFile(p, []byte("RIFF"), 0o640); err != nil {
				t.Errorf("Call-ID %.20q (%d bytes): recording not written: %v", callID, len(callID), err)
				continue calls
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(recs.RecordingURL(e2eAccount, n))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("Call-ID %.20q (%d bytes): %s not served: %d", callID, len(callID), n, res.StatusCode)
			}
		}
		// flow spools the upload of a recording under its name without the extension.
		if err := spool.Enqueue(httpfetch.Upload{ID: strings.TrimSuffix(name, ".wav"), File: filepath.Join(dir, e2eAccount, name),
			URL: "http://127.0.0.1:9/r.wav", ContentType: "audio/wav"}); err != nil {
			t.Errorf("Call-ID %.20q (%d bytes): upload not queued: %v", callID, len(callID), err)
		}
		live := NewLiveCalls()
		done := live.Track(callID)
		if n, _ := Purge(dir, time.Now().Add(-time.Hour), spoolStub{}, live); n != 0 {
			t.Errorf("Call-ID %.20q: %d recordings of the live call purged", callID, n)
		}
		done()
		if n, err := Purge(dir, time.Now().Add(-time.Hour), spoolStub{}, live); n != 2 || err != nil { // the stub: the job is not sent
			t.Errorf("Call-ID %.20q (%d bytes): purged %d (%v), want its 2 recordings", callID, len(callID), n, err)
		}
	}
}
