package flow_test

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// eventLog collects a call's events; Run calls Events on the test's goroutine.
type eventLog []flow.Event

func (l *eventLog) add(e flow.Event) { *l = append(*l, e) }

// story is "name" or "name:detail" per event, the detail being the verb's or module's name.
func (l eventLog) story() []string {
	var out []string
	for _, e := range l {
		s := e.Name
		if name, ok := e.Data["name"].(string); ok {
			s += ":" + name
		}
		out = append(out, s)
	}
	return out
}

func (l eventLog) find(t *testing.T, name string) flow.Event {
	t.Helper()
	for _, e := range l {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no %s event in %q", name, l.story())
	return flow.Event{}
}

// pressDuringPlay presses keys once the nth prompt has started playing (speech may take a while to
// render, and keys during other verbs are not collected).
func pressDuringPlay(ch *flowtest.Channel, n int, keys string) {
	for {
		plays := 0
		for _, k := range ch.Kinds() {
			if k == "play" {
				plays++
			}
		}
		if plays >= n {
			ch.Press(keys)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventDeps send a call's events to log, with recordings and links set up.
func eventDeps(t *testing.T, log *eventLog) flow.Deps {
	deps := flowtest.Deps(t, func(flow.Exchange) {})
	deps.Events = log.add
	deps.Recordings = t.TempDir()
	deps.RecordingLinks = &fakeLinks{}
	return deps
}

// eventCall is a call on ch with eventDeps.
func eventCall(t *testing.T, ch *flowtest.Channel, log *eventLog) *flow.Call {
	deps := eventDeps(t, log)
	return flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
}

func TestEventsTellATwiMLCallsStory(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr":      {"text/xml", `<Response><Say voice="alice">Hello &lt;there&gt;</Say><Gather numDigits="2" action="/gathered"><Say>Enter two digits</Say></Gather></Response>`},
		"/gathered": {"text/xml", `<Response><Record playBeep="false" maxLength="1" timeout="0" action="/recorded"/></Response>`},
		"/recorded": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	ch.PlayTime = 200 * time.Millisecond
	var log eventLog
	c := eventCall(t, ch, &log)
	go pressDuringPlay(ch, 2, "42") // the Gather's prompt
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml","debug":true`, false)))

	want := []string{"verb:Say", "answered", "verb:Gather", "digits", "verb:Record", "recording", "verb:Hangup", "hangup"}
	if got := log.story(); !reflect.DeepEqual(got, want) {
		t.Fatalf("story %q, want %q", got, want)
	}
	for i, it := range []int{1, 1, 1, 1, 2, 2, 3, 3} {
		if e := log[i]; e.Iteration != it || e.CallID != "call-1@pivotua.test" || e.AccountID != flowtest.AccountID || e.At.IsZero() {
			t.Errorf("event %d %s: iteration %d call %q account %q at %v; want iteration %d", i, e.Name, e.Iteration, e.CallID, e.AccountID, e.At, it)
		}
	}
	say := log[0].Data
	if say["text"] != "Hello <there>" || !reflect.DeepEqual(say["attrs"], map[string]string{"voice": "alice"}) {
		t.Errorf("Say event %v", say)
	}
	gather := log[2].Data
	if nested, _ := gather["nested"].([]map[string]any); len(nested) != 1 || nested[0]["name"] != "Say" || nested[0]["text"] != "Enter two digits" {
		t.Errorf("Gather event %v", gather)
	}
	if d := log.find(t, flow.EventDigits).Data; d["digits"] != "42" || d["verb"] != "Gather" {
		t.Errorf("digits event %v", d)
	}
	rec := log.find(t, flow.EventRecording).Data
	url, _ := rec["url"].(string)
	if !strings.HasPrefix(url, "http://recordings.test/"+flowtest.AccountID+"/") || rec["playable_url"] != url || rec["duration"] != 1 || rec["ended_by"] != "limit" {
		t.Errorf("recording event %v", rec)
	}
	if h := log.find(t, flow.EventHangup).Data; !reflect.DeepEqual(h, map[string]any{"by": "pivotua", "sip": "BYE"}) {
		t.Errorf("hangup event %v", h)
	}
}

func TestEventsOfKazooModulesCarryTheirData(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"application/json", `{"module":"tts","data":{"text":"Hi"},"children":{"_":{"module":"collect_dtmf","data":{"max_digits":1,"collection_name":"pin"}}}}`},
	}))
	ch := flowtest.NewChannel()
	ch.PlayTime = 50 * time.Millisecond
	var log eventLog
	c := eventCall(t, ch, &log)
	go pressDuringPlay(ch, 1, "7")
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"debug":true`, false)))
	want := []string{"verb:tts", "answered", "verb:collect_dtmf", "digits", "hangup"}
	if got := log.story(); !reflect.DeepEqual(got, want) {
		t.Fatalf("story %q, want %q", got, want)
	}
	if data := fmt.Sprintf("%s", log[0].Data["data"]); data != `{"text":"Hi"}` {
		t.Errorf("tts data %s", data)
	}
	if d := log[3].Data; d["digits"] != "7" || d["collection"] != "pin" {
		t.Errorf("digits event %v", d)
	}
}

func TestEventsFollowTheDebugFlagButAFailureKeepsTheHangup(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<Response><Say>hi</Say></Response>`)
	})
	for _, tc := range []struct {
		name, path string
		fallback   bool
		want       []string
		hangup     map[string]any
	}{
		{"debug off, success: nothing", "/ok", false, nil, nil},
		{"debug off, failure: the hangup", "/down", true, []string{"hangup"},
			map[string]any{"by": "pivotua", "sip": "response", "code": 480, "reason": "Fallback"}},
		{"debug off, failure without fallback", "/down", false, []string{"hangup"},
			map[string]any{"by": "pivotua", "sip": "response", "code": 503, "reason": "Service Unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := flowtest.NewChannel()
			var log eventLog
			flowtest.Run(t, eventCall(t, ch, &log), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+tc.path, "", tc.fallback)))
			if got := log.story(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("story %q, want %q", got, tc.want)
			}
			if tc.hangup != nil && !reflect.DeepEqual(log[0].Data, tc.hangup) {
				t.Errorf("hangup %v, want %v", log[0].Data, tc.hangup)
			}
		})
	}
}

