package flowtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

// AccountID is the account NewCall's calls belong to.
const AccountID = "4b31dd1d32ce6d249897c06332375d65"

// SigningKey is the api_key NewCall's calls sign their pivot requests with.
const SigningKey = "api-key-secret"

// NewCall builds a Call on ch for AccountID with Deps(t, debug).
func NewCall(t testing.TB, ch flow.Channel, debug func(flow.Exchange)) *flow.Call {
	t.Helper()
	return flow.NewCall(ch, AccountID, SigningKey, Deps(t, debug))
}

// Deps are what NewCall gives a call: a real httpfetch client, Speaker(), a prompt cache and a logger
// to the test's output; debug receives the pivot exchanges (nil: none). A test that needs more
// (recordings, uploads, an Observer) sets them and calls flow.NewCall with AccountID and SigningKey.
func Deps(t testing.TB, debug func(flow.Exchange)) flow.Deps {
	client := httpfetch.NewClient()
	return flow.Deps{
		Documents: client,
		Media:     client,
		Speech:    Speaker(),
		Prompts:   flow.NewPromptCache(0, nil),
		Debug:     debug,
		Logger:    Logger(t),
	}
}

// Logger writes the call's log to the test's output, debug lines included.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MustNode parses and validates a callflow written as JSON.
func MustNode(t testing.TB, doc string) *flow.Node {
	t.Helper()
	n, err := flow.ParseNode([]byte(doc), "")
	if err != nil {
		t.Fatalf("ParseNode(%s): %v", doc, err)
	}
	if errs := flow.ValidateNode(n, ""); len(errs) > 0 {
		t.Fatalf("ValidateNode(%s): %v", doc, errs)
	}
	return n
}

// PivotFlow is a pivot callflow that fetches url; extra is more of its data (`,"method":"post"`),
// and fallback adds a "_" child that rejects with 480 Fallback.
func PivotFlow(url, extra string, fallback bool) string {
	doc := fmt.Sprintf(`{"module":"pivot","data":{"voice_url":%q%s}`, url, extra)
	if fallback {
		doc += `,"children":{"_":{"module":"response","data":{"code":480,"message":"Fallback"}}}`
	}
	return doc + "}"
}

// Run runs the callflow n on the call to its end; it fails the test if that takes more than 10 s.
func Run(t testing.TB, c *flow.Call, n *flow.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.Run(ctx, n)
	if ctx.Err() != nil {
		t.Fatal("flow did not finish in 10 s")
	}
}

// EqualEvents fails the test unless the Channel's events are want.
func EqualEvents(t testing.TB, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

// Exchanges collects the pivot exchanges a call reports: pass its Add as NewCall's debug.
type Exchanges struct {
	mu   sync.Mutex
	list []flow.Exchange
}

// Add keeps ex; calls may report from any goroutine.
func (e *Exchanges) Add(ex flow.Exchange) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ex)
}

// All returns the exchanges reported so far.
func (e *Exchanges) All() []flow.Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// ToneSpeaker stands in for text to speech where flite is missing: 100 ms of tone per word. It
// keeps the requests it was asked for.
type ToneSpeaker struct {
	mu  sync.Mutex
	got []codec.SpeechRequest
}

// Prompt renders r as 100 ms of 440 Hz tone per word.
func (s *ToneSpeaker) Prompt(_ context.Context, r codec.SpeechRequest) (*codec.Prompt, error) {
	s.mu.Lock()
	s.got = append(s.got, r)
	s.mu.Unlock()
	words := len(strings.Fields(r.Text))
	return codec.NewPrompt(codec.Tone(440, time.Duration(words)*100*time.Millisecond, 0.3)), nil
}

// Requests returns what the speaker was asked to say so far.
func (s *ToneSpeaker) Requests() []codec.SpeechRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// Speaker is a real flite speech cache when flite is installed, else a ToneSpeaker.
func Speaker() flow.Speaker {
	if _, err := exec.LookPath("flite"); err == nil {
		return codec.NewSpeechCache(codec.EngineFlite, 0, nil)
	}
	return &ToneSpeaker{}
}

// WAV is a 500 ms 8 kHz 1 kHz tone as a WAV file.
func WAV(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := codec.EncodeWAV(&buf, codec.Tone(1000, 500*time.Millisecond, 0.5), codec.SampleRate); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ServeWAV answers every request with WAV, as audio/wav.
func ServeWAV(t testing.TB) *testkit.Webhook {
	t.Helper()
	wav := WAV(t)
	return testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(wav)
	})
}
