package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// callsClient is testdata/twilio/calls.js: Twilio's helper library, pointed at pivotua's HTTP
// listener, taking one command at a time.
type callsClient struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// callsResult is one command's answer.
type callsResult struct {
	SentAt int64       `json:"sentAt"`
	Call   libraryCall `json:"call"`
	Calls  []libraryCall
	Error  *struct {
		Status  int    `json:"status"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// libraryCall is the library's CallInstance, as calls.js picks it.
type libraryCall struct {
	Sid, AccountSid, Status, Direction, Duration, From, To, URI, APIVersion string
	StartTime, EndTime                                                      *time.Time
}

func startCallsClient(t *testing.T, dir, base, accountSid, token string) *callsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "node", "calls.js", base, accountSid, token)
	cmd.Dir = dir
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
		cancel()
		if t.Failed() && stderr.String() != "" {
			t.Logf("calls.js stderr:\n%s", stderr.String())
		}
	})
	return &callsClient{in: in, out: bufio.NewScanner(out)}
}

// do sends one command and returns its answer.
func (c *callsClient) do(t *testing.T, cmd map[string]any) callsResult {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	if !c.out.Scan() {
		t.Fatalf("calls.js gave no answer to %s: %v", b, c.out.Err())
	}
	var res callsResult
	if err := json.Unmarshal(c.out.Bytes(), &res); err != nil {
		t.Fatalf("calls.js answered %q: %v", c.out.Text(), err)
	}
	return res
}

// callsAPIHook is the application: its documents, two tones and the status callback.
func callsAPIHook(t *testing.T) *testkit.Webhook {
	return testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tone440.wav", "/tone1000.wav":
			freq := 440.0
			if r.URL.Path == "/tone1000.wav" {
				freq = 1000
			}
			var buf bytes.Buffer
			_ = codec.EncodeWAV(&buf, codec.Tone(freq, 2*time.Second, 0.4), codec.SampleRate)
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(buf.Bytes())
		case "/voice":
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<Response><Say>Hello, this call was placed through the calls API.</Say><Play loop="0">http://%s/tone440.wav</Play></Response>`, r.Host)
		case "/status":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
}

// firstToneAfter returns when the first packet after since that carries freq reached the peer, and
// how many packets carrying other after it did.
func firstToneAfter(p *dialPeer, since time.Time, freq, other float64) (at time.Time, others int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	frame := make([]int16, 480)
	for _, pk := range p.pkts {
		if pk.Header.PayloadType != 0 || pk.At.Before(since) {
			continue
		}
		n := codec.DecodeFrame(codec.PCMU, frame, pk.Payload)
		switch {
		case at.IsZero() && testkit.ToneShare(frame[:n], freq) > 0.8:
			at = pk.At
		case !at.IsZero() && testkit.ToneShare(frame[:n], other) > 0.8:
			others++
		}
	}
	return at, others
}

var callSidPattern = regexp.MustCompile(`^CA[0-9a-f]{32}$`)

