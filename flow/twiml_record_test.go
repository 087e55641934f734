package flow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestRecordParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Record action="/done"/>`))
	if err != nil {
		t.Fatal(err)
	}
	r := parseRecordVerb(p, root, "Response/Record[1]").(*recordVerb)
	if len(p.errs) > 0 || r.action != "/done" || r.method != "POST" || r.timeout != 5*time.Second || r.finishOnKey != "1234567890*#" ||
		r.maxLength != time.Hour || !r.playBeep || r.trim != "trim-silence" || r.recordingURL != "" {
		t.Errorf("record = %+v, errors %v", r, p.errs)
	}
}

// fakeLinks serves recordings at a made-up URL and remembers which files it linked.
type fakeLinks struct{ files []string }

func (l *fakeLinks) RecordingURL(accountID, file string) string {
	l.files = append(l.files, file)
	return "http://recordings.test/" + accountID + "/" + file
}

// speech is d of a 300 Hz tone loud enough to count as the caller speaking.
func speech(d time.Duration) []int16 { return codec.Tone(300, d, 0.3) }

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
		{"silence ends it; trimmed; beep; document URL", `<Record timeout="1"/>`, speech(1500 * time.Millisecond), "", false,
			[]string{"answer", "play", "record", "hangup"}, true, "", []int{2}, "in-progress"},
		{"do-not-trim keeps the silence", `<Record timeout="1" trim="do-not-trim" playBeep="false"/>`, speech(1500 * time.Millisecond), "", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{2, 3}, "in-progress"},
		{"finishOnKey default: any key, reported as Digits", `<Record playBeep="false" action="/done"/>`, nil, "7", false,
			[]string{"answer", "record", "hangup"}, true, "7", []int{1}, "in-progress"},
		{"keys outside finishOnKey are ignored", `<Record playBeep="false" finishOnKey="*" maxLength="2" action="/done"/>`, nil, "1#", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{2}, "in-progress"},
		{"maxLength", `<Record playBeep="false" maxLength="1" timeout="0" action="/done" method="GET"/>`, nil, "", false,
			[]string{"answer", "record", "hangup"}, true, "", []int{1}, "in-progress"},
		{"silence only is empty: next verb, no request", `<Record playBeep="false" timeout="1"/><Say>bye</Say>`, []int16{}, "", false,
			[]string{"answer", "record", "play", "hangup"}, false, "", nil, ""},
		{"under a second is empty", `<Record playBeep="false" timeout="1" trim="trim-silence"/><Say>bye</Say>`, speech(300 * time.Millisecond), "", false,
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
			ch := newFakeChannel()
			ch.voice = tt.voice
			ch.playTime = 100 * time.Millisecond
			c := newTestCall(t, ch, nil)
			c.deps.Recordings = t.TempDir()
			links := &fakeLinks{}
			c.deps.RecordingLinks = links
			if tt.keys != "" {
				time.AfterFunc(1200*time.Millisecond, func() { ch.press(tt.keys) })
			}
			if tt.hangup {
				time.AfterFunc(1200*time.Millisecond, ch.remoteHangup)
			}
			runFlow(t, c, mustNode(t, pivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
			events := ch.Kinds()
			equalEvents(t, events, tt.events)
			reqs := app.Requests()
			if !tt.action {
				if len(reqs) != 1 {
					t.Fatalf("requests = %+v", reqs)
				}
				files, _ := os.ReadDir(filepath.Join(c.deps.Recordings, testAccountID))
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
			if len(links.files) != 1 || got.Form.Get("RecordingUrl") != "http://recordings.test/"+testAccountID+"/"+links.files[0] {
				t.Fatalf("RecordingUrl = %q, linked %v", got.Form.Get("RecordingUrl"), links.files)
			}
			wav, err := os.ReadFile(filepath.Join(c.deps.Recordings, testAccountID, links.files[0]))
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
	ch := newFakeChannel()
	c := newRecordingCall(t, ch)
	c.deps.RecordingLinks = &fakeLinks{}
	time.AfterFunc(1200*time.Millisecond, func() { ch.press("#") })
	runFlow(t, c, mustNode(t, pivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
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
	if files, _ := os.ReadDir(filepath.Join(c.deps.Recordings, testAccountID)); len(files) != 1 {
		t.Errorf("local copies %v, want the one file", files)
	}
}

func TestLevelMeterFindsSpeechAndSilence(t *testing.T) {
	const frame = codec.FrameSamples
	tests := []struct {
		name       string
		pcm        []int16
		limit      time.Duration
		wantSpan   speechSpan
		wantSilent bool
	}{
		{"silence closes at the limit", make([]int16, 8000), time.Second, speechSpan{}, true},
		{"not before it", make([]int16, 7999), time.Second, speechSpan{}, false},
		{"speech in the middle", append(append(make([]int16, 10*frame), speech(200*time.Millisecond)...), make([]int16, 5*frame)...),
			0, speechSpan{from: 10 * frame, to: 20 * frame}, false},
		{"silence after speech", append(speech(100*time.Millisecond), make([]int16, 4000)...), 500 * time.Millisecond,
			speechSpan{from: 0, to: 5 * frame}, true},
		{"quiet noise is not speech", codec.Tone(300, time.Second, 0.005), 0, speechSpan{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := newLevelMeter(&out, tt.limit)
			raw := make([]byte, 2*len(tt.pcm))
			for i, v := range tt.pcm {
				binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
			}
			for len(raw) > 0 { // odd-sized writes split samples
				n := min(len(raw), 333)
				m.Write(raw[:n])
				raw = raw[n:]
			}
			if out.Len() != 2*len(tt.pcm) {
				t.Errorf("passed on %d bytes", out.Len())
			}
			if got := m.span(); got != tt.wantSpan {
				t.Errorf("span %+v, want %+v", got, tt.wantSpan)
			}
			select {
			case <-m.silent:
				if !tt.wantSilent {
					t.Error("silent closed")
				}
			default:
				if tt.wantSilent {
					t.Error("silent not closed")
				}
			}
		})
	}
}

func TestTrimSilenceKeepsTheSpeechAndAMargin(t *testing.T) {
	dir := t.TempDir()
	pcm := append(append(make([]int16, 8000), speech(time.Second)...), make([]int16, 16000)...)
	w, err := codec.CreateWAV(filepath.Join(dir, "r.wav"), codec.SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	m := newLevelMeter(w, 0)
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	m.Write(raw)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &callerRecording{dir: dir, base: "r", samples: int64(len(pcm)), speech: m.span()}
	if err := rec.trimSilence(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(rec.path())
	got, _, err := codec.DecodeWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := 8000 + 2*1600; len(got) != want || rec.samples != int64(want) || rec.seconds() != 1 {
		t.Errorf("trimmed to %d samples (%d recorded), want %d", len(got), rec.samples, want)
	}
	if !slices.Equal(got[1600:1700], pcm[8000:8100]) {
		t.Error("the speech moved or changed")
	}
	if _, err := os.Stat(rec.path() + ".trim"); !os.IsNotExist(err) {
		t.Error("the temporary file is left behind")
	}
}

// countingObserver counts the recordings an Observer hears of.
type countingObserver struct{ saved, failed atomic.Int32 }

func (o *countingObserver) CallEnded(string)                   {}
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
	ch := newFakeChannel()
	ch.recErr = errors.New("disk full")
	ch.playTime = 50 * time.Millisecond
	c := newTestCall(t, ch, nil)
	c.deps.Recordings = t.TempDir()
	obs := &countingObserver{}
	c.deps.Observer = obs
	runFlow(t, c, mustNode(t, pivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
	equalEvents(t, ch.Kinds(), []string{"answer", "record", "play", "hangup"})
	if reqs := app.Requests(); len(reqs) != 1 {
		t.Errorf("requests %+v, want no action request", reqs)
	}
	files, err := os.ReadDir(filepath.Join(c.deps.Recordings, testAccountID))
	if err != nil || len(files) != 0 {
		t.Errorf("recordings folder holds %v (%v), want the failed file removed", files, err)
	}
	if obs.failed.Load() != 1 || obs.saved.Load() != 0 {
		t.Errorf("observer: %d failed, %d saved; want 1 failed", obs.failed.Load(), obs.saved.Load())
	}
}
