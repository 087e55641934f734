package testkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Request is what a Webhook saw.
type Request struct {
	Method   string
	URL      string // rebuilt as the server saw it: scheme, host, request URI
	Path     string
	Query    string     // the raw query
	Form     url.Values // query and form body together
	PostForm url.Values // the form body only (empty but for a form POST)
	Header   http.Header
	Body     []byte
	At       time.Time // when it arrived
}

// Webhook is a real HTTP server standing in for the developer's application: it records every
// request, then answers it with its handler (the script).
type Webhook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Request
}

// NewWebhook serves handler, recording each request first; it closes when t ends. The handler
// still reads the whole body and may call ParseForm itself.
func NewWebhook(t testing.TB, handler http.HandlerFunc) *Webhook {
	t.Helper()
	w := &Webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		_ = r.ParseForm()
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.mu.Lock()
		w.requests = append(w.requests, Request{
			Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Path: r.URL.Path, Query: r.URL.RawQuery,
			Form: r.Form, PostForm: r.PostForm, Header: r.Header.Clone(), Body: body, At: time.Now(),
		})
		w.mu.Unlock()
		handler(rw, r)
	}))
	t.Cleanup(w.Close)
	return w
}

// Requests returns what the webhook received so far, oldest first.
func (w *Webhook) Requests() []Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.requests)
}

// Reset forgets the requests received so far, for a subtest that reuses the server.
func (w *Webhook) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests = nil
}

// Forms returns the parameters (query and form body) of the requests received so far for path.
func (w *Webhook) Forms(path string) []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	var forms []url.Values
	for _, r := range w.requests {
		if r.Path == path {
			forms = append(forms, r.Form)
		}
	}
	return forms
}

// ServeDocs answers each path with a fixed content type and body (docs maps a path to the two);
// unknown paths get 404.
func ServeDocs(docs map[string][2]string) http.HandlerFunc {
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

// Get sends method to target (with a Range header unless rangeHeader is empty) and
// returns the response with its whole body read.
func Get(t testing.TB, method, target, rangeHeader string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return res, body
}
