package debugapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
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

// fakeAudioCheck stands in for codec's decoder (debugapi imports no project package): a WAV
// whose data chunk holds 8 kHz 16-bit samples is audio; anything else is not.
func fakeAudioCheck(_ context.Context, data []byte, _ string) (time.Duration, error) {
	if SniffFormat(data) == "mp3" {
		return time.Second, nil
	}
	if SniffFormat(data) != "wav" || len(data) < 44 {
		return 0, errors.New("codec: unrecognised audio")
	}
	return time.Duration(len(data)-44) * time.Second / 16000, nil
}

// testWAV is a canonical 8 kHz mono WAV of n samples.
func testWAV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(2*n))
	b.Write(make([]byte, 2*n))
	return b.Bytes()
}

type mediaFixture struct {
	*apiFixture
	media *MediaStore
	dir   string
}

func newMediaFixture(t *testing.T, adjust ...func(*MediaStoreConfig)) *mediaFixture {
	t.Helper()
	cfg := MediaStoreConfig{Dir: filepath.Join(t.TempDir(), "media"), MaxFileBytes: 64 << 10, MaxPerAccount: 5, Formats: []string{"wav", "mp3"}}
	for _, f := range adjust {
		f(&cfg)
	}
	ms, err := NewMediaStore(cfg, fakeAudioCheck)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{store: openSQLiteTest(t), clock: &testClock{now: time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)}}
	api := NewAPI(APIConfig{
		Store:    f.store,
		Accounts: []Account{{ID: accountA, Name: "alpha", APIKey: keyA}, {ID: accountB, Name: "beta", APIKey: keyB}},
		Node:     "pivotua@test", Version: "test-1", Now: f.clock.Now, Media: ms,
	})
	mux := http.NewServeMux()
	api.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return &mediaFixture{apiFixture: f, media: ms, dir: cfg.Dir}
}

// upload POSTs body as contentType and decodes the envelope.
func (f *mediaFixture) upload(t *testing.T, path, token, contentType string, body []byte) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("X-Auth-Token", token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{code: resp.StatusCode, header: resp.Header}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out.body); err != nil {
		t.Fatalf("POST %s: body is not JSON: %v", path, err)
	}
	return out
}

