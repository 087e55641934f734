package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
)

// TestEveryAnswerIsValidTwiML posts to each endpoint as pivotua would (signed, TwiML parameters)
// and validates the document with pivotua's parser; an unsigned request is refused.
func TestEveryAnswerIsValidTwiML(t *testing.T) {
	srv := httptest.NewServer((&app{authToken: "k"}).routes())
	defer srv.Close()
	client := httpfetch.NewClient()
	for _, tt := range []struct{ path, digits string }{{"/voice", ""}, {"/menu", "1"}, {"/menu", "2"}, {"/menu", "9"}, {"/recorded", ""}} {
		doc, err := client.FetchDocument(t.Context(), httpfetch.PivotRequest{
			URL: srv.URL + tt.path, Method: "POST", Format: "twiml", SigningKey: "k", Timeout: 5 * time.Second,
			Params: httpfetch.CallParams{CallID: "c1", From: "1000", Digits: map[string]string{"default": tt.digits}},
		})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.path, tt.digits, err)
		}
		if _, err := flow.ParseTwiML(doc.Body); err != nil {
			t.Errorf("%s %s: %v\n%s", tt.path, tt.digits, err, doc.Body)
		}
	}
	res, err := http.Post(srv.URL+"/voice", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %d, want 403", res.StatusCode)
	}
}
