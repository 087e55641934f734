package main

// End-to-end tests of call queues: SIPp callers (each with a Go RTP peer sending its own tone, see
// dialPeer) wait in a queue through TwiML <Enqueue> and are taken by an agent's <Dial><Queue>, leave
// by <Leave/>, find the queue full, or are moved on by the Members API.

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// queueHook answers /voice with docs in turn (one per caller, in the order they call), each other
// path of paths with its TwiML, /tone400.wav and /tone900.wav with 1 s of that tone, and /after with
// a Hangup.
func queueHook(t *testing.T, paths map[string]string, docs ...string) *testkit.Webhook {
	t.Helper()
	var next atomic.Int32
	tones := map[string]string{}
	for _, f := range []int{400, 900} {
		var b strings.Builder
		_ = codec.EncodeWAV(&b, testkit.Sine(float64(f), codec.SampleRate, codec.SampleRate, 0.4), codec.SampleRate)
		tones["/tone"+strconv.Itoa(f)+".wav"] = b.String()
	}
	return testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if tone, ok := tones[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "audio/wav")
			io.WriteString(w, tone)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		switch doc, ok := paths[r.URL.Path]; {
		case r.URL.Path == "/voice":
			i := int(next.Add(1)) - 1
			io.WriteString(w, docs[min(i, len(docs)-1)])
		case ok:
			io.WriteString(w, doc)
		case r.URL.Path == "/after":
			io.WriteString(w, "<Response><Hangup/></Response>")
		default:
			http.NotFound(w, r)
		}
	})
}

var queueSidPattern = regexp.MustCompile(`^QU[0-9a-f]{32}$`)

// TestE2EQueueCallerWaitsHearingWaitURLThenAgentBridged: a 700 Hz caller enqueues and hears the
// waitUrl's 400 Hz tone (the wait document gets Twilio's queue parameters); 2.5 s later an agent with
// 500 Hz dials the queue: the caller hears the agent and the agent the caller, neither itself. The
// agent's time limit ends the bridge: its Dial action gets completed and the caller's CallSid; the
// caller's Enqueue action gets QueueResult=bridged, its QueueSid and QueueTime.
func TestE2EQueueCallerWaitsHearingWaitURLThenAgentBridged(t *testing.T) {
	needE2E(t)
	const caller = `<Response><Enqueue action="/after" waitUrl="/wait" waitUrlMethod="GET">support</Enqueue><Say>not reached</Say></Response>`
	const agent = `<Response><Dial action="/agentdone" timeLimit="4"><Queue url="/whisper">support</Queue></Dial></Response>`
	hook := queueHook(t, map[string]string{
		"/wait":      `<Response><Play>/tone400.wav</Play></Response>`,
		"/whisper":   `<Response><Pause length="1"/></Response>`,
		"/agentdone": `<Response><Hangup/></Response>`,
	}, caller, agent)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	c, a := newDialPeer(t, codec.PCMU, 700), newDialPeer(t, codec.PCMA, 500)
	runs := startCallers(t, p, 2500*time.Millisecond, "uac_call.xml", c, a)
	for i, r := range runs {
		if err := r.Wait(25 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\n%s", i, err, sipptest.LastLines(p.logs(), 40))
		}
	}
	ch, ah := c.heard(0), a.heard(8)
	if n := toneFrames(ch, 400, 0.5); n < 80 {
		t.Errorf("the caller heard %d frames of the 400 Hz wait audio in the 2.5 s it waited, want most of 125", n)
	}
	hears(t, "the caller", ch, 120, []float64{500}, []float64{700})
	hears(t, "the agent", ah, 120, []float64{700}, []float64{500, 400})

	waits := hook.Forms("/wait")
	if len(waits) == 0 {
		t.Fatal("the waitUrl was never requested")
	}
	w := waits[0]
	if w.Get("QueuePosition") != "1" || w.Get("CurrentQueueSize") != "1" || w.Get("MaxQueueSize") != "100" ||
		!queueSidPattern.MatchString(w.Get("QueueSid")) || w.Get("QueueTime") == "" || w.Get("AvgQueueTime") == "" {
		t.Errorf("waitUrl parameters: %v", w)
	}
	after := hook.Forms("/after")
	if len(after) != 1 {
		t.Fatalf("the Enqueue action got %d requests, want 1\n%s", len(after), sipptest.LastLines(p.logs(), 40))
	}
	qt, _ := strconv.Atoi(after[0].Get("QueueTime"))
	if after[0].Get("QueueResult") != "bridged" || after[0].Get("QueueSid") != w.Get("QueueSid") || qt < 2 || qt > 5 {
		t.Errorf("Enqueue action: QueueResult=%q QueueSid=%q QueueTime=%q, want bridged, %s, about 3",
			after[0].Get("QueueResult"), after[0].Get("QueueSid"), after[0].Get("QueueTime"), w.Get("QueueSid"))
	}
	whisper := hook.Forms("/whisper")
	done := hook.Forms("/agentdone")
	if len(whisper) != 1 || len(done) != 1 {
		t.Fatalf("whisper %d and agent action %d requests, want 1 each", len(whisper), len(done))
	}
	if whisper[0].Get("CallSid") != after[0].Get("CallSid") || whisper[0].Get("DequeueingCallSid") != done[0].Get("CallSid") {
		t.Errorf("<Queue url> request: CallSid=%q DequeueingCallSid=%q, want the caller's and the agent's", whisper[0].Get("CallSid"), whisper[0].Get("DequeueingCallSid"))
	}
	if done[0].Get("DialCallStatus") != "completed" || done[0].Get("DialCallSid") != after[0].Get("CallSid") {
		t.Errorf("agent's Dial action: DialCallStatus=%q DialCallSid=%q, want completed and the caller's CallSid", done[0].Get("DialCallStatus"), done[0].Get("DialCallSid"))
	}
}

