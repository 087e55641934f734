package flow_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

// TestRecordStatusCallbackEvents: <Record recordingStatusCallback> posts in-progress when the recording
// begins and completed (with the RecordingUrl the action gets) once it is stored, or absent for a
// recording with no speech; each signed, with Twilio's parameters. A first 503 is retried.
func TestRecordStatusCallbackEvents(t *testing.T) {
	for _, tt := range []struct {
		name   string
		voice  []int16
		events []string
	}{
		{"speech is completed", flow.Speech(1500 * time.Millisecond), []string{"in-progress", "completed"}},
		{"silence is absent", []int16{}, []string{"in-progress", "absent"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var served, rejected atomic.Int32
			app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/rec" {
					if rejected.Add(1) == 1 {
						w.WriteHeader(http.StatusServiceUnavailable) // the app restarting: tried again
					}
					return
				}
				w.Header().Set("Content-Type", "text/xml")
				if served.Add(1) == 1 {
					io.WriteString(w, `<Response><Record timeout="1" playBeep="false" recordingStatusCallback="/rec" recordingStatusCallbackEvent="in-progress completed absent"/></Response>`)
					return
				}
				io.WriteString(w, `<Response><Hangup/></Response>`)
			})
			ch := flowtest.NewChannel()
			ch.Voice = tt.voice
			deps := flowtest.Deps(t, nil)
			deps.Recordings = t.TempDir()
			deps.RecordingLinks = &fakeLinks{}
			c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
			flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml"`, false)))
			var cbs []testkit.Request
			testkit.WaitFor(t, 10*time.Second, "the recording callbacks", func() bool {
				cbs = nil
				for _, r := range app.Requests() {
					if r.Path == "/rec" {
						cbs = append(cbs, r)
					}
				}
				return len(cbs) == len(tt.events)+1
			})
			var statuses []string
			for _, r := range cbs[1:] {
				statuses = append(statuses, r.Form.Get("RecordingStatus"))
				if !httpfetch.ValidateTwilioSignature(flowtest.SigningKey, r.URL, r.PostForm, r.Header.Get(httpfetch.HeaderTwilioSignature)) {
					t.Errorf("%s: X-Twilio-Signature does not validate", r.Form.Get("RecordingStatus"))
				}
				f := r.Form
				if !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(f.Get("RecordingSid")) || f.Get("RecordingSid") != cbs[1].Form.Get("RecordingSid") ||
					f.Get("AccountSid") != flowtest.AccountID || f.Get("CallSid") == "" || f.Get("RecordingSource") != "RecordVerb" ||
					f.Get("RecordingChannels") != "1" || f.Get("ErrorCode") != "0" || f.Get("RecordingStartTime") == "" {
					t.Errorf("callback parameters %v", f)
				}
			}
			if !slices.Equal(statuses, tt.events) {
				t.Errorf("RecordingStatus %q, want %q", statuses, tt.events)
			}
			last := cbs[len(cbs)-1].Form
			action := app.Requests()
			if tt.events[1] == "completed" {
				var actionURL string
				for _, r := range action {
					if r.Path == "/ivr" && r.Form.Get("RecordingUrl") != "" {
						actionURL = r.Form.Get("RecordingUrl")
					}
				}
				if last.Get("RecordingUrl") == "" || last.Get("RecordingUrl") != actionURL || last.Get("RecordingDuration") != "2" {
					t.Errorf("completed: RecordingUrl %q (the action got %q), RecordingDuration %q", last.Get("RecordingUrl"), actionURL, last.Get("RecordingDuration"))
				}
			}
		})
	}
}
