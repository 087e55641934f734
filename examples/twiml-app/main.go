// Command twiml-app is an example TwiML application, written as one for Twilio
// would be: a menu with <Gather>, a message taken with <Record>, and
// X-Twilio-Signature checked on every request. Point a pivot node with
// req_format: twiml and method: post at it.
//
//	go run ./examples/twiml-app -listen 127.0.0.1:9001 -auth-token demo-api-key-change-me
//	pivotua serve --config examples/twiml-app/pivotua.yaml
package main

import (
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"

	"github.com/pivotua/pivotua/httpfetch"
)

type app struct {
	authToken string // the account's api_key, Twilio's "auth token"
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to serve on")
	token := flag.String("auth-token", "demo-api-key-change-me", "the account's api_key in pivotua's config")
	flag.Parse()
	log.Printf("twiml-app on http://%s", *listen)
	log.Fatal(http.ListenAndServe(*listen, (&app{authToken: *token}).routes()))
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /voice", a.signed(a.voice))
	mux.HandleFunc("POST /menu", a.signed(a.menu))
	mux.HandleFunc("POST /recorded", a.signed(a.recorded))
	return mux
}

// signed checks X-Twilio-Signature exactly as a Twilio app does.
func (a *app) signed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		url := "http://" + r.Host + r.URL.RequestURI()
		if !httpfetch.ValidateTwilioSignature(a.authToken, url, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func twiml(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response>%s</Response>`, body)
}

func (a *app) voice(w http.ResponseWriter, r *http.Request) {
	twiml(w, `<Gather numDigits="1" action="/menu" timeout="6">`+
		`<Say>Thanks for calling. Press 1 to hear a tone, or 2 to leave a message.</Say></Gather>`+
		`<Say>We did not get your choice.</Say><Redirect>/voice</Redirect>`)
}

func (a *app) menu(w http.ResponseWriter, r *http.Request) {
	switch r.PostForm.Get("Digits") {
	case "1":
		twiml(w, `<Say>Here it comes.</Say><Play digits="1w2w3"/><Say>Goodbye.</Say><Hangup/>`)
	case "2":
		twiml(w, `<Say>Leave a message after the beep. Press pound when done.</Say>`+
			`<Record maxLength="60" finishOnKey="#" action="/recorded"/><Say>No message recorded.</Say>`)
	default:
		twiml(w, `<Redirect>/voice</Redirect>`)
	}
}

func (a *app) recorded(w http.ResponseWriter, r *http.Request) {
	log.Printf("message from %s: %s (%s s)", r.PostForm.Get("From"), r.PostForm.Get("RecordingUrl"), r.PostForm.Get("RecordingDuration"))
	twiml(w, `<Say>Thank you. Your message lasted `+html.EscapeString(r.PostForm.Get("RecordingDuration"))+` seconds. Goodbye.</Say>`)
}
