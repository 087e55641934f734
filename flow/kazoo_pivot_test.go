package flow_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPivotRunsKazooTTSThenPlay(t *testing.T) {
	media := flowtest.ServeWAV(t)
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"application/json", `{"module":"tts","data":{"text":"Hello from pivot"},"children":{"_":{"module":"play","data":{"id":"` + media.URL + `/a.wav"}}}}`},
	}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", true)))

	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "play", "hangup"})
	if got := ch.Events()[2]; got != "play 500ms" {
		t.Errorf("second play = %q, want the 500 ms WAV", got)
	}
	reqs := app.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" {
		t.Fatalf("requests = %+v", reqs)
	}
	form := reqs[0].Form
	for key, want := range map[string]string{
		"Account-ID": flowtest.AccountID, "Call-ID": "call-1@pivotua.test", "Call-Status": "ringing",
		"Request": "3004", "Custom-SIP-Headers[X-Foo]": "bar", "Language": "en-us",
	} {
		if got := form.Get(key); got != want {
			t.Errorf("%s = %q, want %q (query %s)", key, got, want, reqs[0].Query)
		}
	}
	if reqs[0].Header.Get("X-Pivot-Signature") == "" {
		t.Error("request is not signed")
	}
}

func TestPivotFailsOverToUnderscoreChild(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     string
		extra   string
		kind    string // debug error kind reported even with debug off
	}{
		{name: "server down", url: downURL + "/ivr"},
		{name: "timeout", extra: `,"req_timeout_ms":100`, handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}},
		{name: "500", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) }},
		{name: "empty body", handler: func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Content-Type", "application/json") }},
		{name: "invalid JSON", kind: flow.ErrorKindJSON, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"module":"tts",`)
		}},
		{name: "schema-invalid document", kind: flow.ErrorKindSchema, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"module":"tts","data":{"voice":"female"},"children":{"_":{"module":"hangup"}}}`)
		}},
		{name: "unparsable XML", kind: flow.ErrorKindJSON, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Say>hi</Response>`)
		}},
		{name: "invalid TwiML", kind: flow.ErrorKindSchema, handler: func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `<Response><Say>hi</Say><Gather input="speech" speechTimeout="fast"/></Response>`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.handler != nil {
				url = testkit.NewWebhook(t, tt.handler).URL + "/ivr"
			}
			var got flowtest.Exchanges
			ch := flowtest.NewChannel()
			start := time.Now()
			flowtest.Run(t, flowtest.NewCall(t, ch, got.Add), flowtest.MustNode(t, flowtest.PivotFlow(url, tt.extra, true)))
			flowtest.EqualEvents(t, ch.Events(), []string{"reject 480 Fallback"})
			if elapsed := time.Since(start); elapsed > 5100*time.Millisecond {
				t.Errorf("failover took %v", elapsed)
			}
			// Debug is off, yet every failure is reported once, so the failover can be explained.
			ex := got.All()
			if len(ex) != 1 || ex[0].Err == nil || ex[0].Debug || ex[0].Iteration != 1 || ex[0].CallID != "call-1@pivotua.test" {
				t.Fatalf("debug records with debug off = %+v, want the one failed exchange", ex)
			}
			if tt.kind == "" {
				return
			}
			if ex[0].ErrorKind != tt.kind || len(ex[0].Errors) == 0 {
				t.Fatalf("debug records = %+v, want one %s", ex, tt.kind)
			}
		})
	}
}

func TestPivotTimeoutFailsOverWithinDeadline(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	ch := flowtest.NewChannel()
	start := time.Now()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL, `,"req_timeout_ms":300`, true)))
	if elapsed := time.Since(start); elapsed > 800*time.Millisecond {
		t.Errorf("failover after %v, want within req_timeout_ms + 500 ms", elapsed)
	}
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 480 Fallback"})
}

func TestPivotFailureWithoutUnderscoreChildRejects503(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL, "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 503 Service Unavailable"})
}

func TestPivotFailureAfterAnswerHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say>Hello</Say><Redirect>missing</Redirect></Response>`},
	}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}

func TestPivotRingsWhileSlowWebhookAnswers(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1300 * time.Millisecond)
		}
		io.WriteString(w, `<Response><Hangup/></Response>`)
	})
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/slow", "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"ring", "hangup"})

	fast := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, fast, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/fast", "", false)))
	flowtest.EqualEvents(t, fast.Events(), []string{"hangup"})
}