// download GETs a media's audio.
func (f *mediaFixture) download(t *testing.T, path, token, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("X-Auth-Token", token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func (f *mediaFixture) create(t *testing.T, token, account, name string) string {
	t.Helper()
	r := f.do(t, http.MethodPut, "/v2/accounts/"+account+"/media", token, `{"data":{"streamable":true,"name":"`+name+`","description":"My Test Media File"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("PUT media: %d %v", r.code, r.body)
	}
	id, _ := r.body["data"].(map[string]any)["id"].(string)
	if !isHexID(id) {
		t.Fatalf("PUT media: id %q is not 32 hex", id)
	}
	return id
}

func TestMediaAPICreateUploadListFetchDownloadDelete(t *testing.T) {
	f := newMediaFixture(t)
	tok := f.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/media"

	r := f.do(t, http.MethodPut, base, tok, `{"data":{"streamable":true,"name":"File","description":"My Test Media File"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("PUT: %d %v", r.code, r.body)
	}
	checkEnvelope(t, r, "success")
	doc := r.body["data"].(map[string]any)
	wantKeys(t, "created doc", doc, "id", "name", "description", "media_source", "language", "streamable")
	if doc["media_source"] != "upload" || doc["language"] != "en-us" || doc["streamable"] != true {
		t.Errorf("defaults: %v", doc)
	}
	id := doc["id"].(string)

	if r := f.do(t, http.MethodGet, base+"/"+id+"/raw", tok, ""); r.code != http.StatusNotFound ||
		!strings.Contains(r.body["message"].(string), "no audio yet") {
		t.Errorf("raw before upload: %d %v", r.code, r.body)
	}

	wav := testWAV(16000) // 2 s
	r = f.upload(t, base+"/"+id+"/raw", tok, "audio/x-wav", wav)
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %v", r.code, r.body)
	}
	up := r.body["data"].(map[string]any)
	if up["content_type"] != "audio/wav" || up["content_length"] != json.Number("32044") || up["duration_ms"] != json.Number("2000") {
		t.Errorf("after upload: %v", up)
	}

	r = f.do(t, http.MethodGet, base, tok, "")
	if r.code != http.StatusOK || r.body["page_size"] != json.Number("1") {
		t.Fatalf("list: %d %v", r.code, r.body)
	}
	row := r.body["data"].([]any)[0].(map[string]any)
	wantKeys(t, "list row", row, "id", "is_prompt", "language", "media_source", "name", "content_type", "duration_ms")

	r = f.do(t, http.MethodGet, base+"/"+id, tok, "")
	if r.code != http.StatusOK || r.body["data"].(map[string]any)["name"] != "File" {
		t.Errorf("fetch: %d %v", r.code, r.body)
	}

	for _, c := range []struct{ path, accept string }{{base + "/" + id + "/raw", ""}, {base + "/" + id, "audio/*"}} {
		resp, raw := f.download(t, c.path, tok, c.accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(raw, wav) {
			t.Errorf("GET %s (Accept %q): %d %s, %d bytes", c.path, c.accept, resp.StatusCode, resp.Header.Get("Content-Type"), len(raw))
		}
	}

	r = f.do(t, http.MethodPost, base+"/"+id, tok, `{"data":{"name":"Renamed","language":"FR-fr"}}`)
	if r.code != http.StatusOK {
		t.Fatalf("update: %d %v", r.code, r.body)
	}
	if d := r.body["data"].(map[string]any); d["name"] != "Renamed" || d["language"] != "fr-fr" || d["content_type"] != "audio/wav" {
		t.Errorf("update keeps the audio and replaces the fields: %v", d)
	}

	r = f.do(t, http.MethodDelete, base+"/"+id, tok, "")
	if r.code != http.StatusOK {
		t.Fatalf("delete: %d %v", r.code, r.body)
	}
	if r := f.do(t, http.MethodGet, base+"/"+id, tok, ""); r.code != http.StatusNotFound {
		t.Errorf("after delete: %d %v", r.code, r.body)
	}
	left, _ := os.ReadDir(filepath.Join(f.dir, accountA))
	if len(left) != 0 {
		t.Errorf("files left after delete: %v", left)
	}
}

func TestMediaAPIUploadTakesKazoosOtherForms(t *testing.T) {
	f := newMediaFixture(t)
	tok := f.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/media/"
	id := f.create(t, tok, accountA, "uri")
	// A base64 data: URI, and a POST of audio to the document's own URL (Kazoo's newer upload URL).
	uri := "data:audio/wav;base64," + base64.StdEncoding.EncodeToString(testWAV(8000))
	if r := f.upload(t, base+id+"/raw", tok, "", []byte(uri)); r.code != http.StatusOK {
		t.Errorf("data URI upload: %d %v", r.code, r.body)
	}
	if r := f.upload(t, base+id, tok, "audio/wav", testWAV(4000)); r.code != http.StatusOK ||
		r.body["data"].(map[string]any)["duration_ms"] != json.Number("500") {
		t.Errorf("upload to the document URL: %d %v", r.code, r.body)
	}
}

func TestMediaAPIRefusesHostileRequests(t *testing.T) {
	f := newMediaFixture(t, func(c *MediaStoreConfig) { c.Formats = []string{"wav"} })
	tokA, tokB := f.token(t, keyA), f.token(t, keyB)
	base := "/v2/accounts/" + accountA + "/media"
	id := f.create(t, tokA, accountA, "mine")

	t.Run("oversize", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "audio/wav", testWAV(200<<10))
		checkError(t, r, http.StatusRequestEntityTooLarge, "max_file_bytes")
	})
	t.Run("not audio", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "audio/wav", []byte("<html>hello</html>"))
		checkError(t, r, http.StatusBadRequest, "not audio pivotua can play: codec: unrecognised audio")
	})
	t.Run("empty", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "audio/wav", nil)
		checkError(t, r, http.StatusBadRequest, "empty")
	})
	t.Run("format not allowed", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "audio/mpeg", append([]byte("ID3"), make([]byte, 100)...))
		checkError(t, r, http.StatusUnsupportedMediaType, "media_store.formats allows wav")
	})
	t.Run("content type pivotua cannot play", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "audio/ogg", testWAV(100))
		checkError(t, r, http.StatusUnsupportedMediaType, "audio/wav")
	})
	t.Run("bad base64", func(t *testing.T) {
		r := f.upload(t, base+"/"+id+"/raw", tokA, "", []byte("data:audio/wav;base64,!!!"))
		checkError(t, r, http.StatusBadRequest, "base64")
	})
	// A literal ".." never reaches the API: the mux cleans the path first.
	for _, bad := range []string{"..%2F..%2Fetc%2Fpasswd", "%2e%2e", "mine.wav", strings.Repeat("A", 32), id + "x"} {
		t.Run("id "+bad, func(t *testing.T) {
			r := f.do(t, http.MethodGet, base+"/"+bad+"/raw", tokA, "")
			if r.code != http.StatusBadRequest && r.code != http.StatusNotFound {
				t.Fatalf("GET media %q: %d %v", bad, r.code, r.body)
			}
			if r.code == http.StatusBadRequest && !strings.Contains(r.body["message"].(string), "media_id") {
				t.Errorf("message %v does not name media_id", r.body["message"])
			}
		})
	}
	t.Run("another account's token", func(t *testing.T) {
		checkError(t, f.do(t, http.MethodGet, base+"/"+id, tokB, ""), http.StatusForbidden, "may not read")
		checkError(t, f.upload(t, base+"/"+id+"/raw", tokB, "audio/wav", testWAV(100)), http.StatusForbidden, "may not read")
		checkError(t, f.do(t, http.MethodDelete, base+"/"+id, tokB, ""), http.StatusForbidden, "may not read")
	})
	t.Run("another account's media id", func(t *testing.T) {
		checkError(t, f.do(t, http.MethodGet, "/v2/accounts/"+accountB+"/media/"+id, tokB, ""), http.StatusNotFound, "no media")
		checkError(t, f.do(t, http.MethodDelete, "/v2/accounts/"+accountB+"/media/"+id, tokB, ""), http.StatusNotFound, "no media")
	})
	t.Run("no token", func(t *testing.T) {
		checkError(t, f.do(t, http.MethodGet, base, "", ""), http.StatusUnauthorized, "no auth token")
	})
	t.Run("bad documents", func(t *testing.T) {
		checkError(t, f.do(t, http.MethodPut, base, tokA, `{"data":{}}`), http.StatusBadRequest, "invalid name: required")
		checkError(t, f.do(t, http.MethodPut, base, tokA, `{"data":{"name":7}}`), http.StatusBadRequest, "data.name")
		checkError(t, f.do(t, http.MethodPut, base, tokA, `{"data":{"name":"`+strings.Repeat("n", 129)+`"}}`), http.StatusBadRequest, "1 to 128")
		checkError(t, f.do(t, http.MethodPut, base, tokA, `{"data":{"name":"t","media_source":"tts"}}`), http.StatusBadRequest, "tts module")
		checkError(t, f.do(t, http.MethodPut, base, tokA, `not json`), http.StatusBadRequest, "must be JSON")
	})
	t.Run("count cap", func(t *testing.T) {
		for i := 1; i < 5; i++ {
			f.create(t, tokA, accountA, "more")
		}
		checkError(t, f.do(t, http.MethodPut, base, tokA, `{"data":{"name":"one too many"}}`), http.StatusConflict, "max_per_account")
	})
	t.Run("method", func(t *testing.T) {
		checkError(t, f.do(t, http.MethodPatch, base+"/"+id, tokA, `{}`), http.StatusMethodNotAllowed, "GET or POST or DELETE")
	})
	// Nothing outside the account's folder was written, and no temporary file is left.
	err := filepath.WalkDir(f.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Dir(p) != filepath.Join(f.dir, accountA) || strings.HasPrefix(d.Name(), mediaTempPref)) {
			t.Errorf("unexpected file %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMediaStoreServesFlowTheUploadedAudioByVersion(t *testing.T) {
	f := newMediaFixture(t)
	id, err := f.media.Create(accountA, MediaInput{Name: ptr("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.media.MediaVersion(accountA, id.ID); !errors.Is(err, ErrMediaNoAudio) {
		t.Errorf("version before upload: %v", err)
	}
	if _, err := f.media.PutAudio(context.Background(), accountA, id.ID, testWAV(800), "audio/wav"); err != nil {
		t.Fatal(err)
	}
	v1, _ := f.media.MediaVersion(accountA, id.ID)
	if _, err := f.media.PutAudio(context.Background(), accountA, id.ID, testWAV(1600), "audio/wav"); err != nil {
		t.Fatal(err)
	}
	v2, _ := f.media.MediaVersion(accountA, id.ID)
	data, ct, err := f.media.ReadMedia(accountA, id.ID)
	if err != nil || v1 == "" || v1 == v2 || ct != "audio/wav" || len(data) != 44+3200 {
		t.Errorf("versions %q %q, read %d bytes %q %v", v1, v2, len(data), ct, err)
	}
	if _, _, err := f.media.ReadMedia(accountB, id.ID); !errors.Is(err, ErrMediaNotFound) {
		t.Errorf("another account reads it: %v", err)
	}
	if _, _, err := f.media.ReadMedia(accountA, "../../"+id.ID[6:]); !errors.Is(err, ErrMediaNotFound) {
		t.Errorf("a traversing id: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMediaStoreSettingsNameEachProblem(t *testing.T) {
	def := DefaultMediaStoreSettings()
	if _, errs := def.Config("media_store"); len(errs) > 0 {
		t.Fatalf("defaults: %v", errs)
	}
	bad := MediaStoreSettings{Dir: " ", MaxFileBytes: 10, MaxPerAccount: 0, Formats: []string{"wav", "ogg", "WAV"}}
	_, errs := bad.Config("media_store")
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"media_store.dir: required", "media_store.max_file_bytes: must be between", "media_store.max_per_account: must be between",
		`media_store.formats[1]: "ogg" is not one of wav, mp3`, `media_store.formats[2]: "WAV" is listed twice`} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
}

// FuzzDecodeDataURI: an upload's data: URI never panics, and what decodes is no bigger than its base64.
func FuzzDecodeDataURI(f *testing.F) {
	f.Add([]byte("data:audio/wav;base64,UklGRg=="))
	f.Add([]byte("data:;base64,"))
	f.Add([]byte("data:audio/mpeg,plain"))
	f.Add([]byte("UklGRg=="))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := decodeDataURI(body)
		if err == nil && len(out) > len(body) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(body))
		}
		_ = SniffFormat(body)
	})
}

