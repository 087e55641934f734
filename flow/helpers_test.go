package flow

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
)

const testAccountID = "4b31dd1d32ce6d249897c06332375d65"

// toneSpeaker stands in for text to speech where flite is missing: 100 ms of tone per word.
type toneSpeaker struct{}

func (toneSpeaker) Prompt(_ context.Context, r codec.SpeechRequest) (*codec.Prompt, error) {
	words := len(strings.Fields(r.Text))
	return codec.NewPrompt(codec.Tone(440, time.Duration(words)*100*time.Millisecond, 0.3)), nil
}

// testSpeaker is a real flite speech cache when flite is installed, else toneSpeaker.
func testSpeaker() Speaker {
	if _, err := exec.LookPath("flite"); err == nil {
		return codec.NewSpeechCache(codec.EngineFlite, 0, nil)
	}
	return toneSpeaker{}
}

// receivedRequest is what a webhook saw.
type receivedRequest struct {
	Method string
	Path   string
	Query  string
	Form   url.Values // query and form body together
	Header http.Header
}

// webhook is a real HTTP server standing in for the developer's application.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []receivedRequest
}

// newWebhook serves handler and records every request.
func newWebhook(t *testing.T, handler http.HandlerFunc) *webhook {
	t.Helper()
	w := &webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		_ = r.ParseForm()
		w.mu.Lock()
		w.requests = append(w.requests, receivedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Form: r.Form, Header: r.Header.Clone()})
		w.mu.Unlock()
		handler(rw, r)
	}))
	t.Cleanup(w.Close)
	return w
}

// Requests returns what the webhook received so far.
func (w *webhook) Requests() []receivedRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.requests)
}

// serveDocs answers each path with a fixed content type and body; unknown paths get 404.
func serveDocs(docs map[string][2]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if doc[0] != "" {
			w.Header().Set("Content-Type", doc[0])
		}
		io.WriteString(w, doc[1])
	}
}

// testWAV is a 500 ms 8 kHz tone as a WAV file.
func testWAV(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := codec.EncodeWAV(&buf, codec.Tone(1000, 500*time.Millisecond, 0.5), codec.SampleRate); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serveWAV answers every request with testWAV.
func serveWAV(t *testing.T) *httptest.Server {
	t.Helper()
	wav := testWAV(t)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(wav)
	}))
	t.Cleanup(s.Close)
	return s
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestCall builds a Call on ch with a real httpfetch client and the test speaker.
func newTestCall(t *testing.T, ch Channel, debug func(Exchange)) *Call {
	t.Helper()
	client := httpfetch.NewClient()
	return NewCall(ch, testAccountID, "api-key-secret", Deps{
		Documents: client,
		Media:     client,
		Speech:    testSpeaker(),
		Prompts:   NewPromptCache(0, nil),
		Debug:     debug,
		Logger:    testLogger(t),
	})
}

// mustNode parses and validates a callflow written as JSON.
func mustNode(t *testing.T, doc string) *Node {
	t.Helper()
	n, err := ParseNode([]byte(doc), "")
	if err != nil {
		t.Fatalf("ParseNode(%s): %v", doc, err)
	}
	if errs := ValidateNode(n, ""); len(errs) > 0 {
		t.Fatalf("ValidateNode(%s): %v", doc, errs)
	}
	return n
}

// runFlow runs flow on ch to the end (at most 10 s).
func runFlow(t *testing.T, c *Call, flow *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.Run(ctx, flow)
	if ctx.Err() != nil {
		t.Fatal("flow did not finish in 10 s")
	}
}

// exchanges collects the Exchanges a call reports.
type exchanges struct {
	mu   sync.Mutex
	list []Exchange
}

func (e *exchanges) add(ex Exchange) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ex)
}

func (e *exchanges) all() []Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func equalEvents(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func testPrompt() *codec.Prompt {
	return codec.NewPrompt(codec.Tone(440, 100*time.Millisecond, 0.3))
}