func TestNestedPivotStartsANewCycle(t *testing.T) {
	var app *testkit.Webhook
	app = testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"module":"pivot","data":{"voice_url":"%s/second","req_format":"twiml","method":"post","debug":true}}`, app.URL)
		case "/second":
			io.WriteString(w, `<Response><Redirect>third</Redirect></Response>`)
		case "/third":
			io.WriteString(w, `<Response><Say>done</Say></Response>`)
		}
	})
	var got flowtest.Exchanges
	ch := flowtest.NewChannel()
	// The first pivot's "_" child is dropped once its document replaces the flow.
	flowtest.Run(t, flowtest.NewCall(t, ch, got.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/first", `,"debug":true`, true)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})

	var iterations []int
	for _, ex := range got.All() {
		iterations = append(iterations, ex.Iteration)
	}
	if !slices.Equal(iterations, []int{1, 1, 2}) {
		t.Errorf("iterations = %v, want [1 1 2]", iterations)
	}
	reqs := app.Requests()
	if len(reqs) != 3 || reqs[1].Method != "POST" || reqs[1].Form.Get("CallSid") != "call-1@pivotua.test" {
		t.Fatalf("requests = %+v", reqs)
	}
}

func TestPivotDebugRecordsEveryExchange(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Hangup/></Response>`}}))
	var got flowtest.Exchanges
	flowtest.Run(t, flowtest.NewCall(t, flowtest.NewChannel(), got.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"debug":true`, false)))
	ex := got.All()
	if len(ex) != 1 {
		t.Fatalf("exchanges = %+v", ex)
	}
	e := ex[0]
	if e.Method != "GET" || !strings.HasPrefix(e.URL, app.URL+"/ivr?") || e.Status != 200 ||
		string(e.ResponseBody) != `<Response><Hangup/></Response>` || e.ErrorKind != "" || e.Err != nil || e.Elapsed <= 0 {
		t.Errorf("exchange = %+v", e)
	}

	// Without debug a good exchange is not reported.
	var none flowtest.Exchanges
	flowtest.Run(t, flowtest.NewCall(t, flowtest.NewChannel(), none.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	if len(none.All()) != 0 {
		t.Errorf("exchanges without debug = %+v", none.All())
	}
}

func TestDigitsAreClearedAfterARequest(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/one": {"text/xml", `<Response><Redirect>two</Redirect></Response>`},
		"/two": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	c.Digits()["default"] = "1234"
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/one", "", false)))
	reqs := app.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := reqs[0].Form.Get("Digits[default]"); got != "1234" {
		t.Errorf("first request Digits[default] = %q (query %s)", got, reqs[0].Query)
	}
	for key := range reqs[1].Form {
		if strings.HasPrefix(key, "Digits") {
			t.Errorf("second request still carries %s", key)
		}
	}
}

func TestRedirectLoopWithoutMediaFailsOver(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `<Response><Redirect>/loop</Redirect></Response>`)
	})
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/loop", "", true)))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 480 Fallback"})
	if n := len(app.Requests()); n != flow.MaxIdleFetches {
		t.Errorf("%d requests, want %d", n, flow.MaxIdleFetches)
	}
}

func TestCallEndsWhenCallerHangsUpDuringFetch(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	ch := flowtest.NewChannel()
	time.AfterFunc(100*time.Millisecond, ch.RemoteHangup)
	start := time.Now()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL, "", true)))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Run returned %v after the caller hung up", elapsed)
	}
	flowtest.EqualEvents(t, ch.Events(), nil)
}

// TestKazooSelfPivotLoopIsBounded: a Kazoo document that is a pivot back to the same URL plays nothing;
// the fetches stop at the same bound as a TwiML Redirect loop and the call ends, with the reason in
// the debug records (an exchange that names the loop).
func TestKazooSelfPivotLoopIsBounded(t *testing.T) {
	var app *testkit.Webhook
	app = testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"module":"pivot","data":{"voice_url":%q}}`, app.URL+"/loop")
	})
	ch := flowtest.NewChannel()
	var got flowtest.Exchanges
	flowtest.Run(t, flowtest.NewCall(t, ch, got.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/loop", "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 503 Service Unavailable"})
	if n := len(app.Requests()); n != flow.MaxIdleFetches {
		t.Errorf("%d requests, want %d", n, flow.MaxIdleFetches)
	}
	ex := got.All()
	if len(ex) != 1 || !errors.Is(ex[0].Err, flow.ErrFetchLoop) || !strings.HasPrefix(ex[0].URL, app.URL+"/loop") || ex[0].Status != 0 {
		t.Fatalf("exchanges = %+v, want one refused request whose error is ErrFetchLoop", ex)
	}
}

// TestFetchLoopCountsAcrossFormats: TwiML that redirects to Kazoo JSON that pivots back to the TwiML
// is one loop, bounded like the others.
func TestFetchLoopCountsAcrossFormats(t *testing.T) {
	var app *testkit.Webhook
	app = testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/twiml":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Redirect method="GET">/kazoo</Redirect></Response>`)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"module":"pivot","data":{"voice_url":%q}}`, app.URL+"/twiml")
		}
	})
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/twiml", "", true)))
	if n := len(app.Requests()); n != flow.MaxIdleFetches {
		t.Errorf("%d requests, want %d", n, flow.MaxIdleFetches)
	}
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 503 Service Unavailable"})
}