func TestMediaAPIBoundsUploadsInFlight(t *testing.T) {
	f := newMediaFixture(t)
	tok := f.token(t, keyA)
	id := f.create(t, tok, accountA, "busy")
	entered, unblock := make(chan struct{}, maxConcurrentUploads), make(chan struct{})
	f.media.check = func(ctx context.Context, data []byte, ct string) (time.Duration, error) {
		entered <- struct{}{}
		<-unblock
		return fakeAudioCheck(ctx, data, ct)
	}
	path := "/v2/accounts/" + accountA + "/media/" + id + "/raw"
	codes := make(chan int, maxConcurrentUploads)
	for range maxConcurrentUploads {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(testWAV(100)))
			req.Header.Set("X-Auth-Token", tok)
			req.Header.Set("Content-Type", "audio/wav")
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range maxConcurrentUploads {
		<-entered
	}
	r := f.upload(t, path, tok, "audio/wav", testWAV(100))
	checkError(t, r, http.StatusServiceUnavailable, "retry")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	close(unblock)
	for range maxConcurrentUploads {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("an upload in flight got %d", c)
		}
	}
	if r := f.upload(t, path, tok, "audio/wav", testWAV(100)); r.code != http.StatusOK {
		t.Errorf("after the others: %d %v", r.code, r.body)
	}
}
