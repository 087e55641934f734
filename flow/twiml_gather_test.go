package flow_test

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// TestGatherCollectsDigitsForTheAction runs one <Gather> per case on the fake channel; keys are pressed
// 300 ms into the call, while the 1.5 s nested prompt plays.
func TestGatherCollectsDigitsForTheAction(t *testing.T) {
	tests := []struct {
		name, gather, keys string
		wantPath           string // "" = no action request
		wantMethod         string
		wantDigits         string
		wantEvents         []string
	}{
		{"defaults: POST to the document URL, # not included", `<Gather><Say>menu</Say></Gather>`, "12#9",
			"/ivr", "POST", "12", []string{"answer", "play", "hangup"}},
		{"numDigits", `<Gather numDigits="2" action="next?x=1" method="GET"><Play>/a.wav</Play></Gather>`, "345",
			"/next", "GET", "34", []string{"answer", "play", "hangup"}},
		{"no finishOnKey: the timeout ends it", `<Gather finishOnKey="" timeout="1" action="/done"><Say>menu</Say></Gather>`, "4#",
			"/done", "POST", "4#", []string{"answer", "play", "hangup"}},
		{"finishOnKey alone is no input", `<Gather timeout="1"><Say>menu</Say></Gather><Say>bye</Say>`, "#",
			"", "", "", []string{"answer", "play", "play", "hangup"}},
		{"no input falls through", `<Gather timeout="1"><Say>menu</Say><Pause/></Gather><Say>bye</Say>`, "",
			"", "", "", []string{"answer", "play", "play", "hangup"}},
		{"actionOnEmptyResult", `<Gather timeout="1" actionOnEmptyResult="true" action="/empty"/>`, "",
			"/empty", "POST", "", []string{"answer", "hangup"}},
		{"keys during a nested Pause", `<Gather numDigits="1" action="/p"><Pause length="3"/><Say>never</Say></Gather>`, "7",
			"/p", "POST", "7", []string{"answer", "hangup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wav := flowtest.WAV(t)
			docs := map[string][2]string{
				"/ivr":   {"text/xml", `<Response>` + tt.gather + `</Response>`},
				"/next":  {"text/xml", `<Response><Hangup/></Response>`},
				"/done":  {"text/xml", `<Response><Hangup/></Response>`},
				"/empty": {"text/xml", `<Response><Hangup/></Response>`},
				"/p":     {"text/xml", `<Response><Hangup/></Response>`},
				"/a.wav": {"audio/wav", string(wav)},
			}
			var calls atomic.Int32
			app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ivr" {
					if calls.Add(1) > 1 { // the Gather's default action: the document's own URL
						io.WriteString(w, `<Response><Hangup/></Response>`)
						return
					}
				}
				testkit.ServeDocs(docs)(w, r)
			})
			ch := flowtest.NewChannel()
			ch.PlayTime = 1500 * time.Millisecond
			time.AfterFunc(300*time.Millisecond, func() { ch.Press(tt.keys) })
			start := time.Now()
			flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
			flowtest.EqualEvents(t, ch.Kinds(), tt.wantEvents)

			var actions []testkit.Request
			for _, r := range app.Requests()[1:] {
				if r.Path != "/a.wav" {
					actions = append(actions, r)
				}
			}
			if tt.wantPath == "" {
				if len(actions) != 0 {
					t.Fatalf("no action expected, got %+v", actions)
				}
				return
			}
			if len(actions) != 1 {
				t.Fatalf("action requests = %+v", actions)
			}
			got := actions[0]
			if got.Path != tt.wantPath || got.Method != tt.wantMethod || got.Form.Get("Digits") != tt.wantDigits ||
				got.Form.Get("CallStatus") != "in-progress" || (tt.wantDigits == "" && got.Form.Has("Digits")) {
				t.Errorf("action %s %s Digits=%q CallStatus=%q", got.Method, got.Path, got.Form.Get("Digits"), got.Form.Get("CallStatus"))
			}
			if tt.wantPath == "/next" && got.Form.Get("x") != "1" {
				t.Errorf("the action's own query is lost: %v", got.Form)
			}
			if tt.keys != "" && tt.wantDigits != "" && time.Since(start) > 2500*time.Millisecond {
				t.Errorf("the first key did not barge in on the prompt (%v)", time.Since(start))
			}
		})
	}
}

func TestGatherIgnoresKeysPressedBeforeIt(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say>press one after the beep</Say><Gather timeout="1" action="/g"/><Say>nothing</Say></Response>`},
		"/g":   {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	ch.PlayTime = 300 * time.Millisecond
	ch.Press("1")
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "play", "hangup"})
	if n := len(app.Requests()); n != 1 {
		t.Errorf("%d requests: a key pressed before the Gather reached its action", n)
	}
}
