package flow_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestRedirectChainResolvesRelativeURLsAndCountsIterations(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/app/ivr/start": {"text/xml", `<Response><Redirect>next</Redirect></Response>`},
		"/app/ivr/next":  {"text/xml", `<Response><Redirect method="GET">../final?step=3</Redirect></Response>`},
		"/app/final":     {"text/xml", `<Response><Say>done</Say></Response>`},
	}))
	var got flowtest.Exchanges
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, got.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/app/ivr/start", `,"req_format":"twiml","debug":true`, false)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})

	var trail []string
	for _, r := range app.Requests() {
		trail = append(trail, r.Method+" "+r.Path)
	}
	if want := []string{"GET /app/ivr/start", "POST /app/ivr/next", "GET /app/final"}; !slices.Equal(trail, want) {
		t.Errorf("requests = %q, want %q", trail, want)
	}
	last := app.Requests()[2]
	if last.Form.Get("step") != "3" || last.Form.Get("CallSid") != "call-1@pivotua.test" || last.Form.Get("CallStatus") != "ringing" {
		t.Errorf("last request form = %v", last.Form)
	}
	var iterations []int
	for _, ex := range got.All() {
		iterations = append(iterations, ex.Iteration)
	}
	if !slices.Equal(iterations, []int{1, 2, 3}) {
		t.Errorf("iterations = %v", iterations)
	}
}

// TestRelativeURLsResolveAgainstTheRedirectedDocument: the server moved the document (/app/ivr to
// /app/ivr/, as web frameworks do); its relative URLs resolve against where it came from, not the
// voice_url, and its own query (not the parameters the GET added) is kept.
func TestRelativeURLsResolveAgainstTheRedirectedDocument(t *testing.T) {
	docs := testkit.ServeDocs(map[string][2]string{
		"/app/ivr/":     {"text/xml", `<Response><Redirect>next</Redirect></Response>`},
		"/app/ivr/next": {"text/xml", `<Response><Hangup/></Response>`},
	})
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/ivr" {
			http.Redirect(w, r, "/app/ivr/?"+r.URL.RawQuery, http.StatusMovedPermanently)
			return
		}
		docs(w, r)
	})
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/app/ivr?tenant=7", `,"req_format":"twiml"`, false)))
	var trail []string
	for _, r := range app.Requests() {
		trail = append(trail, r.Method+" "+r.Path+" tenant="+r.Form.Get("tenant"))
	}
	if want := []string{"GET /app/ivr tenant=7", "GET /app/ivr/ tenant=7", "POST /app/ivr/next tenant="}; !slices.Equal(trail, want) {
		t.Errorf("requests = %q, want %q", trail, want)
	}
}