// TestE2ECallsAPITwilioLibraryPlacesAndSteersACall: Twilio's own helper library, its API base pointed
// at pivotua, places a call to a SIPp callee. The callee hears the document's <Say> and then its
// <Play>; update({twiml}) mid-prompt switches what it hears within 500 ms; update({status:
// 'completed'}) sends it BYE. fetch() and list() show the final status, duration and direction, and
// the status callbacks arrive in order, signed so that the library's validateRequest accepts them.
func TestE2ECallsAPITwilioLibraryPlacesAndSteersACall(t *testing.T) {
	needE2E(t)
	dir := needTwilioNode(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	hook := callsAPIHook(t)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	accountSid := "AC" + e2eAccount // Twilio's form: the library refuses anything else
	client := startCallsClient(t, dir, p.httpURL, accountSid, "e2e-key")

	created := client.do(t, map[string]any{"op": "create", "params": map[string]any{
		"to": fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port), "from": "+15550100", "url": hook.URL + "/voice",
		"statusCallback": hook.URL + "/status", "statusCallbackMethod": "POST",
		"statusCallbackEvent": []string{"initiated", "ringing", "answered", "completed"},
	}})
	if created.Error != nil {
		t.Fatalf("calls.create failed: %+v\n%s", created.Error, p.logs())
	}
	sid := created.Call.Sid
	if !callSidPattern.MatchString(sid) || created.Call.Direction != "outbound-api" || created.Call.AccountSid != accountSid {
		t.Fatalf("calls.create returned sid %q direction %q account %q", sid, created.Call.Direction, created.Call.AccountSid)
	}

	// The callee hears the spoken prompt, then the 440 Hz of <Play>.
	deadline := time.Now().Add(15 * time.Second)
	for testkit.CountTone(callee.heard(0), 440) < 50 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	kinds := testkit.Classify(callee.heard(0), 440)
	first := testkit.FirstKind(kinds, testkit.ToneFrame)
	if first < 0 || testkit.CountKind(kinds, testkit.ToneFrame) < 50 {
		t.Fatalf("the callee heard %d frames of the <Play> tone, want a second of it\n%s", testkit.CountKind(kinds, testkit.ToneFrame), p.logs())
	}
	if speech := testkit.CountKind(kinds[:first], testkit.OtherSound); speech < 40 {
		t.Errorf("the callee heard %d frames of speech before the tone, want the <Say> (over 0.8 s)", speech)
	}

	// Mid-prompt, new instructions: the 440 Hz stops and the 1 kHz starts within 500 ms.
	steered := client.do(t, map[string]any{"op": "update", "sid": sid, "params": map[string]any{
		"twiml": fmt.Sprintf(`<Response><Play loop="0">%s/tone1000.wav</Play></Response>`, hook.URL),
	}})
	if steered.Error != nil || steered.Call.Status != "in-progress" {
		t.Fatalf("update({twiml}) answered %+v %+v", steered.Error, steered.Call)
	}
	sent := time.UnixMilli(steered.SentAt)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if at, _ := firstToneAfter(callee, sent, 1000, 440); !at.IsZero() && time.Since(at) > time.Second {
			break
		}
	}
	switched, stale := firstToneAfter(callee, sent, 1000, 440)
	if switched.IsZero() {
		t.Fatalf("the callee never heard the new document's 1 kHz\n%s", p.logs())
	}
	if d := switched.Sub(sent); d > 500*time.Millisecond {
		t.Errorf("the new document was heard %v after update(), want within 500 ms", d)
	}
	if stale > 1 {
		t.Errorf("the callee heard %d frames of the old prompt after the new one started", stale)
	}
	t.Logf("update({twiml}) to the new prompt at the callee: %v", switched.Sub(sent).Round(time.Millisecond))

	ended := client.do(t, map[string]any{"op": "update", "sid": sid, "params": map[string]any{"status": "completed"}})
	if ended.Error != nil || ended.Call.Status != "completed" {
		t.Fatalf("update({status: 'completed'}) answered %+v %+v", ended.Error, ended.Call)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the callee did not get BYE: %v\n%s", err, p.logs())
	}

	fetched := client.do(t, map[string]any{"op": "fetch", "sid": sid})
	if c := fetched.Call; fetched.Error != nil || c.Status != "completed" || c.Direction != "outbound-api" || c.Duration == "" || c.Duration == "0" ||
		c.StartTime == nil || c.EndTime == nil || c.To != fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port) || c.From != "+15550100" {
		t.Errorf("fetch() = %+v %+v, want completed, outbound-api, a duration, start and end times", fetched.Error, fetched.Call)
	}
	listed := client.do(t, map[string]any{"op": "list", "params": map[string]any{"status": "completed"}})
	if listed.Error != nil || len(listed.Calls) != 1 || listed.Calls[0].Sid != sid || listed.Calls[0].Duration != fetched.Call.Duration {
		t.Errorf("list({status: completed}) = %+v %+v, want the one call", listed.Error, listed.Calls)
	}

	// The document's request is an outbound-api call's, with the API's sid.
	voice := one(t, hook, "/voice")
	for k, want := range map[string]string{"CallSid": sid, "Direction": "outbound-api", "CallStatus": "in-progress", "From": "+15550100", "To": "bob"} {
		if got := voice.Get(k); got != want {
			t.Errorf("the document request's %s = %q, want %q", k, got, want)
		}
	}
	assertStatusCallbacks(t, dir, hook, sid)
}

