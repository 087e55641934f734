package flow_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// fakeLinks serves recordings at a made-up URL and remembers which files it linked.
type fakeLinks struct{ files []string }

func (l *fakeLinks) RecordingURL(accountID, file string) string {
	l.files = append(l.files, file)
	return "http://recordings.test/" + accountID + "/" + file
}

func TestRecordEndsAndReportsLikeTwilio(t *testing.T) {
	tests := []struct {
		name    string
		record  string
		voice   []int16 // nil: the caller speaks throughout
		keys    string  // pressed 1.2 s into the call
		hangup  bool    // the caller hangs up 1.2 s into the call
		events  []string
		action  bool   // an action request is expected
		digits  string // its Digits ("" = none)
		seconds []int  // acceptable RecordingDuration values
		status  string
	}{
		{"silence ends it; trimmed; beep; document URL", `<Record timeout="1"/>`, flow.Speech(1500 * time.Millisecond), "", false,
			[]string{"answer", "play", "record", "hangup"}, true, "", []int{2}, "in-progress"},
		{"do-not-trim keeps the silence", `<Record timeout="1" trim="do-not-trim" playBeep="false"/>`, flow.Speech(1500 * time.Millisecond), "", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{2, 3}, "in-progress"},
		{"finishOnKey default: any key, reported as Digits", `<Record playBeep="false" action="/done"/>`, nil, "7", false,
			[]string{"answer", "record", "hangup"}, true, "7", []int{1}, "in-progress"},
		{"keys outside finishOnKey are ignored", `<Record playBeep="false" finishOnKey="*" maxLength="2" action="/done"/>`, nil, "1#", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{2}, "in-progress"},
		{"maxLength", `<Record playBeep="false" maxLength="1" timeout="0" action="/done" method="GET"/>`, nil, "", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{1}, "in-progress"},
		{"silence only is empty: next verb, no request", `<Record playBeep="false" timeout="1"/><Say>bye</Say>`, []int16{}, "", false,
			[]string{"answer", "record", "play", "hangup"}, false, "", nil, ""},
		{"under a second is empty", `<Record playBeep="false" timeout="1" trim="trim-silence"/><Say>bye</Say>`, flow.Speech(300 * time.Millisecond), "", false,
			[]string{"answer", "record", "play", "hangup"}, false, "", nil, ""},
		{"hangup: action requested, its document not run", `<Record playBeep="false" action="/done"/><Say>never</Say>`, nil, "", true,
			[]string{"answer", "record"}, true, "hangup", []int{1}, "completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int32
			app := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/xml")
				if served.Add(1) == 1 {
					io.WriteString(w, `<Response>`+tt.record+`</Response>`)
					return
				}
				io.WriteString(w, `<Response><Hangup/></Response>`)
			})
			ch := flowtest.NewChannel()
			ch.Voice = tt.voice
			ch.PlayTime = 100 * time.Millisecond
			deps := flowtest.Deps(t, nil)
			deps.Recordings = t.TempDir()
			links := &fakeLinks{}
			deps.RecordingLinks = links
			c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
			if tt.keys != "" {
				time.AfterFunc(1200*time.Millisecond, func() { ch.Press(tt.keys) })
			}
			if tt.hangup {
				time.AfterFunc(1200*time.Millisecond, ch.RemoteHangup)
			}
			flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
			events := ch.Kinds()
			flowtest.EqualEvents(t, events, tt.events)
			reqs := app.Requests()
			if !tt.action {
				if len(reqs) != 1 {
					t.Fatalf("requests = %+v", reqs)
				}
				files, _ := os.ReadDir(filepath.Join(deps.Recordings, flowtest.AccountID))
				if len(files) != 0 {
					t.Errorf("an empty recording was kept: %v", files)
				}
				return
			}
			if len(reqs) != 2 {
				t.Fatalf("requests = %+v", reqs)
			}
			got := reqs[1]
			wantMethod := "POST"
			if strings.Contains(tt.record, `method="GET"`) {
				wantMethod = "GET"
			}
			wantPath := "/ivr"
			if strings.Contains(tt.record, `action="/done"`) {
				wantPath = "/done"
			}
			if got.Method != wantMethod || got.Path != wantPath {
				t.Errorf("action %s %s, want %s %s", got.Method, got.Path, wantMethod, wantPath)
			}
			if got.Form.Get("Digits") != tt.digits || (tt.digits == "" && got.Form.Has("Digits")) || got.Form.Get("CallStatus") != tt.status {
				t.Errorf("Digits %q CallStatus %q, want %q %q", got.Form.Get("Digits"), got.Form.Get("CallStatus"), tt.digits, tt.status)
			}
			seconds, _ := strconv.Atoi(got.Form.Get("RecordingDuration"))
			if !containsInt(tt.seconds, seconds) {
				t.Errorf("RecordingDuration = %q, want one of %v", got.Form.Get("RecordingDuration"), tt.seconds)
			}
			if len(links.files) != 1 || got.Form.Get("RecordingUrl") != "http://recordings.test/"+flowtest.AccountID+"/"+links.files[0] {
				t.Fatalf("RecordingUrl = %q, linked %v", got.Form.Get("RecordingUrl"), links.files)
			}
			wav, err := os.ReadFile(filepath.Join(deps.Recordings, flowtest.AccountID, links.files[0]))
			if err != nil {
				t.Fatal(err)
			}
			pcm, _, err := codec.DecodeWAV(wav)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Duration(len(pcm)) * time.Second / codec.SampleRate; (d+500*time.Millisecond)/time.Second != time.Duration(seconds) {
				t.Errorf("the file lasts %v, RecordingDuration says %d", d, seconds)
			}
		})
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestRecordUploadsToRecordingURLAndReportsIt(t *testing.T) {
	target := newUploadTarget(t)
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr":  {"text/xml", `<Response><Record playBeep="false" recordingUrl="` + target.URL + `/msgs/" action="/done"/></Response>`},
		"/done": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	deps := recordingDeps(t)
	deps.RecordingLinks = &fakeLinks{}
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	time.AfterFunc(1200*time.Millisecond, func() { ch.Press("#") })
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
	select {
	case <-target.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the recording never arrived")
	}
	target.mu.Lock()
	body, method := target.got["/msgs/call-1@pivotua.test.wav"], target.method
	target.mu.Unlock()
	if method != "PUT" || len(body) < 8000 {
		t.Errorf("upload %s of %d bytes", method, len(body))
	}
	reqs := app.Requests()
	if len(reqs) != 2 || reqs[1].Form.Get("RecordingUrl") != target.URL+"/msgs/call-1@pivotua.test.wav" || reqs[1].Form.Get("Digits") != "#" {
		t.Fatalf("requests %+v", reqs)
	}
	if files, _ := os.ReadDir(filepath.Join(deps.Recordings, flowtest.AccountID)); len(files) != 1 {
		t.Errorf("local copies %v, want the one file", files)
	}
}

