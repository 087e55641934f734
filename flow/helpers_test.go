package flow

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