// TestE2EQueueFullLeaveAndMembersDequeue: a caller waits in q2; the Queues API lists q2 and sets its
// MaxSize to 1, so a second caller gets QueueResult=queue-full at once. A third, in q3, hears a wait
// document that says <Leave/>: QueueResult=leave. The Members API then moves the waiting caller
// (Front) onto a new document, which it hears (900 Hz); its action gets QueueResult=redirected.
func TestE2EQueueFullLeaveAndMembersDequeue(t *testing.T) {
	needE2E(t)
	const waiting = `<Response><Enqueue action="/after" waitUrl="/wait">q2</Enqueue></Response>`
	const full = `<Response><Enqueue action="/after" waitUrl="/wait">q2</Enqueue></Response>`
	const leaving = `<Response><Enqueue action="/after" waitUrl="/leave">q3</Enqueue></Response>`
	hook := queueHook(t, map[string]string{
		"/wait":       `<Response><Play>/tone400.wav</Play></Response>`,
		"/leave":      `<Response><Pause length="1"/><Leave/><Say>not reached</Say></Response>`,
		"/redirected": `<Response><Play>/tone900.wav</Play><Hangup/></Response>`,
	}, waiting, full, leaving)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a, b, c := newDialPeer(t, codec.PCMU, 700), newDialPeer(t, codec.PCMU, 800), newDialPeer(t, codec.PCMU, 1100)
	runs := startCallers(t, p, 0, "uac_call.xml", a)
	time.Sleep(2 * time.Second)

	status, body := apiRequest(t, p, "GET", "/Queues.json", nil)
	queues, _ := body["queues"].([]any)
	if status != 200 || len(queues) != 1 {
		t.Fatalf("queues list: %d %v", status, body)
	}
	q := queues[0].(map[string]any)
	sid, _ := q["sid"].(string)
	if !queueSidPattern.MatchString(sid) || q["friendly_name"] != "q2" || q["current_size"] != 1.0 || q["max_size"] != 100.0 {
		t.Fatalf("queue: %v", q)
	}
	if status, body := apiRequest(t, p, "POST", "/Queues/"+sid+".json", url.Values{"MaxSize": {"1"}}); status != 200 || body["max_size"] != 1.0 {
		t.Fatalf("MaxSize: %d %v", status, body)
	}
	if status, _ := apiRequest(t, p, "POST", "/Queues/"+sid+".json", url.Values{"MaxSize": {"100000"}}); status != 400 {
		t.Errorf("MaxSize 100000: %d, want 400", status)
	}
	runs = append(runs, startCallers(t, p, 300*time.Millisecond, "uac_call.xml", b, c)...)
	time.Sleep(2500 * time.Millisecond)

	status, body = apiRequest(t, p, "GET", "/Queues/"+sid+"/Members.json", nil)
	members, _ := body["queue_members"].([]any)
	if status != 200 || len(members) != 1 {
		t.Fatalf("members: %d %v", status, body)
	}
	m := members[0].(map[string]any)
	if m["position"] != 1.0 || m["wait_time"].(float64) < 3 {
		t.Errorf("member: %v", m)
	}
	if status, _ := apiRequest(t, p, "POST", "/Queues/"+sid+"/Members/Front.json", url.Values{"Url": {"/relative"}}); status != 400 {
		t.Errorf("a relative Url: %d, want 400", status)
	}
	status, body = apiRequest(t, p, "POST", "/Queues/"+sid+"/Members/Front.json", url.Values{"Url": {hook.URL + "/redirected"}, "Method": {"GET"}})
	if status != 200 || body["call_sid"] != m["call_sid"] {
		t.Fatalf("dequeue: %d %v", status, body)
	}
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\n%s", i, err, sipptest.LastLines(p.logs(), 40))
		}
	}
	results := map[string]string{}
	for _, f := range hook.Forms("/after") {
		results[f.Get("CallSid")] = f.Get("QueueResult")
	}
	var got []string
	for _, f := range hook.Forms("/voice") {
		got = append(got, results[f.Get("CallSid")])
	}
	if strings.Join(got, " ") != "redirected queue-full leave" {
		t.Errorf("QueueResult of the three callers: %v, want redirected queue-full leave", got)
	}
	if n := toneFrames(a.heard(0), 900, 0.5); n < 30 {
		t.Errorf("the dequeued caller heard %d frames of the new document's 900 Hz, want most of 50", n)
	}
	if n := len(hook.Forms("/redirected")); n != 1 {
		t.Errorf("the Members API's Url got %d requests, want 1", n)
	}
}

