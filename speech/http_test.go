package speech

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

func httpEngine(t *testing.T, url, encoding string) Recognizer {
	t.Helper()
	s := DefaultSettings()
	s.Engine, s.HTTPURL, s.HTTPEncoding, s.HTTPSigningKey = EngineHTTP, url, encoding, "speech-key"
	if errs := s.Validate("speech"); len(errs) > 0 {
		t.Fatal(errs)
	}
	return s.New(http.DefaultClient)
}

// TestHTTPEngineStreamsAudioAndReadsTheAnswer: a small speech service gets the audio while it is
// being written (the first bytes arrive before the recognition is closed), chunked, in the declared
// encoding, with the request's headers and a valid signature, and its JSON answer is the result.
func TestHTTPEngineStreamsAudioAndReadsTheAnswer(t *testing.T) {
	for _, tt := range []struct{ encoding, contentType string }{
		{"l16", "audio/L16;rate=8000"},
		{"pcmu", "audio/PCMU;rate=8000"},
	} {
		t.Run(tt.encoding, func(t *testing.T) {
			firstBytes := make(chan struct{})
			var got *http.Request
			var body int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				buf := make([]byte, 4096)
				for {
					n, err := r.Body.Read(buf)
					if body == 0 && n > 0 {
						close(firstBytes)
					}
					body += n
					if err != nil {
						break
					}
				}
				io.WriteString(w, `{"text":" technical support ","confidence":0.87}`)
			}))
			defer srv.Close()
			rec := httpEngine(t, srv.URL+"/recognise?model=x", tt.encoding)
			g, err := rec.Start(context.Background(), Request{Language: "fr-FR", Hints: []string{"sales", "technical\r\nsupport"}, Model: "phone_call", CallID: "call-1"})
			if err != nil {
				t.Fatal(err)
			}
			frame := make([]int16, FrameSamples)
			for range 10 {
				g.Write(frame)
			}
			select {
			case <-firstBytes: // streamed: the service hears the caller before the end
			case <-time.After(10 * time.Second):
				t.Fatal("the service got no audio before the recognition was closed")
			}
			for range 40 {
				g.Write(frame)
			}
			res, err := g.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "technical support" || res.Confidence != 0.87 {
				t.Errorf("result %+v", res)
			}
			perSample := map[string]int{"l16": 2, "pcmu": 1}[tt.encoding]
			if body != 50*FrameSamples*perSample {
				t.Errorf("the service got %d bytes, want %d", body, 50*FrameSamples*perSample)
			}
			if got.Header.Get("Content-Type") != tt.contentType || len(got.TransferEncoding) != 1 || got.TransferEncoding[0] != "chunked" {
				t.Errorf("Content-Type %q Transfer-Encoding %q", got.Header.Get("Content-Type"), got.TransferEncoding)
			}
			if got.Header.Get("X-Speech-Language") != "fr-FR" || got.Header.Get("X-Speech-Hints") != "sales,technical  support" ||
				got.Header.Get("X-Speech-Model") != "phone_call" || got.Header.Get("X-Call-Sid") != "call-1" {
				t.Errorf("headers %v", got.Header)
			}
			if !httpfetch.ValidatePivotSignature("speech-key", srv.URL+"/recognise?model=x", nil, got.Header.Get("X-Pivot-Signature"), time.Now(), time.Minute) {
				t.Errorf("X-Pivot-Signature %q does not validate", got.Header.Get("X-Pivot-Signature"))
			}
		})
	}
}

func TestHTTPEngineRefusesABadAnswer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"error status", 500, `{"text":"x"}`},
		{"not JSON", 200, `<html>`},
		{"no text", 200, `{"confidence":1}`},
		{"too big", 200, `{"text":"` + strings.Repeat("a", maxHTTPAnswer) + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			g, err := httpEngine(t, srv.URL, "l16").Start(context.Background(), Request{})
			if err != nil {
				t.Fatal(err)
			}
			g.Write(make([]int16, FrameSamples))
			if _, err := g.Close(context.Background()); !errors.Is(err, ErrEngine) {
				t.Fatalf("Close: %v, want ErrEngine", err)
			}
		})
	}
}
