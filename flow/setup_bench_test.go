package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/httpfetch"
)

// errBenchHungUp is what hangupOnPlay's Play returns: the caller is gone.
var errBenchHungUp = errors.New("call ended")

// hangupOnPlay is flowtest's Channel whose caller hangs up as soon as a prompt starts: a call's setup
// ends there, and the call with it.
type hangupOnPlay struct {
	*flowtest.Channel
	plays *atomic.Int64
}

func (h hangupOnPlay) Play(ctx context.Context, _ *codec.Prompt, _ string) (bool, error) {
	if err := h.Answer(ctx); err != nil {
		return false, err
	}
	h.plays.Add(1)
	h.RemoteHangup()
	return false, errBenchHungUp
}

// BenchmarkCallSetupPivotPlay is one call setup as the bench's setup ladder makes it (bench/cmd/loadrun):
// a route's pivot callflow fetches its voice_url (GET, kazoo parameters, signed) from a webhook on
// loopback, which answers a play of a cached prompt; the call runs up to the play, and the caller
// hangs up. No SIP and no RTP: what it allocates is the call's goroutine's share of a setup (the
// pivot fetch, the document parsed and validated, the nodes compiled and run), plus the webhook's
// and flowtest's Channel's own.
func BenchmarkCallSetupPivotPlay(b *testing.B) {
	wav := flowtest.WAV(b)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	play, err := json.Marshal(map[string]any{"module": "play", "data": map[string]any{"id": srv.URL + "/prompt.wav", "loop_count": 1000}})
	if err != nil {
		b.Fatal(err)
	}
	mux.HandleFunc("/voice", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(play)
	})
	mux.HandleFunc("/prompt.wav", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Length", strconv.Itoa(len(wav)))
		w.Write(wav)
	})
	router := flow.NewRouter([]flow.Route{{AccountID: flowtest.AccountID, Numbers: []string{"3004"},
		Flow: flowtest.MustNode(b, `{"module":"pivot","data":{"voice_url":"`+srv.URL+`/voice","method":"get","req_format":"kazoo"}}`)}})
	route, ok := router.Match("3004", "")
	if !ok {
		b.Fatal("no route for 3004")
	}
	client := httpfetch.NewClient()
	deps := flow.Deps{
		Documents: client,
		Media:     client,
		Prompts:   flow.NewPromptCache(0, nil),
		// The bench runs pivotua at log level warn: a setup logs nothing, and formats nothing.
		Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	var plays atomic.Int64
	setup := func() {
		ch := hangupOnPlay{Channel: flowtest.NewChannel(), plays: &plays}
		flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps).RunRoute(route.Flow)
	}
	setup() // the prompt decoded and cached, the webhook's connection open
	b.ReportAllocs()
	for b.Loop() {
		setup()
	}
	if n := plays.Load(); n != int64(b.N)+1 {
		b.Fatalf("%d calls reached their play, want %d", n, b.N+1)
	}
}
