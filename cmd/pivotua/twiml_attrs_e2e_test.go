package main

// End-to-end tests of TwiML attributes real documents use (issue 24 item 3): recording status
// callbacks of <Record> and <Dial>, <Number>/<Sip> statusCallback, Dial record-from-ringing and trim,
// and the attributes pivotua refuses or ignores. SIPp is the caller and the callee; the callbacks
// are checked with Twilio's own validateRequest (testdata/twilio).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
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

// ringbackFrames counts the 20 ms frames of pcm that are the US ringback (440 + 480 Hz).
func ringbackFrames(pcm []int16) int {
	n := 0
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		f := pcm[i : i+codec.FrameSamples]
		if testkit.ToneShare(f, 440)+testkit.ToneShare(f, 480) > 0.8 {
			n++
		}
	}
	return n
}

// dialRecordingOf runs one call whose Dial (attrs) rings a SIPp callee for ringMs and is bridged
// for 2 s, the caller sending callerHz and the callee calleeHz (0: silence), and returns the
// recording the action's RecordingUrl serves.
func dialRecordingOf(t *testing.T, app *twimlApp, p *pivotuaInstance, attrs string, ringMs int, callerHz, calleeHz float64) []byte {
	t.Helper()
	callee := newDialPeer(t, codec.PCMU, calleeHz)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0, RingMs: ringMs, HangupAfterMs: 2000})
	app.mu.Lock()
	app.docs["/voice"] = static(fmt.Sprintf(`<Response><Dial action="/after" %s><Sip>sip:bob@127.0.0.1:%d</Sip></Dial></Response>`, attrs, uas.port))
	app.mu.Unlock()
	before := len(requestsTo(app, "/after"))
	caller := newDialPeer(t, codec.PCMU, callerHz)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	after := waitForRequests(t, app, "/after", before+1)[before]
	res, wav := testkit.Get(t, http.MethodGet, after.Form.Get("RecordingUrl"), "")
	if res.StatusCode != 200 {
		t.Fatalf("%s: GET RecordingUrl %q: %d", attrs, after.Form.Get("RecordingUrl"), res.StatusCode)
	}
	return wav
}