// assertStatusCallbacks checks the callbacks of a call that rang, was answered and completed: in order,
// numbered, with Twilio's parameters, each accepted by the library's validateRequest.
func assertStatusCallbacks(t *testing.T, dir string, hook *testkit.Webhook, sid string) {
	t.Helper()
	var got []string
	type check struct {
		URL       string            `json:"url"`
		Params    map[string]string `json:"params"`
		Signature string            `json:"signature"`
	}
	var checks []check
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(hook.Forms("/status")) >= 4 {
			break
		}
	}
	for i, r := range hook.Requests() {
		if r.Path != "/status" {
			continue
		}
		f := r.PostForm
		got = append(got, f.Get("CallStatus"))
		if f.Get("CallSid") != sid || f.Get("SequenceNumber") != fmt.Sprint(len(got)-1) || f.Get("Direction") != "outbound-api" ||
			f.Get("CallbackSource") != "call-progress-events" || f.Get("Timestamp") == "" || f.Get("AccountSid") == "" {
			t.Errorf("status callback %d: %v", i, f)
		}
		if f.Get("CallStatus") == "completed" && (f.Get("CallDuration") == "" || f.Get("CallDuration") == "0") {
			t.Errorf("the completed callback has CallDuration %q", f.Get("CallDuration"))
		}
		params := map[string]string{}
		for k, v := range f {
			params[k] = v[0]
		}
		checks = append(checks, check{r.URL, params, r.Header.Get("X-Twilio-Signature")})
	}
	if strings.Join(got, " ") != "initiated ringing in-progress completed" {
		t.Errorf("status callbacks arrived as %q, want initiated ringing in-progress completed", got)
	}
	in, _ := json.Marshal(map[string]any{"authToken": "e2e-key", "requests": checks})
	var verdicts []bool
	if err := json.Unmarshal(runNode(t, dir, in, "validate.js"), &verdicts); err != nil {
		t.Fatal(err)
	}
	for i, ok := range verdicts {
		if !ok {
			t.Errorf("twilio.validateRequest refused status callback %d (%s)", i, checks[i].Params["CallStatus"])
		}
	}
}