// TestE2EQueueHostileWaitURLLoopEmptyAndMissingQueues: an agent that dials a queue never created gets
// DialCallStatus=failed at once. A caller whose waitUrl Redirects to itself forever costs a bounded
// number of fetches, then hears pivotua's default wait audio (the conference's chime). A caller that
// hangs up while queued leaves it (QueueResult=hangup, the queue is empty again). Once the Members API
// moved the looping caller on, an agent dialling the empty queue waits its Dial timeout: no-answer.
func TestE2EQueueHostileWaitURLLoopEmptyAndMissingQueues(t *testing.T) {
	needE2E(t)
	const missing = `<Response><Dial action="/agentdone" timeout="2"><Queue>nosuch</Queue></Dial></Response>`
	const looping = `<Response><Enqueue action="/after" waitUrl="/loop" waitUrlMethod="GET">lq</Enqueue></Response>`
	const hangsUp = `<Response><Enqueue action="/after">hq</Enqueue></Response>`
	const empty = `<Response><Dial action="/agentdone" timeout="2"><Queue>lq</Queue></Dial></Response>`
	hook := queueHook(t, map[string]string{
		"/loop":      `<Response><Redirect method="GET">/loop</Redirect></Response>`,
		"/agentdone": `<Response><Hangup/></Response>`,
	}, missing, looping, hangsUp, empty)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a1, l, h, a3 := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMU, 700), newDialPeer(t, codec.PCMU, 800), newDialPeer(t, codec.PCMU, 900)
	runs := startCallers(t, p, 500*time.Millisecond, "uac_call.xml", a1, l)
	runs = append(runs, startCallers(t, p, 0, "uac_bye_after.xml", h)...) // hangs up after 4 s in its queue
	time.Sleep(8 * time.Second)

	status, body := apiRequest(t, p, "GET", "/Queues.json", nil)
	queues, _ := body["queues"].([]any)
	if status != 200 || len(queues) != 2 {
		t.Fatalf("queues: %d %v", status, body)
	}
	sizes := map[any]any{}
	var lq string
	for _, q := range queues {
		q := q.(map[string]any)
		sizes[q["friendly_name"]] = q["current_size"]
		if q["friendly_name"] == "lq" {
			lq, _ = q["sid"].(string)
		}
	}
	if sizes["lq"] != 1.0 || sizes["hq"] != 0.0 {
		t.Errorf("queue sizes: %v, want lq 1 and hq 0 (its caller hung up)", sizes)
	}
	if status, body := apiRequest(t, p, "POST", "/Queues/"+lq+"/Members/Front.json", url.Values{"Url": {hook.URL + "/after"}}); status != 200 {
		t.Fatalf("dequeue: %d %v", status, body)
	}
	runs = append(runs, startCallers(t, p, 0, "uac_call.xml", a3)...)
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\n%s", i, err, sipptest.LastLines(p.logs(), 40))
		}
	}
	if n := len(hook.Forms("/loop")); n < 2 || n > 7 {
		t.Errorf("the looping waitUrl was fetched %d times in 7 s, want at most 7", n)
	} else {
		t.Logf("the looping waitUrl was fetched %d times in the 7 s its caller waited", n)
	}
	if n := toneFrames(l.heard(0), 440, 0.5); n < 10 {
		t.Errorf("the looping caller heard %d frames of the default wait chime's 440 Hz, want some", n)
	}
	var statuses []string
	for _, f := range hook.Forms("/agentdone") {
		statuses = append(statuses, f.Get("DialCallStatus"))
	}
	if strings.Join(statuses, " ") != "failed no-answer" {
		t.Errorf("agents' DialCallStatus: %v, want failed (no such queue) then no-answer (empty queue)", statuses)
	}
	results := map[string]string{}
	for _, f := range hook.Forms("/after") {
		if f.Get("QueueResult") != "" {
			results[f.Get("CallSid")] = f.Get("QueueResult")
		}
	}
	var got []string
	for _, f := range hook.Forms("/voice")[1:3] {
		got = append(got, results[f.Get("CallSid")])
	}
	if strings.Join(got, " ") != "redirected hangup" {
		t.Errorf("QueueResult of the looping and the hanging-up callers: %v, want redirected hangup", got)
	}
}

