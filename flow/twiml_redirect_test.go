package flow

import (
	"slices"
	"testing"
)

func TestRedirectChainResolvesRelativeURLsAndCountsIterations(t *testing.T) {
	app := newWebhook(t, serveDocs(map[string][2]string{
		"/app/ivr/start": {"text/xml", `<Response><Redirect>next</Redirect></Response>`},
		"/app/ivr/next":  {"text/xml", `<Response><Redirect method="GET">../final?step=3</Redirect></Response>`},
		"/app/final":     {"text/xml", `<Response><Say>done</Say></Response>`},
	}))
	var got exchanges
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, got.add), mustNode(t, pivotFlow(app.URL+"/app/ivr/start", `,"req_format":"twiml","debug":true`, false)))
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})

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
	for _, ex := range got.all() {
		iterations = append(iterations, ex.Iteration)
	}
	if !slices.Equal(iterations, []int{1, 2, 3}) {
		t.Errorf("iterations = %v", iterations)
	}
}