// apiRequest sends one Calls API request with the bare account id as the AccountSid (curl's way) and
// returns the status and the JSON body.
func apiRequest(t *testing.T, p *pivotuaInstance, method, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, p.httpURL+"/2010-04-01/Accounts/"+e2eAccount+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(e2eAccount, "e2e-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestE2ECallsAPIListsAndHangsUpAnInboundCallAndReportsABusyCallee: an inbound call is listed while
// it runs its document (direction inbound, its SIP Call-ID), and Status=completed sent to its SIP
// Call-ID (what its webhook got as CallSid) ends it with BYE in the middle of a 40 s pause. A call
// placed to a busy callee ends busy, with its completed callback carrying CallStatus=busy and 486.
func TestE2ECallsAPIListsAndHangsUpAnInboundCallAndReportsABusyCallee(t *testing.T) {
	needE2E(t)
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice":  {"text/xml", `<Response><Say>Please hold.</Say><Pause length="40"/></Response>`},
		"/status": {"text/plain", ""},
	}))
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Data: sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}, Target: p.sipAddr(), PeerLogs: p.logs})

	var live map[string]any
	for deadline := time.Now().Add(10 * time.Second); live == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, page := apiRequest(t, p, "GET", "/Calls.json?Status=in-progress", nil)
		if status != 200 {
			t.Fatalf("list: %d %v", status, page)
		}
		if calls, _ := page["calls"].([]any); len(calls) == 1 {
			live = calls[0].(map[string]any)
		}
	}
	if live == nil {
		t.Fatalf("the inbound call was never listed in-progress\n%s", p.logs())
	}
	sipCallID, _ := live["sip_call_id"].(string)
	voice := one(t, hook, "/voice")
	if live["direction"] != "inbound" || sipCallID == "" || voice == nil || voice.Get("CallSid") != sipCallID ||
		!callSidPattern.MatchString(fmt.Sprint(live["sid"])) || live["account_sid"] != "AC"+e2eAccount || live["duration"] != nil {
		t.Fatalf("listed %v; the webhook's CallSid %q", live, voice.Get("CallSid"))
	}
	status, ended := apiRequest(t, p, "POST", "/Calls/"+url.PathEscape(sipCallID)+".json", url.Values{"Status": {"completed"}})
	if status != 200 || ended["status"] != "completed" || ended["sid"] != live["sid"] {
		t.Fatalf("Status=completed: %d %v", status, ended)
	}
	if err := caller.Wait(15 * time.Second); err != nil {
		t.Fatalf("the caller did not get BYE: %v", err)
	}

	callee := startUAS(t, "uas_busy.xml", uasData{RTPPort: testkit.FreePort(t), Codec: 0})
	status, created := apiRequest(t, p, "POST", "/Calls.json", url.Values{
		"To": {fmt.Sprintf("sip:bob@127.0.0.1:%d", callee.port)}, "From": {"100"}, "Url": {hook.URL + "/voice"},
		"StatusCallback": {hook.URL + "/status"},
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	sid := fmt.Sprint(created["sid"])
	var got map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, got = apiRequest(t, p, "GET", "/Calls/"+sid+".json", nil); got["status"] == "busy" {
			break
		}
	}
	if got["status"] != "busy" || got["duration"] != "0" || got["direction"] != "outbound-api" {
		t.Errorf("the busy call: %v", got)
	}
	for deadline := time.Now().Add(5 * time.Second); len(hook.Forms("/status")) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if cb := one(t, hook, "/status"); cb == nil || cb.Get("CallStatus") != "busy" || cb.Get("SipResponseCode") != "486" || cb.Get("CallSid") != sid || cb.Get("CallDuration") != "0" {
		t.Errorf("the only callback (completed by default): %v", cb)
	}
	if len(hook.Forms("/voice")) != 1 {
		t.Errorf("the busy call's document was requested")
	}
}

// TestE2ECallsAPIDrainWaitsForPlacedCallsThenHangsThemUp: on SIGTERM a call placed through the API
// counts as live like an inbound one: pivotua refuses new calls.create with 503, waits out
// shutdown_grace, then sends the callee BYE before it exits.
func TestE2ECallsAPIDrainWaitsForPlacedCallsThenHangsThemUp(t *testing.T) {
	needE2E(t)
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	p := startPivotua(t, dialTwiMLFlow("http://127.0.0.1:9/voice"), func(c *Config) { c.ShutdownGrace = "2s" })
	create := url.Values{"To": {fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port)}, "From": {"100"}, "Twiml": {`<Response><Pause length="60"/></Response>`}}
	status, created := apiRequest(t, p, "POST", "/Calls.json", create)
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	sid := fmt.Sprint(created["sid"])
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, got := apiRequest(t, p, "GET", "/Calls/"+sid+".json", nil); got["status"] == "in-progress" {
			break
		}
	}
	sent := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if status, body := apiRequest(t, p, "POST", "/Calls.json", create); status != 503 || body["code"] != float64(20503) {
		t.Errorf("calls.create while draining: %d %v, want 503", status, body)
	}
	if err := uas.wait(t, 15*time.Second); err != nil {
		t.Fatalf("the placed call's callee got no BYE at the end of the drain: %v\n%s", err, p.logs())
	}
	if waited := time.Since(sent); waited < 2*time.Second {
		t.Errorf("the placed call was hung up %v after SIGTERM, before shutdown_grace (2 s) was out", waited)
	}
	if exited, err := p.waitExit(15 * time.Second); !exited || err != nil {
		t.Errorf("pivotua exited %v with %v", exited, err)
	}
}