// TestE2ETwiMLAttrsDialRecordFromRinging: the callee rings 2.5 s, then talks 2 s. record-from-answer-dual
// holds the 2 s bridge; record-from-ringing-dual is longer by the ring time and its right channel
// (what the caller heard) holds the US ringback before the callee's tone. With trim="trim-silence" a
// from-ringing recording whose parties say nothing keeps the ringback and loses the silent bridge.
func TestE2ETwiMLAttrsDialRecordFromRinging(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{"/after": static(`<Response><Hangup/></Response>`)})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	const ringMs = 2500

	answerL, answerR, err := splitStereoWAV(dialRecordingOf(t, app, p, `record="record-from-answer-dual"`, ringMs, 1000, 600))
	if err != nil {
		t.Fatal(err)
	}
	ringL, ringR, err := splitStereoWAV(dialRecordingOf(t, app, p, `record="record-from-ringing-dual"`, ringMs, 1000, 600))
	if err != nil {
		t.Fatal(err)
	}
	answerLen := time.Duration(len(answerL)) * time.Second / codec.SampleRate
	ringLen := time.Duration(len(ringL)) * time.Second / codec.SampleRate
	t.Logf("record-from-answer: %v, record-from-ringing: %v (the callee rang %d ms)", answerLen, ringLen, ringMs)
	if d := ringLen - answerLen; d < 2*time.Second || d > 3500*time.Millisecond {
		t.Errorf("record-from-ringing lasts %v, record-from-answer %v: want longer by about the %d ms of ringing", ringLen, answerLen, ringMs)
	}
	if n := ringbackFrames(ringR); n < 80 {
		t.Errorf("record-from-ringing: %d frames of ringback on the callee's channel, want the first 2 s burst (100)", n)
	}
	if n := ringbackFrames(answerR); n > 5 {
		t.Errorf("record-from-answer: %d frames of ringback, want none", n)
	}
	firstRing, firstCallee := -1, -1
	for i := 0; i+codec.FrameSamples <= len(ringR); i += codec.FrameSamples {
		f := ringR[i : i+codec.FrameSamples]
		if firstRing < 0 && testkit.ToneShare(f, 440)+testkit.ToneShare(f, 480) > 0.8 {
			firstRing = i / codec.FrameSamples
		}
		if firstCallee < 0 && testkit.ToneShare(f, 600) > 0.8 {
			firstCallee = i / codec.FrameSamples
		}
	}
	if firstRing < 0 || firstRing > 25 || firstCallee < firstRing+100 {
		t.Errorf("record-from-ringing: ringback from frame %d, the callee's tone from %d: want the ringback first, the callee ~2.5 s later", firstRing, firstCallee)
	}
	if n := testkit.CountTone(ringL, 1000); n < 150 {
		t.Errorf("record-from-ringing: %d frames of the caller's tone on the left, want it throughout (~225)", n)
	}
	if n := testkit.CountTone(ringR, 600); n < 80 || testkit.CountTone(answerR, 600) < 80 {
		t.Errorf("the callee's tone: %d frames from ringing, %d from answer, want ~2 s (100) in each", n, testkit.CountTone(answerR, 600))
	}

	trimmed, _, err := codec.DecodeWAV(dialRecordingOf(t, app, p, `record="record-from-ringing" trim="trim-silence"`, ringMs, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	trimmedLen := time.Duration(len(trimmed)) * time.Second / codec.SampleRate
	t.Logf("record-from-ringing with trim-silence and silent parties: %v", trimmedLen)
	if trimmedLen < 1800*time.Millisecond || trimmedLen > 2800*time.Millisecond || ringbackFrames(trimmed) < 80 {
		t.Errorf("trim-silence kept %v with %d ringback frames: want the 2 s ringback burst and its margins, not the silent bridge", trimmedLen, ringbackFrames(trimmed))
	}
}

// debugRecordsWithEvents returns callID's debug records and events as JSON text once they hold every
// string of want (they are written asynchronously), or fails.
func debugRecordsWithEvents(t *testing.T, p *pivotuaInstance, callID string, want ...string) string {
	t.Helper()
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	target := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s?events=true", p.httpURL, e2eAccount, url.PathEscape(callID))
	var text string
	for range 100 {
		_, env = crossbar(t, "GET", target, token, nil)
		b, _ := json.Marshal(env["data"])
		text = string(b)
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(text, w)
		}
		if !missing {
			return text
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("debug records of %s never held all of %q:\n%s", callID, want, text)
	return ""
}

// TestE2ETwiMLAttrsRefusedAttributeTakesTheFailover: a <Dial sequential="true"> (Twilio's, not honoured)
// is a schema error naming the verb and the attribute in the debug records; the callee is never
// rung and the caller hears the pivot's "_" child (a 1 kHz tone). A document with attributes that are
// not Twilio's runs, each reported as a warning event.
func TestE2ETwiMLAttrsRefusedAttributeTakesTheFailover(t *testing.T) {
	needE2E(t)
	uas := startWatchingUAS(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice":    static(fmt.Sprintf(`<Response><Dial sequential="true" timeout="5"><Sip>sip:bob@127.0.0.1:%d</Sip><Sip>sip:carol@127.0.0.1:%d</Sip></Dial></Response>`, uas.port, uas.port)),
		"/fallback": static(`<Response><Play loop="2" colour="blue">/tone.wav</Play><Hangup/></Response>`),
	})
	flowDoc := twimlFlow(app.URL + "/voice")
	fallback := twimlFlow(app.URL + "/fallback")
	flowDoc["children"] = map[string]any{"_": fallback}
	p := startPivotua(t, flowDoc)
	caller := newDialPeer(t, codec.PCMU, 0)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: caller.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if got := uas.received(t); strings.Contains(got, "INVITE sip:") {
		t.Errorf("the callee was rung by a refused document:\n%s", got)
	}
	if n := testkit.CountTone(caller.heard(0), 1000); n < 100 {
		t.Errorf("the caller heard %d frames of the fallback's 1 kHz tone, want most of 3.2 s (160)", n)
	}
	voice := requestsTo(app, "/voice")
	if len(voice) != 1 || len(requestsTo(app, "/fallback")) != 1 {
		t.Fatalf("requests %q, want /voice then the _ child's /fallback", app.trail())
	}
	callID := voice[0].Form.Get("CallSid")
	records := debugRecordsWithEvents(t, p, callID,
		`"schema_errors":{"Response/Dial[1]@sequential":`,
		`\u003cDial sequential\u003e is not supported by pivotua: every target rings at once`,
		`\u003cPlay colour\u003e is ignored: not a TwiML attribute`)
	t.Logf("debug records: %.600s", records)
}

// TestE2ETwiMLAttrsRecordStatusCallback: a <Record recordingStatusCallback> of a real call posts
// in-progress then completed, the first retried after the application's 503, each with Twilio's
// parameters and validated by Twilio's validateRequest; completed names the RecordingUrl and the
// RecordingDuration the action got.
func TestE2ETwiMLAttrsRecordStatusCallback(t *testing.T) {
	needE2E(t)
	dir := needTwilioNode(t)
	var calls atomic.Int32
	callbacks := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the application restarting
		}
	})
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Record timeout="2" action="/recorded" recordingStatusCallback="` + callbacks.URL +
			`/rec" recordingStatusCallbackEvent="in-progress completed"/></Response>`),
		"/recorded": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: recordingCallerPCAP(t, 0)}); err != nil {
		t.Fatal(err)
	}
	action := waitForRequests(t, app, "/recorded", 1)[0]
	testkit.WaitFor(t, 15*time.Second, "three callbacks (one refused, then in-progress and completed)", func() bool { return len(callbacks.Requests()) >= 3 })
	var recs []twimlRequest
	for _, r := range callbacks.Requests() {
		recs = append(recs, twimlRequest{Method: r.Method, URL: r.URL, Path: r.Path, Form: r.Form, Body: r.PostForm,
			RawBody: r.Body, Header: r.Header, At: r.At, Signature: r.Header.Get(httpfetch.HeaderTwilioSignature)})
	}
	var statuses []string
	for _, r := range recs {
		f := r.Form
		statuses = append(statuses, f.Get("RecordingStatus"))
		if f.Get("RecordingSource") != "RecordVerb" || f.Get("RecordingChannels") != "1" || f.Get("CallSid") != action.Form.Get("CallSid") ||
			f.Get("RecordingSid") != recs[0].Form.Get("RecordingSid") || f.Get("AccountSid") != e2eAccount || f.Get("ErrorCode") != "0" {
			t.Errorf("recording callback %v", f)
		}
	}
	if !slices.Equal(statuses, []string{"in-progress", "in-progress", "completed"}) {
		t.Errorf("RecordingStatus %q, want in-progress (refused), in-progress again, completed", statuses)
	}
	if gap := recs[1].At.Sub(recs[0].At); gap < 900*time.Millisecond {
		t.Errorf("the retry came %v after the 503, want the 1 s backoff", gap)
	}
	done := recs[2].Form
	if done.Get("RecordingUrl") != action.Form.Get("RecordingUrl") || done.Get("RecordingDuration") != action.Form.Get("RecordingDuration") {
		t.Errorf("completed: RecordingUrl %q RecordingDuration %q, the action got %q %q", done.Get("RecordingUrl"), done.Get("RecordingDuration"),
			action.Form.Get("RecordingUrl"), action.Form.Get("RecordingDuration"))
	}
	assertTwilioValid(t, dir, recs)
}
