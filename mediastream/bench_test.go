package mediastream

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// appMediaMessage is what an application sends for 20 ms of audio.
var appMediaMessage = []byte(`{"event":"media","streamSid":"MZ0123456789abcdef0123456789abcdef","media":{"payload":"` +
	base64.StdEncoding.EncodeToString(make([]byte, FrameSamples)) + `"}}`)

// BenchmarkParseAppMedia is the reader's work on one 20 ms media message of the application's.
func BenchmarkParseAppMedia(b *testing.B) {
	audio := make([]byte, 1024)
	var p appParser
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.parse(appMediaMessage, audio); err != nil {
			b.Fatal(err)
		}
	}
}

// oneFrameAudio hands Run one inbound frame each time a value comes on ready.
type oneFrameAudio struct {
	ready  chan struct{}
	chunks atomic.Uint64
	sent   uint64
}

func (a *oneFrameAudio) Next(f *Frame) bool {
	if a.sent == a.chunks.Load() {
		return false
	}
	a.sent++
	f.Chunk, f.Timestamp = a.sent, int64(a.sent)*20
	return true
}
func (a *oneFrameAudio) Ready() <-chan struct{} { return a.ready }

// countingPlayer signals each frame queued.
type countingPlayer struct {
	got   chan struct{}
	marks chan uint64
}

func (p *countingPlayer) Write([]byte) error   { p.got <- struct{}{}; return nil }
func (p *countingPlayer) Mark(uint64) error    { return nil }
func (p *countingPlayer) Clear()               {}
func (p *countingPlayer) Marks() <-chan uint64 { return p.marks }

// BenchmarkStreamEchoFrame is one 20 ms frame of a bidirectional stream, both ways, against a local
// echo application on coder/websocket (the bench's streamecho in small): pivotua encodes and writes
// the caller's frame, the application answers with a media message, pivotua reads, parses and
// queues it. Its CPU (ns/op with -cpu 1, both sides) over 20 ms is what a streamed call costs the
// two processes a second, beside the clock's own work.
func BenchmarkStreamEchoFrame(b *testing.B) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
			if err := c.Write(r.Context(), websocket.MessageText, appMediaMessage); err != nil {
				return
			}
		}
	}))
	defer echo.Close()
	s, err := testClient().Dial(context.Background(), Options{URL: "ws" + strings.TrimPrefix(echo.URL, "http"), Inbound: true, Bidirectional: true, StreamSID: "MZ0123456789abcdef0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	audio := &oneFrameAudio{ready: make(chan struct{}, 1)}
	p := &countingPlayer{got: make(chan struct{}, 1), marks: make(chan uint64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, audio, p) }()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		audio.chunks.Add(1)
		audio.ready <- struct{}{}
		select {
		case <-p.got:
		case <-time.After(5 * time.Second):
			b.Fatal("no echo")
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
