package recordings

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