// countingObserver counts the recordings an Observer hears of.
type countingObserver struct{ saved, failed atomic.Int32 }

func (o *countingObserver) CallEnded(string)                   {}
func (o *countingObserver) CallPlaced(string)                  {}
func (o *countingObserver) PivotRequest(string, time.Duration) {}
func (o *countingObserver) DTMF(string)                        {}
func (o *countingObserver) RecordingSaved()                    { o.saved.Add(1) }
func (o *countingObserver) RecordingFailed()                   { o.failed.Add(1) }

// A recording whose file could not be written (the disk full, the WAV size cap) is removed, not
// left half-written, and counted as failed; the call goes on without an action request.
func TestRecordThatFailsToWriteIsRemovedAndCounted(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<Response><Record playBeep="false" maxLength="1" action="/done"/><Say>bye</Say></Response>`)
	})
	ch := flowtest.NewChannel()
	ch.RecordErr = errors.New("disk full")
	ch.PlayTime = 50 * time.Millisecond
	deps := flowtest.Deps(t, nil)
	deps.Recordings = t.TempDir()
	obs := &countingObserver{}
	deps.Observer = obs
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "record", "play", "hangup"})
	if reqs := app.Requests(); len(reqs) != 1 {
		t.Errorf("requests %+v, want no action request", reqs)
	}
	files, err := os.ReadDir(filepath.Join(deps.Recordings, flowtest.AccountID))
	if err != nil || len(files) != 0 {
		t.Errorf("recordings folder holds %v (%v), want the failed file removed", files, err)
	}
	if obs.failed.Load() != 1 || obs.saved.Load() != 0 {
		t.Errorf("observer: %d failed, %d saved; want 1 failed", obs.failed.Load(), obs.saved.Load())
	}
}
