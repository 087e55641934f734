package flow_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/speech"
)

// refusingRecognizer is a speech engine that cannot take a recognition: over its cap (ErrBusy), or
// refusing the language (ErrLanguage).
type refusingRecognizer struct{ err error }

func (r refusingRecognizer) Check(speech.Request) error {
	if r.err == speech.ErrLanguage {
		return fmt.Errorf("%w: en-US only", speech.ErrLanguage)
	}
	return nil
}

func (r refusingRecognizer) Start(context.Context, speech.Request) (*speech.Recognition, error) {
	return nil, r.err
}

// runSpeechDoc runs doc (TwiML or Kazoo JSON at /ivr) with rec as the speech engine, keys pressed
// 300 ms in, and returns the app's requests and the call's events.
func runSpeechDoc(t *testing.T, contentType, doc string, rec flow.SpeechRecognizer, keys string) ([]testkit.Request, []flow.Event) {
	t.Helper()
	var base string
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		testkit.ServeDocs(map[string][2]string{
			"/ivr":   {contentType, strings.ReplaceAll(doc, "APP", base)},
			"/heard": {"text/xml", `<Response><Hangup/></Response>`},
			"/next":  {"application/json", `{"module":"hangup","data":{}}`},
		})(w, r)
	})
	base = app.URL
	var mu sync.Mutex
	var events []flow.Event
	deps := flowtest.Deps(t, nil)
	deps.Recognizer = rec
	deps.Events = func(e flow.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	ch := flowtest.NewChannel()
	time.AfterFunc(300*time.Millisecond, func() { ch.Press(keys) })
	format := `,"req_format":"twiml","debug":true`
	if contentType == "application/json" {
		format = `,"debug":true`
	}
	flowtest.Run(t, flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", format, false)))
	mu.Lock()
	defer mu.Unlock()
	return app.Requests(), events
}

func hasWarning(events []flow.Event) bool {
	for _, e := range events {
		if e.Name == flow.EventWarning {
			return true
		}
	}
	return false
}

// TestGatherSpeechOverTheCapGetsAnEmptyResult: with every recognition slot taken, a speech Gather
// does not wait: it records a warning and ends with an empty SpeechResult.
func TestGatherSpeechOverTheCapGetsAnEmptyResult(t *testing.T) {
	reqs, events := runSpeechDoc(t, "text/xml", `<Response><Gather input="speech" hints="sales" timeout="5" actionOnEmptyResult="true" action="/heard"/></Response>`,
		refusingRecognizer{speech.ErrBusy}, "")
	if len(reqs) != 2 || reqs[1].Path != "/heard" {
		t.Fatalf("requests %+v, want /ivr then the action", reqs)
	}
	if reqs[1].Form.Get("SpeechResult") != "" || reqs[1].Form.Get("Confidence") != "0.00000000" {
		t.Errorf("action SpeechResult %q Confidence %q, want nothing heard", reqs[1].Form.Get("SpeechResult"), reqs[1].Form.Get("Confidence"))
	}
	if !hasWarning(events) {
		t.Errorf("no warning event: %+v", events)
	}
}

// TestGatherDTMFSpeechGathersKeysWhenSpeechCannotRun: "dtmf speech" whose speech half cannot run
// still takes the caller's keys.
func TestGatherDTMFSpeechGathersKeysWhenSpeechCannotRun(t *testing.T) {
	reqs, events := runSpeechDoc(t, "text/xml", `<Response><Gather input="dtmf speech" language="fr-FR" timeout="3" action="/heard"/></Response>`,
		refusingRecognizer{speech.ErrLanguage}, "42#")
	if len(reqs) != 2 || reqs[1].Form.Get("Digits") != "42" || reqs[1].Form.Has("SpeechResult") {
		t.Fatalf("requests %+v, want the action with Digits 42 and no SpeechResult", reqs)
	}
	if !hasWarning(events) {
		t.Errorf("the refused language left no warning: %+v", events)
	}
}

// TestCollectDTMFSpeechOption: Kazoo collect_dtmf takes pivotua's "speech": true; when speech
// cannot run the keys are still collected, and the next pivot request goes on.
func TestCollectDTMFSpeechOption(t *testing.T) {
	doc := `{"module":"collect_dtmf","data":{"speech":true,"hints":"sales,billing","speech_timeout":800,"max_digits":2,"collection_name":"menu"},` +
		`"children":{"_":{"module":"pivot","data":{"voice_url":"APP/next"}}}}`
	reqs, _ := runSpeechDoc(t, "application/json", doc, refusingRecognizer{speech.ErrBusy}, "7")
	if len(reqs) < 2 || reqs[1].Path != "/next" {
		t.Fatalf("requests %+v, want /ivr then /next", reqs)
	}
	if got := reqs[1].Form.Get("Digits[menu]"); got != "7" {
		t.Errorf("Digits[menu] = %q, want 7 (form %v)", got, reqs[1].Form)
	}
}
