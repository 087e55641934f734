package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// demoApp is the built-in pivot application of the default config: a webhook
// like the ones users write, served on pivotua's own HTTP listener so that a
// fresh `make run` answers calls with no other server.
type demoApp struct {
	baseURL string // http://host:port of the HTTP listener
	chime   []byte // WAV served at /demo/chime.wav
}

func newDemoApp(baseURL string) (*demoApp, error) {
	// A two-note chime (E5 then A5), so the demo shows `play` of a fetched WAV.
	var pcm []int16
	pcm = append(pcm, codec.Tone(659.25, 300*time.Millisecond, 0.3)...)
	pcm = append(pcm, codec.Tone(880, 500*time.Millisecond, 0.3)...)
	var buf bytes.Buffer
	if err := codec.EncodeWAV(&buf, pcm, codec.SampleRate); err != nil {
		return nil, fmt.Errorf("demo chime: %w", err)
	}
	return &demoApp{baseURL: baseURL, chime: buf.Bytes()}, nil
}

func (d *demoApp) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo/voice", d.voice)
	mux.HandleFunc("POST /demo/voice", d.voice)
	mux.HandleFunc("GET /demo/chime.wav", d.serveChime)
}

// voice answers the pivot request with a Kazoo JSON callflow: a spoken
// welcome that reads back the dialled number, the chime, and a goodbye.
func (d *demoApp) voice(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	to := r.Form.Get("Request")
	if to == "" {
		to = r.Form.Get("To")
	}
	welcome := "Welcome to pivot you a. This call is run by the built in demo application."
	if to != "" {
		welcome = fmt.Sprintf("Welcome to pivot you a. You dialled %s. This call is run by the built in demo application.", spellDigits(to))
	}
	doc := map[string]any{
		"module": "tts",
		"data":   map[string]any{"text": welcome},
		"children": map[string]any{"_": map[string]any{
			"module": "play",
			"data":   map[string]any{"id": d.baseURL + "/demo/chime.wav"},
			"children": map[string]any{"_": map[string]any{
				"module": "tts",
				"data":   map[string]any{"text": "Edit the voice U R L in your config to run your own application. Goodbye."},
			}},
		}},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (d *demoApp) serveChime(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "max-age=86400")
	http.ServeContent(w, r, "chime.wav", time.Time{}, bytes.NewReader(d.chime))
}

// spellDigits makes a speech engine read "3004" as "3 0 0 4".
func spellDigits(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= '0' && r <= '9' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