func TestHangupEventNamesWhoEndedTheCall(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		remote    time.Duration // the caller hangs up this long into the call; 0 = never
		want      map[string]any
	}{
		{"the caller's BYE", `<Say>one two three four five six seven eight</Say>`, 300 * time.Millisecond,
			map[string]any{"by": "caller", "sip": "BYE"}},
		{"the caller's CANCEL", `<Pause length="3"/><Say>late</Say>`, 300 * time.Millisecond,
			map[string]any{"by": "caller", "sip": "CANCEL"}},
		{"our Reject", `<Reject reason="busy"/>`, 0,
			map[string]any{"by": "pivotua", "sip": "response", "code": 486, "reason": "Busy Here"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response>` + tc.doc + `</Response>`}}))
			ch := flowtest.NewChannel()
			ch.PlayTime = 2 * time.Second
			if tc.remote > 0 {
				time.AfterFunc(tc.remote, ch.RemoteHangup)
			}
			var log eventLog
			flowtest.Run(t, eventCall(t, ch, &log), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml","debug":true`, false)))
			if h := log.find(t, flow.EventHangup); !reflect.DeepEqual(h.Data, tc.want) {
				t.Errorf("hangup %v, want %v", h.Data, tc.want)
			}
			if last := log[len(log)-1]; last.Name != flow.EventHangup {
				t.Errorf("the hangup is not the last event: %q", log.story())
			}
		})
	}
}
