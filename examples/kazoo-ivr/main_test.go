package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
)

// TestEveryAnswerIsAValidKazooFlow asks each endpoint as pivotua would (signed) and validates the
// document with pivotua's own validator; an unsigned request is refused.
func TestEveryAnswerIsAValidKazooFlow(t *testing.T) {
	a := &app{apiKey: "k", dir: t.TempDir()}
	srv := httptest.NewServer(a.routes())
	defer srv.Close()
	a.base = srv.URL
	client := httpfetch.NewClient()
	for _, path := range []string{"/ivr", "/ivr/choice?Digits[menu]=1", "/ivr/choice?Digits[menu]=2", "/ivr/choice", "/ivr/pin?Digits[pin]=1234", "/ivr/pin"} {
		doc, err := client.FetchDocument(t.Context(), httpfetch.PivotRequest{URL: srv.URL + path, SigningKey: "k", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		node, err := flow.ParseNode(doc.Body, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if errs := flow.ValidateNode(node, path); len(errs) > 0 {
			t.Errorf("%s: %v", path, errs)
		}
	}
	res, err := http.Get(srv.URL + "/ivr")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %d, want 403", res.StatusCode)
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/recordings/abc@host.wav", strings.NewReader("RIFF"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		t.Errorf("recording upload: %v %v", res, err)
	}
}
