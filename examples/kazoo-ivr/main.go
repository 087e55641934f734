// Command kazoo-ivr is an example pivot application answering with Kazoo JSON:
// a menu, a PIN check and a voicemail-style recording, chained by nested pivot
// nodes. It verifies pivotua's X-Pivot-Signature and also receives the
// recordings (PUT /recordings/<call-id>.wav).
//
//	go run ./examples/kazoo-ivr -listen 127.0.0.1:9000 -api-key demo-api-key-change-me
//	pivotua serve --config examples/kazoo-ivr/pivotua.yaml
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

type app struct {
	base   string // this server's URL, for the pivot URLs in the documents
	apiKey string // the account's api_key: it signs every request pivotua sends
	dir    string // where recordings land
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to serve on")
	apiKey := flag.String("api-key", "demo-api-key-change-me", "the account's api_key in pivotua's config")
	dir := flag.String("recordings", filepath.Join(os.TempDir(), "pivotua-examples", "kazoo-ivr", "uploaded"), "folder for uploaded recordings")
	flag.Parse()
	a := &app{base: "http://" + *listen, apiKey: *apiKey, dir: *dir}
	log.Printf("kazoo-ivr on %s", a.base)
	log.Fatal(http.ListenAndServe(*listen, a.routes()))
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ivr", a.signed(a.menu))
	mux.HandleFunc("GET /ivr/choice", a.signed(a.choice))
	mux.HandleFunc("GET /ivr/pin", a.signed(a.pin))
	mux.HandleFunc("PUT /recordings/{file}", a.saveRecording)
	return mux
}

// signed refuses requests whose X-Pivot-Signature is not pivotua's, made with our api_key.
func (a *app) signed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		url := "http://" + r.Host + r.URL.RequestURI()
		if !httpfetch.ValidatePivotSignature(a.apiKey, url, nil, r.Header.Get("X-Pivot-Signature"), time.Now(), 5*time.Minute) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

type node map[string]any

func tts(text string, next node) node {
	n := node{"module": "tts", "data": node{"text": text}}
	if next != nil {
		n["children"] = node{"_": next}
	}
	return n
}

func pivot(url string) node {
	return node{"module": "pivot", "data": node{"voice_url": url, "debug": true}}
}

// menu: press 1 to enter a PIN, 2 to leave a message.
func (a *app) menu(w http.ResponseWriter, r *http.Request) {
	reply(w, tts("Welcome. Press 1 to enter your PIN, or 2 to leave a message.",
		node{"module": "collect_dtmf", "data": node{"max_digits": 1, "timeout": 8000, "collection_name": "menu"},
			"children": node{"_": pivot(a.base + "/ivr/choice")}}))
}

func (a *app) choice(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("Digits[menu]") {
	case "1":
		reply(w, tts("Enter your four digit PIN.",
			node{"module": "collect_dtmf", "data": node{"max_digits": 4, "timeout": 10000, "collection_name": "pin"},
				"children": node{"_": pivot(a.base + "/ivr/pin")}}))
	case "2":
		reply(w, tts("Leave your message after the tone. Press any key when you are done.",
			node{"module": "record_caller", "data": node{"url": a.base + "/recordings", "format": "wav", "time_limit": 120},
				"children": node{"_": tts("Thank you. Goodbye.", nil)}}))
	default:
		reply(w, tts("Sorry, I did not get that.", pivot(a.base+"/ivr")))
	}
}

func (a *app) pin(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("Digits[pin]") == "1234" {
		reply(w, tts("PIN accepted. Goodbye.", nil))
		return
	}
	reply(w, tts("That PIN is not right.", pivot(a.base+"/ivr")))
}

func (a *app) saveRecording(w http.ResponseWriter, r *http.Request) {
	name := filepath.Base(r.PathValue("file"))
	if !strings.HasSuffix(name, ".wav") && !strings.HasSuffix(name, ".mp3") {
		http.Error(w, "want .wav or .mp3", http.StatusBadRequest)
		return
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f, err := os.Create(filepath.Join(a.dir, name))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	log.Printf("recording saved: %s", f.Name())
	w.WriteHeader(http.StatusCreated)
}

func reply(w http.ResponseWriter, doc node) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}