// TestE2EQueueAgentHangsUpDuringQueueURLDocument: the agent hangs up while the dequeued caller still
// hears the <Queue url> document: no bridge is made, and the caller's Enqueue action gets
// QueueResult=bridging-in-process once that document ends.
func TestE2EQueueAgentHangsUpDuringQueueURLDocument(t *testing.T) {
	needE2E(t)
	const caller = `<Response><Enqueue action="/after">support</Enqueue></Response>`
	const agent = `<Response><Dial action="/agentdone"><Queue url="/whisper">support</Queue></Dial></Response>`
	hook := queueHook(t, map[string]string{
		"/whisper":   `<Response><Pause length="6"/></Response>`,
		"/agentdone": `<Response><Hangup/></Response>`,
	}, caller, agent)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	c, a := newDialPeer(t, codec.PCMU, 700), newDialPeer(t, codec.PCMU, 500)
	runs := startCallers(t, p, 0, "uac_call.xml", c)
	time.Sleep(time.Second)
	runs = append(runs, startCallers(t, p, 0, "uac_bye_after.xml", a)...) // hangs up 4 s after the answer
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v\n%s", i, err, sipptest.LastLines(p.logs(), 40))
		}
	}
	after := hook.Forms("/after")
	if len(after) != 1 || after[0].Get("QueueResult") != "bridging-in-process" {
		t.Fatalf("Enqueue action: %v, want one with QueueResult=bridging-in-process", after)
	}
	hears(t, "the caller", c.heard(0), 0, nil, []float64{500})
	if done := hook.Forms("/agentdone"); len(done) != 1 || done[0].Get("DialCallStatus") != "canceled" {
		t.Errorf("agent's Dial action: %v, want DialCallStatus=canceled", done)
	}
	var agentDone, callerDone time.Time
	for _, r := range hook.Requests() {
		switch r.Path {
		case "/agentdone":
			agentDone = r.At
		case "/after":
			callerDone = r.At
		}
	}
	// The agent's Dial ends when it hangs up, not when the caller's 6 s document does.
	if early := callerDone.Sub(agentDone); early < time.Second {
		t.Errorf("the agent's action came %v before the caller's, want it at its hangup, about 2 s before", early)
	} else {
		t.Logf("the agent's action came %v before the caller's", early)
	}
}
