package main

// End-to-end tests of TwiML attributes real documents use (issue 24 item 3): recording status
// callbacks of <Record> and <Dial>, <Number>/<Sip> statusCallback, Dial record-from-ringing and trim,
// and the attributes pivotua refuses or ignores. SIPp is the caller and the callee; the callbacks
// are checked with Twilio's own validateRequest (testdata/twilio).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// requestsTo returns the app's requests to path, oldest first.
func requestsTo(app *twimlApp, path string) []twimlRequest {
	var out []twimlRequest
	for _, r := range app.received() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// waitForRequests waits until path got n requests (callbacks go out after the call moved on).
func waitForRequests(t *testing.T, app *twimlApp, path string, n int) []twimlRequest {
	t.Helper()
	testkit.WaitFor(t, 15*time.Second, fmt.Sprintf("%d requests to %s (got %q)", n, path, app.trail()), func() bool {
		return len(requestsTo(app, path)) >= n
	})
	return requestsTo(app, path)
}

// assertTwilioValid checks reqs with twilio.validateRequest of Twilio's npm package.
func assertTwilioValid(t *testing.T, dir string, reqs []twimlRequest) {
	t.Helper()
	type check struct {
		URL       string            `json:"url"`
		Params    map[string]string `json:"params"`
		Signature string            `json:"signature"`
	}
	var checks []check
	for _, r := range reqs {
		params := map[string]string{}
		for k, v := range r.Body {
			params[k] = v[0]
		}
		checks = append(checks, check{r.URL, params, r.Signature})
	}
	in, _ := json.Marshal(map[string]any{"authToken": "e2e-key", "requests": checks})
	var verdicts []bool
	if err := json.Unmarshal(runNode(t, dir, in, "validate.js"), &verdicts); err != nil {
		t.Fatal(err)
	}
	for i, ok := range verdicts {
		if !ok {
			t.Errorf("twilio.validateRequest refused %s %s %v", reqs[i].Method, reqs[i].URL, reqs[i].Body)
		}
	}
}

// TestE2ETwiMLAttrsDialCallbacks: a <Sip statusCallback> gets initiated, ringing, answered and
// completed for its callee leg, in order, with Twilio's parameters (CallSid the leg's, later the
// DialCallSid; ParentCallSid the caller's); the Dial's recordingStatusCallback gets in-progress, then
// completed once the file is stored, with the RecordingUrl the action gets. Every callback validates
// with Twilio's validateRequest.
func TestE2ETwiMLAttrsDialCallbacks(t *testing.T) {
	needE2E(t)
	dir := needTwilioNode(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, RingMs: 1000, HangupAfterMs: 2000})
	sipURI := fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Dial action="/after" record="record-from-answer" recordingStatusCallback="/rec" recordingStatusCallbackEvent="in-progress completed">` +
			`<Sip statusCallback="/leg" statusCallbackEvent="initiated ringing answered completed">` + sipURI + `</Sip></Dial></Response>`),
		"/after": static(`<Response><Hangup/></Response>`),
		"/leg":   static(`<Response/>`),
		"/rec":   static(`<Response/>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	voice := requestsTo(app, "/voice")
	after := waitForRequests(t, app, "/after", 1)
	legs := waitForRequests(t, app, "/leg", 4)
	recs := waitForRequests(t, app, "/rec", 2)
	parent, child := voice[0].Form.Get("CallSid"), after[0].Form.Get("DialCallSid")
	if parent == "" || child == "" || after[0].Form.Get("DialCallStatus") != "completed" {
		t.Fatalf("the Dial's action: %v", after[0].Form)
	}

	var statuses []string
	for i, r := range legs {
		f := r.Form
		statuses = append(statuses, f.Get("CallStatus"))
		if f.Get("CallSid") != child || f.Get("ParentCallSid") != parent || f.Get("Direction") != "outbound-dial" ||
			f.Get("CallbackSource") != "call-progress-events" || f.Get("SequenceNumber") != strconv.Itoa(i) ||
			f.Get("AccountSid") != e2eAccount || f.Get("To") != sipURI || f.Get("Called") != sipURI ||
			f.Get("From") == "" || f.Get("Caller") != f.Get("From") || f.Get("Timestamp") == "" {
			t.Errorf("leg callback %d: %v", i, f)
		}
	}
	if want := []string{"initiated", "ringing", "in-progress", "completed"}; !slices.Equal(statuses, want) {
		t.Errorf("leg callbacks' CallStatus %q, want %q", statuses, want)
	}
	if d, _ := strconv.Atoi(legs[3].Form.Get("CallDuration")); d < 1 || d > 4 {
		t.Errorf("completed: CallDuration %q, want the ~2 s the callee talked", legs[3].Form.Get("CallDuration"))
	}

	sid := recs[0].Form.Get("RecordingSid")
	for i, want := range []string{"in-progress", "completed"} {
		f := recs[i].Form
		if f.Get("RecordingStatus") != want || f.Get("RecordingSid") != sid || !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(sid) ||
			f.Get("RecordingSource") != "DialVerb" || f.Get("RecordingChannels") != "1" || f.Get("CallSid") != parent ||
			f.Get("AccountSid") != e2eAccount || f.Get("ErrorCode") != "0" || f.Get("RecordingStartTime") == "" {
			t.Errorf("recording callback %d: %v", i, f)
		}
	}
	done := recs[1].Form
	if done.Get("RecordingUrl") == "" || done.Get("RecordingUrl") != after[0].Form.Get("RecordingUrl") {
		t.Errorf("completed: RecordingUrl %q, the action got %q", done.Get("RecordingUrl"), after[0].Form.Get("RecordingUrl"))
	}
	if res, _ := testkit.Get(t, http.MethodGet, done.Get("RecordingUrl"), ""); res.StatusCode != 200 {
		t.Errorf("GET RecordingUrl: %d: completed must come once the file is stored", res.StatusCode)
	}
	if d, _ := strconv.Atoi(done.Get("RecordingDuration")); d < 1 || d > 4 {
		t.Errorf("completed: RecordingDuration %q", done.Get("RecordingDuration"))
	}
	assertTwilioValid(t, dir, append(legs, recs...))
	if strings.Contains(p.log.String(), "statusCallback failed") {
		t.Errorf("a callback failed:\n%s", sipptest.LastLines(p.log.String(), 30))
	}
}
